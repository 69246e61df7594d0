//! Invalid inputs: each case must fail with exactly these diagnostics
//! (`file:line:column: error: message`, in source order).

use capbinder_idl::Session;

/// Checks `files` (the first ones are inputs; a path starting with `@` is a
/// file that is only found through the include root `aidl`) and returns the
/// one-line summaries of the diagnostics.
fn run(files: &[(&str, &str)]) -> Vec<String> {
    let mut s = Session::new();
    s.add_include_dir("aidl");
    for (path, text) in files {
        match path.strip_prefix('@') {
            Some(p) => s.add_virtual_file(p, *text),
            None => s.add_source(*path, *text),
        };
    }
    match s.check() {
        Ok(_) => vec!["OK".into()],
        Err(d) => d.summary(),
    }
}

fn case(files: &[(&str, &str)], expected: &[&str]) {
    let got = run(files);
    assert_eq!(got, expected, "\nfirst file:\n{}", files[0].1);
}

#[test]
fn missing_semicolon() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    void f()\n}\n",
        )],
        &["aidl/p/I.aidl:4:1: error: expected `;`, found `}`"],
    );
}

#[test]
fn unrecognized_char() {
    case(
        &[("aidl/p/I.aidl", "package p;\ninterface I { void f(); } #\n")],
        &["aidl/p/I.aidl:2:27: error: unrecognized character `#`"],
    );
}

#[test]
fn ternary() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    const int X = 1 ? 2 : 3;\n}\n",
        )],
        &["aidl/p/I.aidl:3:21: error: the conditional operator `?:` is not part of AIDL"],
    );
}

