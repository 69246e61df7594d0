//! AOSP's optional warnings (`-W...`): each one fires where AOSP's would,
//! only when asked for, `@SuppressWarnings` silences it, and `-Werror`
//! makes them errors.

use capbinder_idl::Session;

const FOO: &str = r#"package p;
import p.Color;
interface Foo {
    const int lowerCase = 1;
    const int FOO_LIMIT = 2;
    void a(inout int[] x);
    void b(out @nullable String[] s);
    oneway void c(in List l);
    @SuppressWarnings(value={"untyped-collection"})
    void d(in Map m);
}
"#;

const COLOR: &str = r#"package p;
enum Color { COLOR_RED = 1, GREEN }
"#;

const DATA: &str = r#"package p;
import p.Color;
parcelable Data {
    Color c;
    Color d = Color.GREEN;
    FileDescriptor fd;
}
"#;

const QUIET: &str = r#"package p;
@SuppressWarnings(value={"redundant-name"})
enum Quiet { QUIET_A = 1 }
"#;

fn check(flags: &[&str]) -> Result<Vec<String>, String> {
    let mut s = Session::new();
    for f in flags {
        s.add_warning_flag(f).unwrap();
    }
    s.add_source("p/Foo.aidl", FOO)
        .add_source("p/Color.aidl", COLOR)
        .add_source("p/Data.aidl", DATA)
        .add_source("p/Quiet.aidl", QUIET);
    match s.check() {
        Ok(m) => Ok(m.warnings().summary()),
        Err(d) => Err(d.to_string()),
    }
}

#[test]
fn no_warning_unless_asked_for() {
    assert_eq!(check(&[]).unwrap(), Vec::<String>::new());
}

#[test]
fn everything_fires_each_warning_where_it_applies() {
    let got = check(&["-Weverything"]).unwrap();
    // sorted by file (in the order they were given), then position
    let want = [
        "p/Foo.aidl:3:11: warning: interface names should start with `I`: `Foo` [-Winterface-name]",
        "p/Foo.aidl:3:11: warning: `Foo` has both oneway and two-way methods, which makes the threading of its clients hard to reason about [-Wmixed-oneway]",
        "p/Foo.aidl:3:11: warning: `Foo` is not annotated for permissions. Declare which permissions are required using @EnforcePermission. If permissions are manually verified within the implementation, use @PermissionManuallyEnforced. If no permissions are required, use @RequiresNoPermission. This can be done for the whole interface or for each method. [-Wmissing-permission-annotation]",
        "p/Foo.aidl:4:15: warning: constants should be named in upper case: `lowerCase` [-Wconst-name]",
        "p/Foo.aidl:5:15: warning: the constant `FOO_LIMIT` has a redundant substring `FOO` being defined in `Foo` [-Wredundant-name]",
        "p/Foo.aidl:6:24: warning: `x` is an inout parameter [-Winout-parameter]",
        "p/Foo.aidl:6:24: warning: `x` is an array used as an inout parameter; return it instead, its size can't change [-Wout-array]",
        "p/Foo.aidl:7:35: warning: `s` is an array used as an out parameter; return it instead, its size can't change [-Wout-array]",
        "p/Foo.aidl:8:22: warning: `List` is untyped [-Wuntyped-collection]",
        "p/Color.aidl:2:14: warning: the enumerator `COLOR_RED` has a redundant substring `COLOR` being defined in `Color` [-Wredundant-name]",
        "p/Data.aidl:4:11: warning: the enum field `c` has no explicit default [-Wenum-explicit-default]",
        "p/Data.aidl:6:5: warning: use `ParcelFileDescriptor` instead of `FileDescriptor` [-Wfile-descriptor]",
    ];
    assert_eq!(got, want, "{got:#?}");
}

#[test]
fn one_warning_by_name_and_everything_but_one() {
    let got = check(&["-Wconst-name"]).unwrap();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(got[0].contains("[-Wconst-name]"));
    let got = check(&["-Weverything", "-Wno-out-array", "-Wno-redundant-name"]).unwrap();
    assert_eq!(got.len(), 8, "{got:#?}");
    assert!(got
        .iter()
        .all(|w| !w.contains("out-array") && !w.contains("redundant-name")));
}

