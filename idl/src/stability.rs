//! The two build options that make an AIDL interface a stable API, as
//! AOSP's `aidl` takes them: `--structured` and `--stability vintf`
//! (Soong passes both for an `aidl_interface` with `stability: "vintf"`,
//! the hardware interfaces' case).
//!
//! - Structured: every parcelable is declared in AIDL. An unstructured one
//!   (`parcelable Foo;`, defined in another language) is an error, unless
//!   marked stable for this backend (`@RustOnlyStableParcelable`).
//! - VINTF stability: every type is `@VintfStability`, itself or through
//!   the type it is nested in, as the vendor interface requires (the
//!   compiler's types, a union's `Tag`, are not checked).
//!
//! Every type loaded counts, imported ones too, as in AOSP: an interface
//! cannot be more stable than what it uses.

use crate::diagnostic::Diagnostic;
use crate::model::{DeclKind, Model, TypeDecl};

/// How stable the compiled types must be (`--stability`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Stability {
    /// No requirement (AOSP's default): types of one build of the
    /// platform, not promised across the vendor boundary.
    #[default]
    Unspecified,
    /// `--stability vintf`: every type must be `@VintfStability`.
    Vintf,
}

impl Stability {
    /// Parses the value of `--stability`: `vintf` (AOSP's only one).
    pub fn parse(s: &str) -> Result<Stability, String> {
        match s {
            "vintf" => Ok(Stability::Vintf),
            other => Err(format!(
                "unknown stability {other:?}: the only stability level is `vintf`"
            )),
        }
    }
}

/// Whether `t` or a type it is nested in is `@VintfStability` (AOSP's
/// `IsVintfStability`).
fn is_vintf(model: &Model, t: &TypeDecl) -> bool {
    let mut at = Some(t);
    while let Some(d) = at {
        if d.annotations.has("VintfStability") {
            return true;
        }
        at = d.parent.map(|p| model.get(p));
    }
    false
}

/// The errors the options find in `model`.
pub(crate) fn check_stability(
    model: &Model,
    structured: bool,
    stability: Stability,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for t in model.types().filter(|t| !t.synthesized) {
        if structured
            && t.decl_kind() == DeclKind::UnstructuredParcelable
            && !t.annotations.has("RustOnlyStableParcelable")
        {
            out.push(
                Diagnostic::error(format!(
                    "{} is not structured, but this is a structured interface.",
                    t.qualified_name
                ))
                .with_label(t.location, "declared without fields, in another language")
                .with_help(
                    "declare its fields in AIDL, or mark it @RustOnlyStableParcelable if its Rust type is stable",
                ),
            );
        }
        if stability == Stability::Vintf && !is_vintf(model, t) {
            out.push(
                Diagnostic::error(format!(
                    "{} does not have VINTF level stability, but this interface requires it.",
                    t.qualified_name
                ))
                .with_label(t.location, "not @VintfStability")
                .with_help("annotate it (or the type it is nested in) with @VintfStability"),
            );
        }
    }
    out
}
