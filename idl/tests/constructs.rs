//! One test per language construct, with small inline sources.

use capbinder_idl::ast::{self, CommentKind, Member};
use capbinder_idl::model::{ArrayShape, ConstValue, DeclKind, Model, Primitive, TypeKind};
use capbinder_idl::Session;

fn check(files: &[(&str, &str)]) -> Model {
    let mut s = Session::new();
    s.add_include_dir("aidl");
    for (path, text) in files {
        match path.strip_prefix('@') {
            Some(p) => s.add_virtual_file(p, *text),
            None => s.add_source(*path, *text),
        };
    }
    s.check().unwrap_or_else(|d| panic!("{d}"))
}

fn one(path: &str, text: &str) -> Model {
    check(&[(path, text)])
}

#[test]
fn forward_declared_interface() {
    let m = one("aidl/p/IFwd.aidl", "package p; interface IFwd;");
    let i = m.lookup("p.IFwd").unwrap().as_interface().unwrap();
    assert!(i.forward_declaration);
    assert!(i.methods.is_empty());
}

#[test]
fn oneway_interface_makes_every_method_oneway() {
    let m = one(
        "aidl/p/IListener.aidl",
        "package p; oneway interface IListener { void a(int x); void b(in String[] s); parcelable Event { int code; } void c(in Event e); }",
    );
    let i = m.lookup("p.IListener").unwrap().as_interface().unwrap();
    assert!(i.oneway);
    assert_eq!(i.methods.len(), 3);
    assert!(i.methods.iter().all(|m| m.oneway));
    assert!(m.lookup("p.IListener.Event").is_some());
}

#[test]
fn unstructured_parcelables_with_headers_and_generics() {
    let m = one(
        "aidl/p/Holder.aidl",
        "package p;\n@JavaOnlyStableParcelable parcelable Holder<T> cpp_header \"holder.h\" ndk_header \"aidl/holder.h\";\nparcelable Other rust_type \"crate::Other\";",
    );
    let h = m.lookup("p.Holder").unwrap();
    assert_eq!(h.decl_kind(), DeclKind::UnstructuredParcelable);
    assert_eq!(h.type_params(), ["T"]);
    let u = h.as_unstructured().unwrap();
    assert_eq!(u.cpp_header.as_deref(), Some("holder.h"));
    assert_eq!(u.ndk_header.as_deref(), Some("aidl/holder.h"));
    assert_eq!(u.rust_type, None);
    assert_eq!(
        m.lookup("p.Other")
            .unwrap()
            .as_unstructured()
            .unwrap()
            .rust_type
            .as_deref(),
        Some("crate::Other")
    );
}

#[test]
fn keywords_that_are_identifiers() {
    // cpp_header, ndk_header and rust_type are identifiers outside headers
    let m = one(
        "aidl/p/P.aidl",
        "package p; parcelable P { String cpp_header; int ndk_header = 1; const int rust_type = 2; }",
    );
    let p = m.lookup("p.P").unwrap();
    assert_eq!(p.fields()[0].name, "cpp_header");
    assert_eq!(p.constants()[0].name, "rust_type");
}

#[test]
fn char_and_escaped_literals() {
    let m = one(
        "aidl/p/P.aidl",
        "package p; parcelable P { char c = 'x'; char q = '\"'; String s = \"it's\"; }",
    );
    let p = m.lookup("p.P").unwrap();
    assert_eq!(p.fields()[0].default, Some(ConstValue::Char('x')));
    assert_eq!(p.fields()[1].default, Some(ConstValue::Char('"')));
    assert_eq!(
        p.fields()[2].default,
        Some(ConstValue::String("it's".into()))
    );
}