#[test]
fn werror_makes_them_errors() {
    let err = check(&["-Wconst-name", "-Werror"]).unwrap_err();
    assert!(
        err.contains("error: constants should be named in upper case: `lowerCase` [-Wconst-name]"),
        "{err}"
    );
    assert!(err.contains("--> p/Foo.aidl:4:15"), "{err}");
    assert!(err.contains("aborting due to 1 previous error"), "{err}");
    // -Werror alone turns nothing on
    assert!(check(&["-Werror"]).is_ok());
}

#[test]
fn unknown_warning_names_are_refused() {
    let mut s = Session::new();
    assert!(s.add_warning_flag("-Wno-such-thing").is_err());
}

/// Checks `files` (`path`, text; a path starting with `@` is only found
/// through the include root `aidl`) with `flags`: the warnings, or the
/// errors.
fn check_files(flags: &[&str], files: &[(&str, &str)]) -> Result<Vec<String>, String> {
    let mut s = Session::new();
    s.add_include_dir("aidl");
    for f in flags {
        s.add_warning_flag(f).unwrap();
    }
    for (path, text) in files {
        match path.strip_prefix('@') {
            Some(p) => s.add_virtual_file(p, *text),
            None => s.add_source(*path, *text),
        };
    }
    match s.check() {
        Ok(m) => Ok(m.warnings().summary()),
        Err(d) => Err(d.to_string()),
    }
}

