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
@SuppressWarnings(value={"enum-zero", "redundant-name"})
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
        "p/Foo.aidl:4:15: warning: constants should be named in upper snake case: `lowerCase` [-Wconst-name]",
        "p/Foo.aidl:5:15: warning: constant `FOO_LIMIT` has a redundant prefix `FOO_` [-Wredundant-name]",
        "p/Foo.aidl:6:24: warning: `x` is an inout parameter [-Winout-parameter]",
        "p/Foo.aidl:6:24: warning: `x` is an array used as an inout parameter; return it instead, its size can't change [-Wout-array]",
        "p/Foo.aidl:7:35: warning: `s` is an array used as an out parameter; return it instead, its size can't change [-Wout-array]",
        "p/Foo.aidl:7:35: warning: `s` is a @nullable out parameter [-Wout-nullable]",
        "p/Foo.aidl:8:22: warning: `List` is untyped [-Wuntyped-collection]",
        "p/Color.aidl:2:6: warning: the enum `Color` has no 0-valued enumerator [-Wenum-zero]",
        "p/Color.aidl:2:14: warning: enumerator `COLOR_RED` has a redundant prefix `COLOR_` [-Wredundant-name]",
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
    assert_eq!(got.len(), 9, "{got:#?}");
    assert!(got
        .iter()
        .all(|w| !w.contains("out-array") && !w.contains("redundant-name")));
}

#[test]
fn werror_makes_them_errors() {
    let err = check(&["-Wconst-name", "-Werror"]).unwrap_err();
    assert!(
        err.contains(
            "error: constants should be named in upper snake case: `lowerCase` [-Wconst-name]"
        ),
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