#[test]
fn integer_literal_forms() {
    let m = one(
        "aidl/p/I.aidl",
        "package p; interface I {\n\
         const int HEX = 0xFFFFFFFF;\n\
         const long HEX_LONG = 0xFFFFFFFFL;\n\
         const long BIG_HEX = 0xFFFFFFFFFF;\n\
         const byte U8 = 200u8;\n\
         const int U32 = 4294967295u32;\n\
         const long U64 = 18446744073709551615u64;\n\
         const int UNDERSCORES = 1_000_000;\n\
         const int LEADING_ZERO = 010;\n\
         const long L = 5L;\n}",
    );
    let c = |n: &str| {
        m.lookup("p.I")
            .unwrap()
            .constants()
            .iter()
            .find(|c| c.name == n)
            .unwrap()
            .value
            .clone()
    };
    assert_eq!(c("HEX"), ConstValue::Int(-1));
    assert_eq!(c("HEX_LONG"), ConstValue::Long(0xFFFF_FFFF));
    assert_eq!(c("BIG_HEX"), ConstValue::Long(0xFF_FFFF_FFFF));
    assert_eq!(c("U8"), ConstValue::Byte(-56));
    assert_eq!(c("U32"), ConstValue::Int(-1));
    assert_eq!(c("U64"), ConstValue::Long(-1));
    assert_eq!(c("UNDERSCORES"), ConstValue::Int(1_000_000));
    assert_eq!(
        c("LEADING_ZERO"),
        ConstValue::Int(10),
        "AOSP parses decimal literals in base 10"
    );
    assert_eq!(c("L"), ConstValue::Long(5));
}

#[test]
fn constant_expressions_every_operator() {
    let m = one(
        "aidl/p/I.aidl",
        "package p; interface I {\n\
         const int A = (1 + 2) * 3 - 4 / 2 % 3;\n\
         const int B = ~0 ^ (1 | 2) & 6;\n\
         const int C = (1 << 4) >> 2;\n\
         const int D = -(-5) + +3;\n\
         const int E = (3 > 2) && (2 >= 2) || !(1 < 0) && (1 <= 1) == (4 != 5);\n}",
    );
    let c = |n: &str| {
        m.lookup("p.I")
            .unwrap()
            .constants()
            .iter()
            .find(|c| c.name == n)
            .unwrap()
            .value
            .clone()
    };
    assert_eq!(c("A"), ConstValue::Int(7));
    assert_eq!(c("B"), ConstValue::Int(-1 ^ (3 & 6)));
    assert_eq!(c("C"), ConstValue::Int(4));
    assert_eq!(c("D"), ConstValue::Int(8));
    assert_eq!(c("E"), ConstValue::Int(1));
}

#[test]
fn qualified_and_nested_constant_references() {
    let m = check(&[
        (
            "aidl/p/I.aidl",
            "package p;\nimport q.Other;\ninterface I {\n  const int A = Other.X + Other.Inner.Y + q.Other.X;\n  const int B = I.A * 2;\n  parcelable N { const int Z = I.B + 1; int f = Z; }\n}",
        ),
        ("@aidl/q/Other.aidl", "package q; interface Other { const int X = 10; parcelable Inner { const int Y = 5; } }"),
    ]);
    let i = m.lookup("p.I").unwrap();
    assert_eq!(i.constants()[0].value, ConstValue::Int(25));
    assert_eq!(i.constants()[1].value, ConstValue::Int(50));
    let n = m.lookup("p.I.N").unwrap();
    assert_eq!(n.constants()[0].value, ConstValue::Int(51));
    assert_eq!(n.fields()[0].default, Some(ConstValue::Int(51)));
}

#[test]
fn fully_qualified_names_resolve_without_imports() {
    let m = check(&[
        ("aidl/p/IUser.aidl", "package p; interface IUser { q.Data get(); q.Outer.Inner inner(); const int X = q.Outer.K; }"),
        ("@aidl/q/Data.aidl", "package q; parcelable Data {}"),
        ("@aidl/q/Outer.aidl", "package q; parcelable Outer { const int K = 4; parcelable Inner {} }"),
    ]);
    let i = m.lookup("p.IUser").unwrap().as_interface().unwrap();
    assert_eq!(i.methods[0].return_type.signature(), "q.Data");
    assert_eq!(i.methods[1].return_type.signature(), "q.Outer.Inner");
    assert_eq!(i.constants[0].value, ConstValue::Int(4));
}

#[test]
fn importing_a_nested_type() {
    let m = check(&[
        (
            "aidl/p/IUser.aidl",
            "package p; import q.Outer.Inner; interface IUser { Inner get(); }",
        ),
        (
            "@aidl/q/Outer.aidl",
            "package q; parcelable Outer { parcelable Inner { int x; } }",
        ),
    ]);
    let i = m.lookup("p.IUser").unwrap().as_interface().unwrap();
    assert_eq!(i.methods[0].return_type.signature(), "q.Outer.Inner");
}

