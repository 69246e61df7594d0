//! AOSP's optional warnings (`-Weverything`, `-Wname`, `-Wno-name`,
//! `-Werror`; `diagnostics.def` and `diagnostics.cpp` in AOSP's `aidl`).
//! None is on unless asked for; `@SuppressWarnings(value={"name"})` on a
//! type or member silences `name` for it and what it contains.
//!
//! ```
//! let mut s = capbinder_idl::Session::new();
//! s.add_warning_flag("-Weverything").unwrap();
//! s.add_source("p/Foo.aidl", "package p; interface Foo { void f(inout int[] a); }");
//! let model = s.check().unwrap();
//! let names: Vec<String> = model.warnings().iter().map(|d| d.message.clone()).collect();
//! assert!(names.iter().any(|m| m.contains("[-Winterface-name]")));
//! assert!(names.iter().any(|m| m.contains("[-Winout-parameter]")));
//! ```

use std::collections::BTreeSet;

use crate::ast::Direction;
use crate::diagnostic::{Diagnostic, Severity};
use crate::model::{Annotations, Argument, Model, TypeDecl, TypeDeclKind, TypeKind};
use crate::source::Location;

/// Every warning this front end knows, by AOSP's name.
pub const WARNINGS: &[&str] = &[
    "const-name",
    "enum-explicit-default",
    "enum-zero",
    "file-descriptor",
    "inout-parameter",
    "interface-name",
    "mixed-oneway",
    "out-array",
    "out-nullable",
    "redundant-name",
    "untyped-collection",
];

/// Which warnings are on, from `-W` flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WarningFlags {
    everything: bool,
    enabled: BTreeSet<String>,
    disabled: BTreeSet<String>,
    error: bool,
}

impl WarningFlags {
    /// Applies one flag: `-Weverything`, `-Werror`, `-Wname` or
    /// `-Wno-name` (the `-W` may be left out). An unknown name is an error,
    /// as in AOSP.
    pub fn add(&mut self, flag: &str) -> Result<(), String> {
        let f = flag.strip_prefix("-W").unwrap_or(flag);
        match f {
            "everything" => self.everything = true,
            "error" => self.error = true,
            "no-error" => self.error = false,
            _ => {
                let (on, name) = match f.strip_prefix("no-") {
                    Some(n) => (false, n),
                    None => (true, f),
                };
                if !WARNINGS.contains(&name) {
                    return Err(format!(
                        "unknown warning `{name}` in `{flag}`; known ones: {}",
                        WARNINGS.join(", ")
                    ));
                }
                if on {
                    self.disabled.remove(name);
                    self.enabled.insert(name.to_string());
                } else {
                    self.enabled.remove(name);
                    self.disabled.insert(name.to_string());
                }
            }
        }
        Ok(())
    }

    /// Whether warning `name` is on.
    pub fn is_on(&self, name: &str) -> bool {
        !self.disabled.contains(name) && (self.everything || self.enabled.contains(name))
    }

    /// Whether warnings are errors (`-Werror`).
    pub fn as_errors(&self) -> bool {
        self.error
    }

    fn any_on(&self) -> bool {
        WARNINGS.iter().any(|w| self.is_on(w))
    }
}

/// The names `@SuppressWarnings` lists in a set of annotations.
fn suppressed(a: &Annotations) -> Vec<String> {
    a.get_all("SuppressWarnings")
        .flat_map(|s| s.param_str_list("value"))
        .map(str::to_string)
        .collect()
}

