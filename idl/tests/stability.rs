//! `--structured` and `--stability vintf`, AOSP's options for a stable
//! (vendor) interface: what they refuse, with AOSP's messages, and what
//! they let through (nested types, imports, the compiler's own types).

use capbinder_idl::{Session, Stability};

/// The error messages of checking `files` (path, text) with the options.
fn errors(files: &[(&str, &str)], structured: bool, stability: Stability) -> Vec<String> {
    let mut s = Session::new();
    s.set_structured(structured).set_stability(stability);
    let (inputs, imports) = files.split_at(1);
    for (path, text) in inputs {
        s.add_source(*path, *text);
    }
    for (path, text) in imports {
        s.add_virtual_file(*path, *text);
    }
    match s.check() {
        Ok(_) => Vec::new(),
        Err(d) => d.iter().map(|d| d.message.clone()).collect(),
    }
}

#[test]
fn a_type_without_vintf_stability_is_refused() {
    // AOSP's VintfStabilityAppliesToNestedTypesAsWell (the refused half).
    let e = errors(&[("Foo.aidl", "parcelable Foo {}")], true, Stability::Vintf);
    assert_eq!(
        e,
        ["Foo does not have VINTF level stability, but this interface requires it."]
    );
    assert!(errors(
        &[("Foo.aidl", "parcelable Foo {}")],
        true,
        Stability::Unspecified
    )
    .is_empty());
}

#[test]
fn nested_types_take_their_parents_stability() {
    // AOSP's VintfStabilityAppliesToNestedTypesAsWell: nested interfaces,
    // two deep, and a union whose Tag the compiler makes.
    let src = "@VintfStability interface Foo {
        interface INested { interface INastyNester { void f(); } }
        union U { int a; String b; }
    }";
    assert_eq!(
        errors(&[("Foo.aidl", src)], true, Stability::Vintf),
        Vec::<String>::new()
    );
}

#[test]
fn an_imported_type_must_be_as_stable() {
    let foo = "package p; import p.Bar; @VintfStability interface IFoo { void f(in Bar b); }";
    let bar = "package p; parcelable Bar { int x; }";
    let e = errors(
        &[("p/IFoo.aidl", foo), ("p/Bar.aidl", bar)],
        true,
        Stability::Vintf,
    );
    assert_eq!(
        e,
        ["p.Bar does not have VINTF level stability, but this interface requires it."]
    );
}

#[test]
fn structured_refuses_parcelables_defined_elsewhere() {
    let foo = "package p; import p.Native; interface IFoo { void f(in Native n); }";
    let native = "package p; parcelable Native cpp_header \"native.h\";";
    let e = errors(
        &[("p/IFoo.aidl", foo), ("p/Native.aidl", native)],
        true,
        Stability::Unspecified,
    );
    assert_eq!(
        e,
        ["p.Native is not structured, but this is a structured interface."]
    );
    assert!(errors(
        &[("p/IFoo.aidl", foo), ("p/Native.aidl", native)],
        false,
        Stability::Unspecified
    )
    .is_empty());
    // Marked stable for this backend, it may be used.
    let stable =
        "package p; @RustOnlyStableParcelable parcelable Native rust_type \"crate::Native\";";
    assert!(errors(
        &[("p/IFoo.aidl", foo), ("p/Native.aidl", stable)],
        true,
        Stability::Unspecified
    )
    .is_empty());
}

#[test]
fn only_vintf_is_a_stability() {
    assert_eq!(Stability::parse("vintf"), Ok(Stability::Vintf));
    assert!(Stability::parse("vendor").unwrap_err().contains("vintf"));
}