#[test]
fn nested_types_shadow_imports() {
    let m = check(&[
        (
            "aidl/p/P.aidl",
            "package p;\nimport q.Baz;\nparcelable P {\n  parcelable Bar { enum Baz { A } Baz t1; }\n  Baz t2;\n  Bar.Baz t3;\n}",
        ),
        ("@aidl/q/Baz.aidl", "package q; parcelable Baz {}"),
    ]);
    let bar = m.lookup("p.P.Bar").unwrap();
    assert_eq!(bar.fields()[0].ty.signature(), "p.P.Bar.Baz");
    let p = m.lookup("p.P").unwrap();
    assert_eq!(p.fields()[0].ty.signature(), "q.Baz");
    assert_eq!(p.fields()[1].ty.signature(), "p.P.Bar.Baz");
}

#[test]
fn arrays_lists_maps_and_fixed_sizes() {
    let m = one(
        "aidl/p/P.aidl",
        "package p; parcelable P {\n  const int N = 2;\n  int[] a;\n  int[N][N + 1] grid;\n  List<String> l;\n  List<IBinder> b;\n  List<P> self_list;\n  @nullable P[] self_array;\n  Map<String, P> by_name;\n  Map<String, List<String>> nested;\n  java.util.List<String> java_list;\n}",
    );
    let p = m.lookup("p.P").unwrap();
    let f = |n: &str| p.fields().iter().find(|f| f.name == n).unwrap();
    assert_eq!(f("a").ty.array, Some(ArrayShape::Dynamic));
    assert_eq!(f("grid").ty.array, Some(ArrayShape::Fixed(vec![2, 3])));
    assert_eq!(f("grid").ty.element().unwrap().signature(), "int[3]");
    assert_eq!(f("l").ty.signature(), "List<String>");
    assert_eq!(f("by_name").ty.signature(), "Map<String,p.P>");
    assert_eq!(f("nested").ty.signature(), "Map<String,List<String>>");
    assert!(matches!(f("java_list").ty.kind, TypeKind::List(Some(_))));
}

#[test]
fn all_builtin_types() {
    let m = one(
        "aidl/p/I.aidl",
        "package p; interface I { void f(boolean a, byte b, char c, int d, long e, float f, double g, String h, CharSequence i, IBinder j, in FileDescriptor k, in ParcelFileDescriptor l, in List m, in Map n); }",
    );
    let f = &m.lookup("p.I").unwrap().as_interface().unwrap().methods[0];
    let prims: Vec<Option<Primitive>> = f.args.iter().map(|a| a.ty.kind.primitive()).collect();
    assert_eq!(
        &prims[..7],
        &[
            Some(Primitive::Boolean),
            Some(Primitive::Byte),
            Some(Primitive::Char),
            Some(Primitive::Int),
            Some(Primitive::Long),
            Some(Primitive::Float),
            Some(Primitive::Double),
        ]
    );
    assert!(matches!(f.args[8].ty.kind, TypeKind::CharSequence));
    assert!(matches!(f.args[10].ty.kind, TypeKind::FileDescriptor));
    assert!(matches!(f.args[12].ty.kind, TypeKind::List(None)));
    assert!(matches!(f.args[13].ty.kind, TypeKind::Map(None)));
}

#[test]
fn annotations_with_arguments() {
    let m = one(
        "aidl/p/I.aidl",
        "package p;\n@VintfStability\n@Descriptor(value=\"android.hardware.IThing\")\n@JavaPassthrough(annotation=\"@android.annotation.SystemApi\")\n@JavaPassthrough(annotation=\"@android.annotation.Hide\")\n@SuppressWarnings(value={\"inout-parameter\", \"mixed-oneway\"})\ninterface I {\n  @UnsupportedAppUsage(maxTargetSdk=28, trackingBug=170729553L, publicAlternatives=\"x\")\n  @JavaSuppressLint(value={\"NewApi\"})\n  void f();\n  @Hide void hidden();\n  @Enforce(condition=\"permission = INTERNET\") void legacy();\n}",
    );
    let t = m.lookup("p.I").unwrap();
    assert_eq!(
        t.as_interface().unwrap().descriptor,
        "android.hardware.IThing"
    );
    assert_eq!(t.annotations.get_all("JavaPassthrough").count(), 2);
    assert_eq!(
        t.annotations
            .get("SuppressWarnings")
            .unwrap()
            .param_str_list("value"),
        ["inout-parameter", "mixed-oneway"]
    );
    let f = &t.as_interface().unwrap().methods[0];
    let uau = f.annotations().get("UnsupportedAppUsage").unwrap();
    assert_eq!(uau.param("maxTargetSdk"), Some(&ConstValue::Int(28)));
    assert_eq!(uau.param("trackingBug"), Some(&ConstValue::Long(170729553)));
}

