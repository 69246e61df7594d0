//! The full rustc-style rendering of diagnostics (annotate-snippets).

use capbinder_idl::Session;

fn render(files: &[(&str, &str)]) -> String {
    let mut s = Session::new();
    s.add_include_dir("aidl");
    for (path, text) in files {
        match path.strip_prefix('@') {
            Some(p) => s.add_virtual_file(p, *text),
            None => s.add_source(*path, *text),
        };
    }
    s.check()
        .map(|_| String::from("OK"))
        .unwrap_or_else(|d| d.render(false))
}

#[test]
fn unknown_type_with_help() {
    let got = render(&[
        (
            "aidl/p/IThing.aidl",
            "package p;\n\ninterface IThing {\n    /** Gets it. */\n    Foo get();\n}\n",
        ),
        ("@aidl/p/Foo.aidl", "package p;\nparcelable Foo {}\n"),
    ]);
    let expected = "error: unknown type `Foo`\n --> aidl/p/IThing.aidl:5:5\n  |\n5 |     Foo get();\n  |     ^^^ not found\n  |\n  = note: looked for `Foo.aidl` in the include roots: `aidl`\n  = help: `p.Foo` is in the same package, but AIDL needs an import: add `import p.Foo;`\n\nerror: aborting due to 1 previous error\n";
    assert_eq!(got, expected, "\n{got}");
}

#[test]
fn out_of_range_with_suffix_help() {
    let got = render(&[(
        "aidl/p/I.aidl",
        "package p;\ninterface I {\n    const byte FLAGS = 0xFF;\n}\n",
    )]);
    let expected = "error: value 255 is out of range for `byte`\n --> aidl/p/I.aidl:3:24\n  |\n3 |     const byte FLAGS = 0xFF;\n  |                        ^^^^\n  |\n  = help: to write a wrapped value, add a suffix: `0xFFu8`\n\nerror: aborting due to 1 previous error\n";
    assert_eq!(got, expected, "\n{got}");
}

#[test]
fn redefined_method_with_secondary_label() {
    let got = render(&[(
        "aidl/p/I.aidl",
        "package p;\ninterface I {\n    void f();\n    int g();\n    int f(int x);\n}\n",
    )]);
    let expected = "error: method `f` is defined more than once\n --> aidl/p/I.aidl:5:9\n  |\n3 |     void f();\n  |          - previously defined here\n4 |     int g();\n5 |     int f(int x);\n  |         ^ redefined here\n  |\n  = note: AIDL has no overloading: every method needs its own name\n\nerror: aborting due to 1 previous error\n";
    assert_eq!(got, expected, "\n{got}");
}

#[test]
fn syntax_errors_and_unclosed_brace() {
    let got = render(&[("aidl/p/I.aidl", "package p;\ninterface I {\n    void f(in int x;\n    void g();\n\nparcelable Q { int x }\n")]);
    let expected = "error: expected `)`, found `;`\n --> aidl/p/I.aidl:3:20\n  |\n3 |     void f(in int x;\n  |                    ^ expected `)`\n  |\n\nerror: expected `(`, `=` or `;`, found `}`\n --> aidl/p/I.aidl:6:22\n  |\n6 | parcelable Q { int x }\n  |                      ^ expected `(`, `=` or `;`\n  |\n\nerror: expected `}`, found end of file\n --> aidl/p/I.aidl:6:23\n  |\n2 | interface I {\n  |             - unclosed brace\n3 |     void f(in int x;\n4 |     void g();\n5 |\n6 | parcelable Q { int x }\n  |                       ^ expected `}`\n  |\n\nerror: aborting due to 3 previous errors\n";
    assert_eq!(got, expected, "\n{got}");
}

#[test]
fn circular_reference() {
    let got = render(&[("aidl/p/I.aidl", "package p;\ninterface I {\n    const int A = B + 1;\n    const int B = C;\n    const int C = A;\n}\n")]);
    let expected = "error: found a circular reference: I.A -> I.B -> I.C -> I.A\n --> aidl/p/I.aidl:5:19\n  |\n5 |     const int C = A;\n  |                   ^ this reference closes the cycle\n  |\n\nerror: aborting due to 1 previous error\n";
    assert_eq!(got, expected, "\n{got}");
}

#[test]
fn several_errors_in_one_run() {
    let got = render(&[("aidl/p/I.aidl", "package p;\ninterface I {\n    void f(Missing m, out String s);\n    oneway int g();\n    const int X = 1 << 40;\n}\n")]);
    let expected = "error: unknown type `Missing`\n --> aidl/p/I.aidl:3:12\n  |\n3 |     void f(Missing m, out String s);\n  |            ^^^^^^^ not found\n  |\n  = note: looked for `Missing.aidl` in the include roots: `aidl`\n\nerror: `s` can't be an out parameter because String can only be an in parameter\n --> aidl/p/I.aidl:3:23\n  |\n3 |     void f(Missing m, out String s);\n  |                       ^^^ `out` not allowed here\n  |\n\nerror: oneway method `g` cannot return a value\n --> aidl/p/I.aidl:4:12\n  |\n4 |     oneway int g();\n  |            ^^^ must be `void`\n  |\n\nerror: constant expression computation overflows\n --> aidl/p/I.aidl:5:19\n  |\n5 |     const int X = 1 << 40;\n  |                   ^^^^^^^\n  |\n\nerror: aborting due to 4 previous errors\n";
    assert_eq!(got, expected, "\n{got}");
}