fn is_upper_snake(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The name without the `I` of an interface name (`IFoo` → `Foo`), if it
/// has one.
fn interface_stem(name: &str) -> Option<&str> {
    name.strip_prefix('I')
        .filter(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
}

/// `FooBar` → `FOO_BAR`, the prefix `redundant-name` looks for.
fn upper_snake(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

struct Linter<'a> {
    flags: &'a WarningFlags,
    out: Vec<Diagnostic>,
    /// Suppressed names, one entry per enclosing scope.
    stack: Vec<Vec<String>>,
}

impl Linter<'_> {
    fn warn(&mut self, name: &str, at: Location, message: String, label: &str) {
        if !self.flags.is_on(name) || self.stack.iter().flatten().any(|s| s == name) {
            return;
        }
        let mut d = Diagnostic::warning(format!("{message} [-W{name}]"))
            .with_label(at, label)
            .with_note(format!(
                "silence it with `@SuppressWarnings(value={{\"{name}\"}})`"
            ));
        if self.flags.error {
            d.severity = Severity::Error;
        }
        self.out.push(d);
    }

    fn with<F: FnOnce(&mut Self)>(&mut self, a: &Annotations, f: F) {
        self.stack.push(suppressed(a));
        f(self);
        self.stack.pop();
    }

    fn type_uses(&mut self, ty: &crate::model::Type) {
        match &ty.kind {
            TypeKind::List(None) | TypeKind::Map(None) => {
                let what = if matches!(ty.kind, TypeKind::List(_)) {
                    "List"
                } else {
                    "Map"
                };
                self.warn(
                    "untyped-collection",
                    ty.location,
                    format!("`{what}` is untyped"),
                    "give the element type",
                );
            }
            TypeKind::FileDescriptor => self.warn(
                "file-descriptor",
                ty.location,
                "use `ParcelFileDescriptor` instead of `FileDescriptor`".into(),
                "",
            ),
            _ => {}
        }
    }

    /// `redundant-name`: `name` starts with its type's name, `prefix`.
    fn redundant_prefix(
        &mut self,
        what: &str,
        name: &str,
        prefix: &str,
        at: Location,
        label: &str,
    ) {
        if name.starts_with(prefix) && name.len() > prefix.len() {
            self.warn(
                "redundant-name",
                at,
                format!("{what} `{name}` has a redundant prefix `{prefix}`"),
                label,
            );
        }
    }

    /// `inout-parameter`, `out-array` and `out-nullable`.
    fn argument(&mut self, a: &Argument) {
        if a.direction == Direction::InOut {
            self.warn(
                "inout-parameter",
                a.location,
                format!("`{}` is an inout parameter", a.name),
                "both ways",
            );
        }
        if a.direction != Direction::In && a.ty.is_array() {
            self.warn(
                "out-array",
                a.location,
                format!(
                    "`{}` is an array used as an {} parameter; return it instead, its size can't change",
                    a.name,
                    a.direction.as_str()
                ),
                "",
            );
        }
        if a.direction != Direction::In && a.ty.is_nullable() {
            self.warn(
                "out-nullable",
                a.location,
                format!(
                    "`{}` is a @nullable {} parameter",
                    a.name,
                    a.direction.as_str()
                ),
                "",
            );
        }
    }

    fn decl(&mut self, m: &Model, t: &TypeDecl) {
        self.with(&t.annotations, |l| {
            let stem = interface_stem(&t.name).unwrap_or(&t.name);
            let prefix = format!("{}_", upper_snake(stem));
            for c in t.constants() {
                l.with(&c.ty.annotations, |l| {
                    if !is_upper_snake(&c.name) {
                        l.warn(
                            "const-name",
                            c.location,
                            format!("constants should be named in upper snake case: `{}`", c.name),
                            "",
                        );
                    }
                    l.redundant_prefix(
                        "constant",
                        &c.name,
                        &prefix,
                        c.location,
                        "the type's name already says it",
                    );
                    l.type_uses(&c.ty);
                });
            }
            match &t.kind {
                TypeDeclKind::Interface(i) => {
                    if interface_stem(&t.name).is_none() {
                        l.warn(
                            "interface-name",
                            t.location,
                            format!("interface names should start with `I`: `{}`", t.name),
                            "",
                        );
                    }
                    let oneway = i.methods.iter().filter(|x| x.oneway).count();
                    if oneway > 0 && oneway < i.methods.len() {
                        l.warn(
                            "mixed-oneway",
                            t.location,
                            format!(
                                "`{}` has both oneway and two-way methods, which makes the threading of its clients hard to reason about",
                                t.name
                            ),
                            "",
                        );
                    }
                    for me in &i.methods {
                        l.with(&me.return_type.annotations, |l| {
                            l.type_uses(&me.return_type);
                            for a in &me.args {
                                l.with(&a.ty.annotations, |l| {
                                    l.type_uses(&a.ty);
                                    l.argument(a);
                                });
                            }
                        });
                    }
                }
                TypeDeclKind::Parcelable(_) | TypeDeclKind::Union(_) => {
                    for f in t.fields() {
                        l.with(&f.ty.annotations, |l| {
                            l.type_uses(&f.ty);
                            if f.ty.is_enum() && !f.default_explicit && t.as_parcelable().is_some() {
                                l.warn(
                                    "enum-explicit-default",
                                    f.location,
                                    format!("the enum field `{}` has no explicit default", f.name),
                                    "give it one",
                                );
                            }
                        });
                    }
                }
                TypeDeclKind::Enum(e) if !t.synthesized => {
                    if let Some(first) = e.enumerators.first() {
                        if !e.enumerators.iter().any(|x| x.value == 0) {
                            l.warn(
                                "enum-zero",
                                t.location,
                                format!("the enum `{}` has no 0-valued enumerator", t.name),
                                "0 is every field's implicit default",
                            );
                        } else if first.value != 0 {
                            l.warn(
                                "enum-zero",
                                first.location,
                                format!(
                                    "the first enumerator `{}` should be 0 (the default value)",
                                    first.name
                                ),
                                "",
                            );
                        }
                    }
                    let prefix = format!("{}_", upper_snake(&t.name));
                    for x in &e.enumerators {
                        l.redundant_prefix(
                            "enumerator",
                            &x.name,
                            &prefix,
                            x.location,
                            "the enum's name already says it",
                        );
                    }
                }
                _ => {}
            }
            for &n in &t.nested {
                l.decl(m, m.get(n));
            }
        });
    }
}

/// The warnings `flags` turn on, for the types of the input files.
pub(crate) fn lint(model: &Model, flags: &WarningFlags) -> Vec<Diagnostic> {
    if !flags.any_on() {
        return Vec::new();
    }
    let mut l = Linter {
        flags,
        out: Vec::new(),
        stack: Vec::new(),
    };
    for t in model.input_roots() {
        l.decl(model, t);
    }
    l.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_turn_warnings_on_and_off() {
        let mut f = WarningFlags::default();
        assert!(!f.is_on("const-name"));
        f.add("-Weverything").unwrap();
        assert!(f.is_on("const-name") && f.is_on("out-array"));
        f.add("-Wno-const-name").unwrap();
        assert!(!f.is_on("const-name") && f.is_on("out-array"));
        f.add("const-name").unwrap();
        assert!(f.is_on("const-name"));
        assert!(!f.as_errors());
        f.add("-Werror").unwrap();
        assert!(f.as_errors());
        assert!(f
            .add("-Wbogus")
            .unwrap_err()
            .contains("unknown warning `bogus`"));
    }

    #[test]
    fn names() {
        assert_eq!(upper_snake("FooBar"), "FOO_BAR");
        assert!(is_upper_snake("A_1") && !is_upper_snake("a"));
    }
}