#[test]
fn legacy_enforce_in_both_spellings() {
    // AOSP's short-lived `@Enforce` took `condition=...` first and then the
    // unnamed value; trees from either time must still check.
    let m = one(
        "aidl/p/IGuarded.aidl",
        "package p;\ninterface IGuarded {\n  @Enforce(condition=\"permission = CAMERA\") void named();\n  @Enforce(\"permission=CAMERA || uid=SYSTEM_UID\") void unnamed();\n}",
    );
    let i = m.lookup("p.IGuarded").unwrap().as_interface().unwrap();
    let named = i.methods[0].annotations().get("Enforce").unwrap();
    assert_eq!(
        named.param("condition"),
        Some(&ConstValue::String("permission = CAMERA".into()))
    );
    let unnamed = i.methods[1].annotations().get("Enforce").unwrap();
    assert_eq!(
        unnamed.param("value"),
        Some(&ConstValue::String(
            "permission=CAMERA || uid=SYSTEM_UID".into()
        ))
    );
}

#[test]
fn nullable_heap_and_fixed_size_parcelables() {
    let m = one(
        "aidl/p/Node.aidl",
        "package p;\n@FixedSize @RustDerive(Copy=true, Clone=true)\nparcelable Node {\n  int value;\n  @FixedSize @RustDerive(Copy=true, Clone=true) parcelable Pair { long a; long b; }\n  Pair pair;\n  double[2] xy;\n  @FixedSize @RustDerive(Copy=true, Clone=true) union Either { int a; float b; }\n}",
    );
    assert!(m.lookup("p.Node").unwrap().annotations.has("FixedSize"));
    let list = one(
        "aidl/p/Linked.aidl",
        "package p; parcelable Linked { int v; @nullable(heap=true) Linked next; Linked[] children; }",
    );
    let next = &list.lookup("p.Linked").unwrap().fields()[1];
    assert!(next.ty.is_heap_nullable());
}

#[test]
fn enums_default_backing_and_references() {
    let m = check(&[
        (
            "aidl/p/E.aidl",
            "package p;\nimport p.F;\nenum E { A, B = A + 10, C, D = F.Y, }",
        ),
        (
            "@aidl/p/F.aidl",
            "package p; @Backing(type=\"long\") enum F { X = 1L << 33, Y = 3 }",
        ),
    ]);
    let e = m.lookup("p.E").unwrap().as_enum().unwrap();
    assert_eq!(e.backing, Primitive::Byte);
    let v: Vec<i64> = e.enumerators.iter().map(|x| x.value).collect();
    assert_eq!(v, [0, 10, 11, 3]);
    assert!(e.enumerators[1].explicit && !e.enumerators[2].explicit);
    let f = m.lookup("p.F").unwrap().as_enum().unwrap();
    assert_eq!(f.enumerators[0].value, 1 << 33);
}