/// The warnings `-W{name}` gives for one input file.
fn only(name: &str, path: &str, text: &str) -> Vec<String> {
    check_files(&[&format!("-W{name}")], &[(path, text)]).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_aosp_warning_name_is_known() {
    let aosp = [
        "const-name",
        "enum-explicit-default",
        "file-descriptor",
        "inout-parameter",
        "interface-name",
        "missing-permission-annotation",
        "mixed-oneway",
        "out-array",
        "out-nullable",
        "unique-import",
        "unknown-warning",
        "untyped-collection",
        "redundant-name",
        "redundant-oneway",
    ];
    let mut s = Session::new();
    for name in aosp {
        s.add_warning_flag(&format!("-W{name}")).unwrap();
        s.add_warning_flag(&format!("-Wno-{name}")).unwrap();
    }
    assert_eq!(capbinder_idl::lint::WARNINGS.len(), aosp.len());
    assert!(s.add_warning_flag("-Wenum-zero").is_err());
}

#[test]
fn unique_import() {
    let q_foo = (
        "@aidl/q/IFoo.aidl",
        "package q; interface IFoo { void f(); }",
    );
    let q_bar = ("@aidl/q/Bar.aidl", "package q; parcelable Bar { int x; }");
    let r_bar = ("@aidl/r/Bar.aidl", "package r; parcelable Bar { int y; }");
    let input =
        "package p;\nimport q.IFoo;\nimport q.Bar;\nimport r.Bar;\ninterface IFoo { void f(); }\n";
    let got = check_files(
        &["-Wunique-import"],
        &[("aidl/p/IFoo.aidl", input), q_foo, q_bar, r_bar],
    );
    // (the checker's own "imported twice" warning comes too)
    let got: Vec<String> = got
        .unwrap()
        .into_iter()
        .filter(|w| w.contains("[-Wunique-import]"))
        .collect();
    assert_eq!(
        got,
        [
            "aidl/p/IFoo.aidl:2:1: warning: `IFoo` is already defined in this file. [-Wunique-import]",
            "aidl/p/IFoo.aidl:4:1: warning: `Bar` is already imported. [-Wunique-import]",
        ],
        "{got:#?}"
    );
    // distinct imports, none named like the file's type: nothing
    let fine = "package p;\nimport q.Bar;\ninterface IBaz { void f(in Bar b); }\n";
    assert_eq!(
        check_files(&["-Wunique-import"], &[("aidl/p/IBaz.aidl", fine), q_bar]).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn missing_permission_annotation() {
    const ADVICE: &str = "is not annotated for permissions. Declare which permissions are required using @EnforcePermission. If permissions are manually verified within the implementation, use @PermissionManuallyEnforced. If no permissions are required, use @RequiresNoPermission.";
    // no method annotated: once, at the interface
    let got = only(
        "missing-permission-annotation",
        "p/IFoo.aidl",
        "package p; interface IFoo { void f(); void g(); }",
    );
    assert_eq!(
        got,
        [format!(
            "p/IFoo.aidl:1:22: warning: `IFoo` {ADVICE} This can be done for the whole interface or for each method. [-Wmissing-permission-annotation]"
        )],
        "{got:#?}"
    );
    // some annotated: each method that is not
    let got = only(
        "missing-permission-annotation",
        "p/IFoo.aidl",
        "package p; interface IFoo {\n@RequiresNoPermission void f();\nvoid g();\n@PermissionManuallyEnforced void h();\nvoid i(); }",
    );
    assert_eq!(
        got,
        [
            format!("p/IFoo.aidl:3:6: warning: `g` {ADVICE} [-Wmissing-permission-annotation]"),
            format!("p/IFoo.aidl:5:6: warning: `i` {ADVICE} [-Wmissing-permission-annotation]"),
        ],
        "{got:#?}"
    );
    // annotated interface, every method annotated, or suppressed: nothing
    for text in [
        "package p; @RequiresNoPermission interface IFoo { void f(); }",
        "package p; @EnforcePermission(\"INTERNET\") interface IFoo { void f(); }",
        "package p; interface IFoo { @EnforcePermission(\"INTERNET\") void f(); @RequiresNoPermission void g(); }",
        "package p; @SuppressWarnings(value={\"missing-permission-annotation\"}) interface IFoo { void f(); }",
    ] {
        assert_eq!(
            only("missing-permission-annotation", "p/IFoo.aidl", text),
            Vec::<String>::new(),
            "{text}"
        );
    }
}

#[test]
fn unknown_warning_in_suppress_warnings_is_always_an_error() {
    let bad = "package p;\n@SuppressWarnings(value={\"no-such-warning\"})\ninterface IFoo { void f(); }\n";
    for flags in [&[][..], &["-Wno-unknown-warning"], &["-Weverything"]] {
        let err = check_files(flags, &[("p/IFoo.aidl", bad)]).unwrap_err();
        assert!(
            err.contains("error: unknown warning: no-such-warning [-Wunknown-warning]"),
            "{err}"
        );
        assert!(err.contains("--> p/IFoo.aidl:3:11"), "{err}");
    }
    // on a method too
    let on_method = "package p; interface IFoo { @SuppressWarnings(value={\"bogus\"}) void f(); }";
    let err = check_files(&[], &[("p/IFoo.aidl", on_method)]).unwrap_err();
    assert!(err.contains("unknown warning: bogus"), "{err}");
    // known names are fine
    let good = "package p;\n@SuppressWarnings(value={\"unknown-warning\", \"redundant-oneway\"})\ninterface IFoo { void f(); }\n";
    assert!(check_files(&[], &[("p/IFoo.aidl", good)]).is_ok());
}

#[test]
fn redundant_oneway() {
    let got = only(
        "redundant-oneway",
        "p/IFoo.aidl",
        "package p;\noneway interface IFoo {\n    oneway void f();\n    void g();\n}\n",
    );
    assert_eq!(
        got,
        ["p/IFoo.aidl:3:17: warning: The method `f` is oneway, and so is its interface `IFoo`: the method's `oneway` is redundant. [-Wredundant-oneway]"],
        "{got:#?}"
    );
    // a oneway method of a two-way interface, a suppressed one: nothing
    for text in [
        "package p; interface IFoo { oneway void f(); void g(); }",
        "package p; oneway interface IFoo { @SuppressWarnings(value={\"redundant-oneway\"}) oneway void f(); }",
    ] {
        assert_eq!(
            only("redundant-oneway", "p/IFoo.aidl", text),
            Vec::<String>::new(),
            "{text}"
        );
    }
    // -Werror makes it an error
    let err = check_files(
        &["-Wredundant-oneway", "-Werror"],
        &[(
            "p/IFoo.aidl",
            "package p; oneway interface IFoo { oneway void f(); }",
        )],
    )
    .unwrap_err();
    assert!(err.contains("error: The method `f` is oneway"), "{err}");
}

#[test]
fn out_nullable_leaves_arrays_out() {
    let data = ("@aidl/p/Data.aidl", "package p; parcelable Data { int x; }");
    let got = check_files(
        &["-Wout-nullable"],
        &[
            (
                "aidl/p/IFoo.aidl",
                "package p; import p.Data; interface IFoo { void f(out @nullable int[] a, out @nullable Data[] b, out @nullable Data d); }",
            ),
            data,
        ],
    )
    .unwrap();
    assert_eq!(
        got,
        ["aidl/p/IFoo.aidl:1:117: warning: `d` is a @nullable out parameter [-Wout-nullable]"],
        "{got:#?}"
    );
}

#[test]
fn enums_without_zero_are_fine() {
    let got = check_files(
        &["-Weverything", "-Werror"],
        &[(
            "p/E.aidl",
            "package p; @Backing(type=\"int\") enum E { FOO = 1, BAR = 2 }",
        )],
    );
    assert_eq!(got, Ok(Vec::new()));
}

#[test]
fn aosp_test_flags_accept_a_realistic_file_set() {
    let flags = [
        "-Weverything",
        "-Wno-missing-permission-annotation",
        "-Werror",
    ];
    let files = [
        (
            "aidl/p/Status.aidl",
            "package p;\n@Backing(type=\"int\")\nenum Status { OK = 1, FAILED = 2 }\n",
        ),
        (
            "aidl/p/Result.aidl",
            "package p;\nimport p.Status;\nparcelable Result {\n    Status status = Status.OK;\n    @nullable String detail;\n}\n",
        ),
        (
            "aidl/p/IService.aidl",
            "package p;\nimport p.IListener;\nimport p.Result;\ninterface IService {\n    const int MAX_ITEMS = 16;\n    Result run(in String what);\n    @SuppressWarnings(value={\"out-array\"})\n    void fill(out @nullable int[] values);\n    void listen(IListener listener);\n}\n",
        ),
        (
            "aidl/p/IListener.aidl",
            "package p;\nimport p.Result;\noneway interface IListener {\n    void onResult(in Result r);\n    void onError(int code);\n}\n",
        ),
    ];
    let got = check_files(&flags, &files);
    assert_eq!(got, Ok(Vec::new()));
    // the same set with the permission warning on, as a plain warning
    let got = check_files(&["-Weverything"], &files).unwrap();
    assert!(
        !got.is_empty()
            && got
                .iter()
                .all(|w| w.contains("[-Wmissing-permission-annotation]")),
        "{got:#?}"
    );
}

#[test]
fn enumerators_are_named_in_upper_case_too() {
    let got = only(
        "const-name",
        "p/E.aidl",
        "package p; enum E { Foo, BAR_2, Baz }",
    );
    assert_eq!(
        got,
        [
            "p/E.aidl:1:21: warning: enum values should be named in upper case: `Foo` [-Wconst-name]",
            "p/E.aidl:1:33: warning: enum values should be named in upper case: `Baz` [-Wconst-name]",
        ],
        "{got:#?}"
    );
}

#[test]
fn enum_explicit_default_asks_only_where_a_default_is_taken() {
    // a union's later fields start from no default; arrays, nullable
    // fields and written defaults are exempt, as in AOSP (a union's first
    // enum field without a default is an error of its own)
    let e = ("p/E.aidl", "package p; enum E { A, B }");
    let got = check_files(
        &["-Wenum-explicit-default"],
        &[
            e,
            (
                "p/U.aidl",
                "package p; import p.E; union U { E first = E.A; E second; }",
            ),
            (
                "p/D.aidl",
                "package p; import p.E; parcelable D { E a; E b = E.B; @nullable E[] c; E[] d; }",
            ),
        ],
    )
    .unwrap();
    assert_eq!(
        got,
        [
            "p/D.aidl:1:41: warning: the enum field `a` has no explicit default [-Wenum-explicit-default]",
        ],
        "{got:#?}"
    );
}

#[test]
fn redundant_name_compares_whole_words() {
    // `FOOD` does not repeat the word `Foo`; `IFooBar.BAR_SIZE` repeats `Bar`
    let got = only(
        "redundant-name",
        "p/IFooBar.aidl",
        "package p; interface IFooBar { const int FOOD = 1; const int BAR_SIZE = 2; }",
    );
    assert_eq!(
        got,
        ["p/IFooBar.aidl:1:62: warning: the constant `BAR_SIZE` has a redundant substring `BAR` being defined in `IFooBar` [-Wredundant-name]"],
        "{got:#?}"
    );
}