#[test]
fn unterminated_comment() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {}\n/* never closed\n",
        )],
        &["aidl/p/I.aidl:3:1: error: unterminated block comment"],
    );
}

#[test]
fn empty_enum() {
    case(
        &[("aidl/p/E.aidl", "package p;\nenum E {}\n")],
        &["aidl/p/E.aidl:2:8: error: an enum must have at least one enumerator"],
    );
}

#[test]
fn multi_dim_dynamic() {
    case(
        &[(
            "aidl/p/P.aidl",
            "package p;\nparcelable P {\n    int[][] grid;\n}\n",
        )],
        &["aidl/p/P.aidl:3:10: error: multi-dimensional arrays must be fixed size"],
    );
}

#[test]
fn annotated_type_arg() {
    case(
        &[(
            "aidl/p/P.aidl",
            "package p;\nparcelable P {\n    List<@nullable String> names;\n}\n",
        )],
        &["aidl/p/P.aidl:3:10: error: annotations on type arguments are not supported"],
    );
}

#[test]
fn direction_after_annotation() {
    case(
        &[
            ("aidl/p/I.aidl", "package p;\ninterface I {\n    void f(@nullable in String s);\n}\n"),
        ],
        &[
            "aidl/p/I.aidl:3:22: error: the direction `in` must come before the parameter's annotations",
        ],
    );
}

#[test]
fn qualified_decl_name() {
    case(
        &[("aidl/p/I.aidl", "package p;\ninterface q.I {}\n")],
        &["aidl/p/I.aidl:2:11: error: type name can't be qualified; use `package`"],
    );
}

#[test]
fn method_in_parcelable() {
    case(
        &[
            ("aidl/p/P.aidl", "package p;\nparcelable P {\n    void f();\n}\n"),
        ],
        &[
            "aidl/p/P.aidl:3:10: error: methods are only allowed in interfaces, not in a parcelable",
        ],
    );
}

#[test]
fn field_in_interface() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    int x;\n}\n",
        )],
        &["aidl/p/I.aidl:3:9: error: interfaces can't have fields"],
    );
}

#[test]
fn bad_int_literals() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    const int A = 1__0;\n    const byte B = 256u8;\n}\n",
        )],
        &[
            "aidl/p/I.aidl:3:19: error: could not parse integer literal `1__0`",
            "aidl/p/I.aidl:4:20: error: could not parse integer literal `256u8`",
        ],
    );
}

#[test]
fn bad_method_id() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    void f() = 1L;\n}\n",
        )],
        &["aidl/p/I.aidl:3:16: error: could not parse method id `1L` as an `int`"],
    );
}

#[test]
fn backslash_in_string() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    const String S = \"a\\\\b\";\n}\n",
        )],
        &["aidl/p/I.aidl:3:24: error: invalid character `\\\\` at index 1 in string constant"],
    );
}

#[test]
fn package_mismatch() {
    case(
        &[("aidl/p/I.aidl", "package q;\ninterface I {}\n")],
        &["aidl/p/I.aidl:2:11: error: `I` should be declared in a file called `q/I.aidl`"],
    );
}

#[test]
fn redefinition() {
    case(
        &[
            ("aidl/p/A.aidl", "package p;\nparcelable A {}\n"),
            ("other/p/A.aidl", "package p;\nparcelable A {}\n"),
        ],
        &["other/p/A.aidl:2:12: error: redefinition of `p.A`"],
    );
}

#[test]
fn two_types_in_file() {
    case(
        &[(
            "aidl/p/A.aidl",
            "package p;\nparcelable A {}\nparcelable B {}\n",
        )],
        &["aidl/p/A.aidl:3:12: error: you must declare only one type per file"],
    );
}

#[test]
fn unknown_type() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    Foo get();\n}\n",
        )],
        &["aidl/p/I.aidl:3:5: error: unknown type `Foo`"],
    );
}

#[test]
fn same_package_needs_import() {
    case(
        &[
            (
                "aidl/p/I.aidl",
                "package p;\ninterface I {\n    Foo get();\n}\n",
            ),
            ("@aidl/p/Foo.aidl", "package p;\nparcelable Foo {}\n"),
        ],
        &["aidl/p/I.aidl:3:5: error: unknown type `Foo`"],
    );
}

#[test]
fn missing_import() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\nimport q.Missing;\ninterface I {}\n",
        )],
        &["aidl/p/I.aidl:2:8: error: couldn't find import for class `q.Missing`"],
    );
}

#[test]
fn duplicate_method() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    void f();\n    int f(int x);\n}\n",
        )],
        &["aidl/p/I.aidl:4:9: error: method `f` is defined more than once"],
    );
}

#[test]
fn duplicate_field() {
    case(
        &[(
            "aidl/p/P.aidl",
            "package p;\nparcelable P {\n    int x;\n    String x;\n}\n",
        )],
        &["aidl/p/P.aidl:4:12: error: `P` has duplicate field name `x`"],
    );
}

#[test]
fn duplicate_constant() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    const int X = 1;\n    const int X = 2;\n}\n",
        )],
        &["aidl/p/I.aidl:4:15: error: duplicate constant name `X`"],
    );
}

#[test]
fn duplicate_enumerator() {
    case(
        &[("aidl/p/E.aidl", "package p;\nenum E { A, B, A }\n")],
        &["aidl/p/E.aidl:2:16: error: duplicate enumerator `A`"],
    );
}

#[test]
fn duplicate_nested() {
    case(
        &[(
            "aidl/p/P.aidl",
            "package p;\nparcelable P {\n    parcelable N {}\n    enum N { X }\n}\n",
        )],
        &["aidl/p/P.aidl:4:10: error: redefinition of `N`"],
    );
}

#[test]
fn duplicate_arg() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    void f(int a, int a);\n}\n",
        )],
        &["aidl/p/I.aidl:3:23: error: method `f` has duplicate argument name `a`"],
    );
}

#[test]
fn reserved_method() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    int getInterfaceVersion();\n}\n",
        )],
        &["aidl/p/I.aidl:3:9: error: method `getInterfaceVersion()` is reserved for internal use"],
    );
}

#[test]
fn out_string() {
    case(
        &[
            ("aidl/p/I.aidl", "package p;\ninterface I {\n    void f(out String s);\n}\n"),
        ],
        &[
            "aidl/p/I.aidl:3:12: error: `s` can't be an out parameter because String can only be an in parameter",
        ],
    );
}

#[test]
fn missing_direction() {
    case(
        &[
            (
                "aidl/p/I.aidl",
                "package p;\nimport p.P;\ninterface I {\n    void f(P p);\n}\n",
            ),
            ("@aidl/p/P.aidl", "package p;\nparcelable P {}\n"),
        ],
        &["aidl/p/I.aidl:4:12: error: the direction of `p` is not specified"],
    );
}

#[test]
fn out_interface() {
    case(
        &[
            ("aidl/p/I.aidl", "package p;\ninterface I {\n    void f(out I other);\n}\n"),
        ],
        &[
            "aidl/p/I.aidl:3:12: error: `other` can't be an out parameter because interface can only be an in parameter",
        ],
    );
}

#[test]
fn out_pfd() {
    case(
        &[
            ("aidl/p/I.aidl", "package p;\ninterface I {\n    void f(out ParcelFileDescriptor fd);\n}\n"),
        ],
        &[
            "aidl/p/I.aidl:3:12: error: `fd` can't be an out parameter because ParcelFileDescriptor can only be an in or inout parameter",
        ],
    );
}

#[test]
fn oneway_returns() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    oneway int f();\n}\n",
        )],
        &["aidl/p/I.aidl:3:12: error: oneway method `f` cannot return a value"],
    );
}

#[test]
fn oneway_out() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\noneway interface I {\n    void f(out int[] xs);\n}\n",
        )],
        &["aidl/p/I.aidl:3:12: error: oneway method `f` cannot have out parameters"],
    );
}

#[test]
fn mixed_ids() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    void a() = 1;\n    void b();\n}\n",
        )],
        &["aidl/p/I.aidl:4:10: error: either all methods must have explicit ids or none of them"],
    );
}

#[test]
fn duplicate_ids() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    void a() = 3;\n    void b() = 3;\n}\n",
        )],
        &["aidl/p/I.aidl:4:10: error: duplicate method id 3 for method `b`"],
    );
}

#[test]
fn id_out_of_range() {
    case(
        &[
            ("aidl/p/I.aidl", "package p;\ninterface I {\n    void a() = 16777115;\n}\n"),
        ],
        &[
            "aidl/p/I.aidl:3:16: error: method id 16777115 of `a` is out of range: ids must be between 0 and 16777114",
        ],
    );
}

#[test]
fn shift_overflow() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    const int X = 1 << 32;\n}\n",
        )],
        &["aidl/p/I.aidl:3:19: error: constant expression computation overflows"],
    );
}

#[test]
fn add_overflow() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    const int X = 2147483647 + 1;\n}\n",
        )],
        &["aidl/p/I.aidl:3:19: error: constant expression computation overflows"],
    );
}

#[test]
fn byte_out_of_range() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    const byte B = 128;\n}\n",
        )],
        &["aidl/p/I.aidl:3:20: error: value 128 is out of range for `byte`"],
    );
}

#[test]
fn int_out_of_range() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    const int X = 0x1FFFFFFFF;\n}\n",
        )],
        &["aidl/p/I.aidl:3:19: error: value 8589934591 is out of range for `int`"],
    );
}

#[test]
fn division_by_zero() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    const int X = 1 / (2 - 2);\n}\n",
        )],
        &["aidl/p/I.aidl:3:19: error: division by zero in constant expression"],
    );
}

#[test]
fn cycle() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    const int A = B + 1;\n    const int B = A;\n}\n",
        )],
        &["aidl/p/I.aidl:4:19: error: found a circular reference: I.A -> I.B -> I.A"],
    );
}

#[test]
fn enum_value_range() {
    case(
        &[
            ("aidl/p/E.aidl", "package p;\n@Backing(type=\"byte\")\nenum E { A = 200 }\n"),
        ],
        &[
            "aidl/p/E.aidl:3:14: error: enumerator `A` doesn't fit the enum's backing type: value 200 is out of range for `byte`",
        ],
    );
}

#[test]
fn enum_implicit_overflow() {
    case(
        &[
            ("aidl/p/E.aidl", "package p;\nenum E { A = 127, B }\n"),
        ],
        &[
            "aidl/p/E.aidl:2:19: error: enumerator `B` doesn't fit the enum's backing type: value 128 is out of range for `byte`",
        ],
    );
}

#[test]
fn bad_backing() {
    case(
        &[
            ("aidl/p/E.aidl", "package p;\n@Backing(type=\"short\")\nenum E { A }\n"),
        ],
        &[
            "aidl/p/E.aidl:2:15: error: invalid backing type `short`: it must be one of `byte`, `int`, `long`",
        ],
    );
}

#[test]
fn union_no_fields() {
    case(
        &[(
            "aidl/p/U.aidl",
            "package p;\nunion U {\n    const int X = 1;\n}\n",
        )],
        &["aidl/p/U.aidl:2:7: error: the union `U` has no fields"],
    );
}

#[test]
fn union_first_enum() {
    case(
        &[
            (
                "aidl/p/U.aidl",
                "package p;\nimport p.E;\nunion U {\n    E e;\n    int x;\n}\n",
            ),
            ("@aidl/p/E.aidl", "package p;\nenum E { A }\n"),
        ],
        &["aidl/p/U.aidl:4:7: error: the union's first member should have a useful default value"],
    );
}

#[test]
fn nullable_primitive() {
    case(
        &[(
            "aidl/p/P.aidl",
            "package p;\nparcelable P {\n    @nullable int x;\n}\n",
        )],
        &["aidl/p/P.aidl:3:15: error: primitive type `int` can't be `@nullable`"],
    );
}

#[test]
fn list_of_int() {
    case(
        &[(
            "aidl/p/P.aidl",
            "package p;\nparcelable P {\n    List<int> xs;\n}\n",
        )],
        &["aidl/p/P.aidl:3:5: error: a generic type cannot have any primitive type parameters"],
    );
}

#[test]
fn map_key() {
    case(
        &[
            ("aidl/p/P.aidl", "package p;\nparcelable P {\n    Map<IBinder, String> m;\n}\n"),
        ],
        &[
            "aidl/p/P.aidl:3:5: error: the type of key in map must be `String`, but it is `IBinder`",
        ],
    );
}

#[test]
fn map_values_and_places() {
    // AOSP's rules for `Map`: the value may not be a primitive or an enum
    // (an array of them is fine), `Map` takes 0 or 2 type arguments, and a
    // map goes neither in an array nor in a `List`
    case(
        &[(
            "aidl/p/P.aidl",
            "package p;\nparcelable P {\n    Map<String, int> a;\n    Map<String, int[]> fine;\n    Map<String> b;\n    Map<String, String>[] c;\n    List<Map<String, String>> d;\n    Map<String, Map<String, long>> e;\n}\n",
        )],
        &[
            "aidl/p/P.aidl:3:5: error: a generic type cannot have any primitive type parameters",
            "aidl/p/P.aidl:5:5: error: `Map` must have 0 or 2 type parameters, but got `Map<String>`",
            "aidl/p/P.aidl:6:5: error: arrays of `Map` are not supported",
            "aidl/p/P.aidl:7:5: error: `List<Map<String,String>>` is not supported",
            "aidl/p/P.aidl:8:17: error: a generic type cannot have any primitive type parameters",
        ],
    );
}

#[test]
fn list_arity() {
    case(
        &[
            ("aidl/p/P.aidl", "package p;\nparcelable P {\n    List<String, String> xs;\n}\n"),
        ],
        &[
            "aidl/p/P.aidl:3:5: error: `List` can only have one type parameter, but got `List<String,String>`",
        ],
    );
}

#[test]
fn not_generic() {
    case(
        &[(
            "aidl/p/P.aidl",
            "package p;\nparcelable P {\n    String<String> s;\n}\n",
        )],
        &["aidl/p/P.aidl:3:5: error: `String` is not a generic type"],
    );
}

#[test]
fn user_generic_arity() {
    case(
        &[
            (
                "aidl/p/P.aidl",
                "package p;\nimport p.G;\nparcelable P {\n    G<String> g;\n}\n",
            ),
            ("@aidl/p/G.aidl", "package p;\nparcelable G<A, B> {}\n"),
        ],
        &["aidl/p/P.aidl:4:5: error: `G` must have 2 type parameters, but got 1"],
    );
}

#[test]
fn unknown_annotation() {
    case(
        &[(
            "aidl/p/P.aidl",
            "package p;\nparcelable P {\n    @Nullable String s;\n}\n",
        )],
        &["aidl/p/P.aidl:3:5: error: `@Nullable` is not a recognized annotation"],
    );
}

#[test]
fn annotation_wrong_place() {
    case(
        &[
            ("aidl/p/P.aidl", "package p;\n@Backing(type=\"int\")\nparcelable P {}\n"),
        ],
        &[
            "aidl/p/P.aidl:2:1: error: `@Backing` is not available here; it can only annotate: enum",
        ],
    );
}

#[test]
fn annotation_unknown_param() {
    case(
        &[(
            "aidl/p/P.aidl",
            "package p;\nparcelable P {\n    @nullable(heap=true, deep=true) P next;\n}\n",
        )],
        &["aidl/p/P.aidl:3:26: error: parameter `deep` is not supported by `@nullable`"],
    );
}

#[test]
fn annotation_missing_param() {
    case(
        &[("aidl/p/I.aidl", "package p;\n@Descriptor\ninterface I {}\n")],
        &["aidl/p/I.aidl:2:1: error: `@Descriptor` needs the parameter `value`"],
    );
}

#[test]
fn annotation_repeated() {
    case(
        &[(
            "aidl/p/P.aidl",
            "package p;\nparcelable P {\n    @nullable @nullable String s;\n}\n",
        )],
        &["aidl/p/P.aidl:3:15: error: `@nullable` is repeated, but it is not repeatable"],
    );
}

#[test]
fn annotation_reference() {
    case(
        &[
            ("aidl/p/E.aidl", "package p;\n@Backing(type=T)\nenum E { A }\n"),
        ],
        &[
            "aidl/p/E.aidl:2:15: error: annotation parameters must be constant expressions, but this one refers to `T`",
        ],
    );
}

#[test]
fn utf8_on_int() {
    case(
        &[
            ("aidl/p/P.aidl", "package p;\nparcelable P {\n    @utf8InCpp int x;\n}\n"),
        ],
        &[
            "aidl/p/P.aidl:3:16: error: `@utf8InCpp` can only be used on String, String[], and List<String>",
        ],
    );
}

#[test]
fn recursive_parcelable() {
    case(
        &[
            (
                "aidl/p/A.aidl",
                "package p;\nimport p.B;\nparcelable A {\n    B b;\n}\n",
            ),
            (
                "@aidl/p/B.aidl",
                "package p;\nimport p.A;\nparcelable B {\n    A a;\n}\n",
            ),
        ],
        &["aidl/p/B.aidl:4:7: error: `A` is a recursive parcelable: A -> B -> A"],
    );
}

#[test]
fn recursive_parcelable_only_imported() {
    // The input is fine, but the generator also emits the imported `Chain`,
    // which would hold itself by value: it is reported too.
    case(
        &[
            (
                "aidl/p/IUser.aidl",
                "package p;\nimport p.Chain;\ninterface IUser {\n    void take(in Chain c);\n}\n",
            ),
            (
                "@aidl/p/Chain.aidl",
                "package p;\nparcelable Chain {\n    int v;\n    @nullable Chain next;\n}\n",
            ),
        ],
        &["aidl/p/Chain.aidl:4:21: error: `Chain` is a recursive parcelable: Chain -> Chain"],
    );
}

#[test]
fn enforce_without_or_with_two_conditions() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    @Enforce void a();\n    @Enforce(condition=\"uid=SYSTEM_UID\", value=\"uid=SYSTEM_UID\") void b();\n}\n",
        )],
        &[
            "aidl/p/I.aidl:3:5: error: `@Enforce` needs its condition, as `condition=\"...\"` or `(\"...\")`, once",
            "aidl/p/I.aidl:4:5: error: `@Enforce` needs its condition, as `condition=\"...\"` or `(\"...\")`, once",
        ],
    );
}

#[test]
fn unknown_reference() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    const int X = Y + 1;\n}\n",
        )],
        &["aidl/p/I.aidl:3:19: error: unknown reference `Y`"],
    );
}

#[test]
fn unknown_reference_type() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    const int X = Other.Y;\n}\n",
        )],
        &["aidl/p/I.aidl:3:19: error: unknown reference `Other.Y`"],
    );
}

#[test]
fn enum_needs_enumerator() {
    case(
        &[
            (
                "aidl/p/P.aidl",
                "package p;\nimport p.E;\nparcelable P {\n    E e = 3;\n}\n",
            ),
            ("@aidl/p/E.aidl", "package p;\nenum E { A }\n"),
        ],
        &["aidl/p/P.aidl:4:11: error: invalid value for enum `p.E`"],
    );
}

#[test]
fn float_needs_suffix() {
    case(
        &[(
            "aidl/p/P.aidl",
            "package p;\nparcelable P {\n    float f = 1.5;\n}\n",
        )],
        &["aidl/p/P.aidl:3:15: error: `1.5` is a double literal, but the type is `float`"],
    );
}

#[test]
fn mismatched_types() {
    case(
        &[(
            "aidl/p/P.aidl",
            "package p;\nparcelable P {\n    String s = 3;\n}\n",
        )],
        &["aidl/p/P.aidl:3:16: error: mismatched types: expected `String`, found an int8 literal"],
    );
}

#[test]
fn unsupported_const_type() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    const boolean B = true;\n}\n",
        )],
        &["aidl/p/I.aidl:3:11: error: constants of type `boolean` are not supported"],
    );
}

#[test]
fn java_keyword_arg() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    void f(int default);\n}\n",
        )],
        &["aidl/p/I.aidl:3:16: error: argument name `default` is a Java or AIDL keyword"],
    );
}

#[test]
fn void_field() {
    case(
        &[(
            "aidl/p/P.aidl",
            "package p;\nparcelable P {\n    void v;\n}\n",
        )],
        &["aidl/p/P.aidl:3:5: error: field `v` can't be of type `void`"],
    );
}

#[test]
fn void_arg() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    void f(void v);\n}\n",
        )],
        &["aidl/p/I.aidl:3:12: error: `void` is an invalid type for the parameter `v`"],
    );
}

#[test]
fn holder_return() {
    case(
        &[(
            "aidl/p/I.aidl",
            "package p;\ninterface I {\n    ParcelableHolder f();\n}\n",
        )],
        &["aidl/p/I.aidl:3:5: error: `ParcelableHolder` can't be a return type"],
    );
}

#[test]
fn holder_in_union() {
    case(
        &[
            ("aidl/p/U.aidl", "package p;\nunion U {\n    int a;\n    ParcelableHolder h;\n}\n"),
        ],
        &[
            "aidl/p/U.aidl:4:22: error: a union can't have a member of type `ParcelableHolder` (`h`)",
        ],
    );
}

#[test]
fn fixed_array_count() {
    case(
        &[
            ("aidl/p/P.aidl", "package p;\nparcelable P {\n    int[3] xs = {1, 2};\n}\n"),
        ],
        &[
            "aidl/p/P.aidl:3:17: error: expected an array of 3 elements, but found one with 2 elements",
        ],
    );
}

#[test]
fn array_of_list() {
    case(
        &[(
            "aidl/p/P.aidl",
            "package p;\nparcelable P {\n    List<String>[] xs;\n}\n",
        )],
        &["aidl/p/P.aidl:3:5: error: arrays of `List` are not supported"],
    );
}

#[test]
fn untyped_list() {
    case(
        &[
            ("aidl/p/P.aidl", "package p;\nparcelable P {\n    List xs;\n}\n"),
        ],
        &[
            "aidl/p/P.aidl:3:5: error: untyped `List` and `Map` are not allowed in parcelables and unions",
        ],
    );
}

#[test]
fn heap_nullable_string() {
    case(
        &[(
            "aidl/p/P.aidl",
            "package p;\nparcelable P {\n    @nullable(heap=true) String s;\n}\n",
        )],
        &["aidl/p/P.aidl:3:26: error: `@nullable(heap=true)` is only available for parcelables"],
    );
}

#[test]
fn fixed_size_string() {
    case(
        &[
            ("aidl/p/P.aidl", "package p;\n@FixedSize\nparcelable P {\n    String s;\n}\n"),
        ],
        &[
            "aidl/p/P.aidl:4:12: error: the @FixedSize parcelable `P` has a non-fixed size field named `s`",
        ],
    );
}

#[test]
fn nested_unstructured() {
    case(
        &[
            ("aidl/p/P.aidl", "package p;\nparcelable P {\n    parcelable Q;\n}\n"),
        ],
        &[
            "aidl/p/P.aidl:3:16: error: `Q` is nested; unstructured parcelables must be declared at the top level",
        ],
    );
}

#[test]
fn reserved_name() {
    case(
        &[
            ("aidl/p/default/I.aidl", "package p.default;\ninterface I {}\n"),
        ],
        &[
            "aidl/p/default/I.aidl:2:11: error: `p.default.I` is an invalid name because `default` is a Java or C++ keyword",
        ],
    );
}

#[test]
fn union_declares_tag() {
    case(
        &[
            ("aidl/p/U.aidl", "package p;\nunion U {\n    int a;\n    enum Tag { X }\n}\n"),
        ],
        &[
            "aidl/p/U.aidl:4:10: error: a union can't declare a nested type called `Tag`: AIDL generates one for it",
        ],
    );
}

#[test]
fn negative_array_size() {
    case(
        &[(
            "aidl/p/P.aidl",
            "package p;\nparcelable P {\n    int[-1] xs;\n}\n",
        )],
        &["aidl/p/P.aidl:3:9: error: array size must be a non-negative `int`, found `-1`"],
    );
}