#[test]
fn unions_tags_and_defaults() {
    let m = one(
        "aidl/p/U.aidl",
        "package p; union U { @nullable String s; int n; U.Tag tag = U.Tag.n; }",
    );
    let u = m.lookup("p.U").unwrap();
    let un = u.as_union().unwrap();
    assert_eq!(m.get(un.tag).qualified_name, "p.U.Tag");
    match &u.fields()[2].default {
        Some(ConstValue::Enumerator { name, value, .. }) => {
            assert_eq!((name.as_str(), *value), ("n", 1))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn doc_comments_attach_to_items() {
    let m = one(
        "aidl/p/I.aidl",
        "/* file header */\npackage p;\n\n/** The interface. */\n@SensitiveData\ninterface I {\n    /** A constant. */\n    const int C = 1;\n    // just a line comment\n    /**\n     * Does f.\n     * @deprecated use g\n     */\n    void f();\n    /** A nested enum. */\n    enum E {\n        /** first */\n        A,\n        B\n    }\n}\n",
    );
    let i = m.lookup("p.I").unwrap();
    assert_eq!(i.comments.doc_text().as_deref(), Some("The interface."));
    let iface = i.as_interface().unwrap();
    assert_eq!(
        iface.constants[0].comments.doc_text().as_deref(),
        Some("A constant.")
    );
    let f = &iface.methods[0];
    assert_eq!(f.comments.0.len(), 2);
    assert_eq!(f.comments.0[0].kind, CommentKind::Line);
    assert_eq!(f.deprecated().as_deref(), Some("use g"));
    assert_eq!(
        f.comments.doc_text().as_deref(),
        Some("Does f.\n@deprecated use g")
    );
    let e = m.lookup("p.I.E").unwrap();
    assert_eq!(e.comments.doc_text().as_deref(), Some("A nested enum."));
    assert_eq!(
        e.as_enum().unwrap().enumerators[0]
            .comments
            .doc_text()
            .as_deref(),
        Some("first")
    );
    // the file header belongs to the document
    let doc = &m.documents()[0];
    assert_eq!(doc.comments.0[0].text, "/* file header */");
}

#[test]
fn ast_keeps_spans_for_line_and_column() {
    let text = "package p;\ninterface I {\n    void f(in int[] xs);\n}\n";
    let doc = capbinder_idl::parse_file("p/I.aidl", text).unwrap();
    let decl = &doc.decls[0];
    let Member::Method(m) = &decl.members()[0] else {
        panic!()
    };
    assert_eq!(&text[m.name.span.range()], "f");
    assert_eq!(&text[m.args[0].ty.span.range()], "int[]");
    assert_eq!(m.args[0].direction.map(|d| d.0), Some(ast::Direction::In));
    let src =
        capbinder_idl::source::SourceFile::new("p/I.aidl".into(), "p/I.aidl".into(), text.into());
    let lc = src.line_col(m.name.span.start);
    assert_eq!((lc.line, lc.column), (3, 10));
    let model = one("aidl/p/I.aidl", text);
    let method = &model.lookup("p.I").unwrap().as_interface().unwrap().methods[0];
    let (path, lc) = model.position(method.location);
    assert_eq!(path, std::path::Path::new("aidl/p/I.aidl"));
    assert_eq!((lc.line, lc.column), (3, 10));
}

#[test]
fn same_file_unstructured_parcelables_and_one_type() {
    // unstructured parcelable declarations don't count as "the" type of a file
    let m = one(
        "aidl/p/IWithDecls.aidl",
        "package p; parcelable Foo; parcelable Bar; interface IWithDecls { void f(in Foo foo, in Bar bar); }",
    );
    assert_eq!(m.input_roots().count(), 3);
}

#[test]
fn conflicting_imports_only_warn() {
    let m = check(&[
        (
            "aidl/p/I.aidl",
            "package p; import q.Data; import r.Data; interface I { Data get(); }",
        ),
        ("@aidl/q/Data.aidl", "package q; parcelable Data {}"),
        ("@aidl/r/Data.aidl", "package r; parcelable Data {}"),
    ]);
    assert_eq!(m.warnings().len(), 1);
    let i = m.lookup("p.I").unwrap().as_interface().unwrap();
    assert_eq!(i.methods[0].return_type.signature(), "q.Data");
}

#[test]
fn unstructured_nested_java_classes() {
    // frameworks/base style: `ActivityManager.aidl` declares only a nested class
    let m = check(&[
        (
            "aidl/p/IUser.aidl",
            "package p;\nimport android.app.ActivityManager;\ninterface IUser { void set(in ActivityManager.TaskDescription d); }",
        ),
        ("@aidl/android/app/ActivityManager.aidl", "package android.app;\nparcelable ActivityManager.TaskDescription;\n"),
    ]);
    let i = m.lookup("p.IUser").unwrap().as_interface().unwrap();
    assert_eq!(
        i.methods[0].args[0].ty.signature(),
        "android.app.ActivityManager.TaskDescription"
    );
}

#[test]
fn preprocessed_members_are_not_validated() {
    let mut s = Session::new();
    s.add_virtual_file(
        "framework.aidl",
        "parcelable android.os.Bundle;\ninterface android.app.IThing {\n  android.app.NotLoaded get();\n  const int K = 3;\n}\nenum android.app.Mode { A, B }\n",
    );
    s.add_preprocessed("framework.aidl");
    s.add_source(
        "aidl/p/I.aidl",
        "package p;\nimport android.app.IThing;\nimport android.app.Mode;\ninterface I { IThing thing(); const int X = IThing.K + Mode.B; }",
    );
    let m = s.check().unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(
        m.lookup("p.I").unwrap().constants()[0].value,
        ConstValue::Int(4)
    );
    assert!(!m.lookup("android.app.IThing").unwrap().from_input);
}
