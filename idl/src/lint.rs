//! AOSP's optional warnings (`-Weverything`, `-Wname`, `-Wno-name`,
//! `-Werror`; `diagnostics.inc` and `diagnostics.cpp` in AOSP's `aidl`).
//! None is on unless asked for; `@SuppressWarnings(value={"name"})` on a
//! type or member silences `name` for it and what it contains. An unknown
//! name in `@SuppressWarnings` on a type or method is always an error
//! (`unknown-warning`), whatever the flags, as in AOSP.
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

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::annotation::is_permission;
use crate::ast::{self, Direction};
use crate::diagnostic::{Diagnostic, Severity};
use crate::model::{Annotations, Argument, Model, TypeDecl, TypeDeclKind, TypeKind};
use crate::source::{FileId, Location};

/// Every warning this front end knows, by AOSP's name (`diagnostics.inc`,
/// Android 16).
pub const WARNINGS: &[&str] = &[
    "const-name",
    "enum-explicit-default",
    "file-descriptor",
    "inout-parameter",
    "interface-name",
    "missing-permission-annotation",
    "mixed-oneway",
    "out-array",
    "out-nullable",
    "redundant-name",
    "redundant-oneway",
    "unique-import",
    "unknown-warning",
    "untyped-collection",
];

/// The end of AOSP's `missing-permission-annotation` message.
const PERMISSION_ADVICE: &str = " is not annotated for permissions. Declare which permissions are \
    required using @EnforcePermission. If permissions are manually verified within the \
    implementation, use @PermissionManuallyEnforced. If no permissions are required, use \
    @RequiresNoPermission.";

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
}

/// Whether the annotations hold a permission annotation
/// (`@EnforcePermission`, `@RequiresNoPermission`,
/// `@PermissionManuallyEnforced`).
fn permission_annotated(a: &Annotations) -> bool {
    a.iter().any(|x| is_permission(&x.name))
}

/// The names `@SuppressWarnings` lists in a set of annotations.
fn suppressed(a: &Annotations) -> Vec<String> {
    a.get_all("SuppressWarnings")
        .flat_map(|s| s.param_str_list("value"))
        .map(str::to_string)
        .collect()
}

/// AOSP's `const-name` test: the name is unchanged by `toupper`.
fn is_upper_case(s: &str) -> bool {
    !s.chars().any(|c| c.is_ascii_lowercase())
}

/// AOSP's `TokenizeName` for `redundant-name`: an all-capitals name is one
/// token; a name with `_` splits there; any other splits before each
/// capital (`IFoo` is `I`, `Foo`).
fn name_tokens(name: &str) -> Vec<&str> {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase()) {
        return vec![name];
    }
    if name.contains('_') {
        return name.split('_').filter(|t| !t.is_empty()).collect();
    }
    let mut tokens = Vec::new();
    let mut start = 0;
    for (i, c) in name.char_indices().skip(1) {
        if c.is_ascii_uppercase() {
            tokens.push(&name[start..i]);
            start = i;
        }
    }
    if start < name.len() {
        tokens.push(&name[start..]);
    }
    tokens
}

/// The token of `member` that repeats one of `parent`'s, ignoring case.
fn redundant_token<'a>(parent: &str, member: &'a str) -> Option<&'a str> {
    let parent = name_tokens(parent);
    name_tokens(member)
        .into_iter()
        .find(|m| parent.iter().any(|p| p.eq_ignore_ascii_case(m)))
}

struct Linter<'a> {
    flags: &'a WarningFlags,
    out: Vec<Diagnostic>,
    /// Suppressed names, one entry per enclosing scope.
    stack: Vec<Vec<String>>,
    /// Where the methods written `oneway` themselves are (by name).
    oneway_methods: HashSet<Location>,
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

    /// [`with`](Self::with) for the places AOSP reads `@SuppressWarnings`
    /// (types and methods), where an unknown name is an error whatever the
    /// flags (`unknown-warning`, forced to error as in AOSP).
    fn scope<F: FnOnce(&mut Self)>(&mut self, a: &Annotations, at: Location, f: F) {
        for name in suppressed(a) {
            if !WARNINGS.contains(&name.as_str()) {
                self.out.push(
                    Diagnostic::error(format!("unknown warning: {name} [-Wunknown-warning]"))
                        .with_label(at, "in this item's @SuppressWarnings")
                        .with_help(format!("known warnings: {}", WARNINGS.join(", "))),
                );
            }
        }
        self.with(a, f);
    }

    /// `unique-import`, per input file (AOSP's `DiagnoseImports`): an
    /// import whose simple name is that of a type defined in the file, or
    /// of an earlier import.
    fn imports(&mut self, defined: &[&TypeDecl], doc: &ast::Document) {
        let mut seen = HashSet::new();
        for import in &doc.imports {
            let qualified = import.name.text();
            let simple = import.name.last();
            let at = Location::new(doc.file, import.span);
            if defined
                .iter()
                .any(|t| t.name == simple && t.qualified_name != qualified)
            {
                self.warn(
                    "unique-import",
                    at,
                    format!("`{simple}` is already defined in this file."),
                    "",
                );
            }
            if !seen.insert(simple) {
                self.warn(
                    "unique-import",
                    at,
                    format!("`{simple}` is already imported."),
                    "",
                );
            }
        }
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

    /// `redundant-name` (AOSP's `DiagnoseRedundantNames`): a member's name
    /// repeats a word of its type's name (`Color.COLOR_RED`,
    /// `IFoo.FOO_MAX`).
    fn redundant_name(&mut self, what: &str, name: &str, parent: &str, at: Location) {
        if let Some(token) = redundant_token(parent, name) {
            self.warn(
                "redundant-name",
                at,
                format!("the {what} `{name}` has a redundant substring `{token}` being defined in `{parent}`"),
                "the type's name already says it",
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
        // as AOSP, arrays are left out (`if (a.GetType().IsArray()) return;`)
        if a.direction != Direction::In && a.ty.is_nullable() && !a.ty.is_array() {
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
        self.scope(&t.annotations, t.location, |l| {
            for c in t.constants() {
                l.with(&c.ty.annotations, |l| {
                    if !is_upper_case(&c.name) {
                        l.warn(
                            "const-name",
                            c.location,
                            format!("constants should be named in upper case: `{}`", c.name),
                            "",
                        );
                    }
                    l.redundant_name("constant", &c.name, &t.name, c.location);
                    l.type_uses(&c.ty);
                });
            }
            match &t.kind {
                TypeDeclKind::Interface(i) => {
                    // AOSP's test is the first letter alone (`Iterator` passes)
                    if !t.name.starts_with('I') {
                        l.warn(
                            "interface-name",
                            t.location,
                            format!("interface names should start with `I`: `{}`", t.name),
                            "",
                        );
                    }
                    // as AOSP, a method suppressing mixed-oneway is left out
                    let counted = || {
                        i.methods.iter().filter(|x| {
                            !suppressed(x.annotations()).iter().any(|s| s == "mixed-oneway")
                        })
                    };
                    let oneway = counted().filter(|x| x.oneway).count();
                    if oneway > 0 && oneway < counted().count() {
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
                    // missing-permission-annotation (AOSP's
                    // DiagnosePermissionAnnotations): once for the interface
                    // when no method is annotated, else for each method
                    // that is not
                    let unannotated: Option<HashSet<Location>> =
                        if i.forward_declaration || permission_annotated(&t.annotations) {
                            None
                        } else {
                            let missing: HashSet<Location> = i
                                .methods
                                .iter()
                                .filter(|x| !permission_annotated(x.annotations()))
                                .map(|x| x.location)
                                .collect();
                            if missing.len() == i.methods.len() {
                                l.warn(
                                    "missing-permission-annotation",
                                    t.location,
                                    format!(
                                        "`{}`{PERMISSION_ADVICE} This can be done for the whole interface or for each method.",
                                        t.name
                                    ),
                                    "",
                                );
                                None
                            } else {
                                Some(missing)
                            }
                        };
                    for me in &i.methods {
                        l.scope(&me.return_type.annotations, me.location, |l| {
                            if i.oneway && l.oneway_methods.contains(&me.location) {
                                l.warn(
                                    "redundant-oneway",
                                    me.location,
                                    format!(
                                        "The method `{}` is oneway, and so is its interface `{}`: the method's `oneway` is redundant.",
                                        me.name, t.name
                                    ),
                                    "remove this method's `oneway`",
                                );
                            }
                            if let Some(unannotated) = &unannotated {
                                if unannotated.contains(&me.location) {
                                    l.warn(
                                        "missing-permission-annotation",
                                        me.location,
                                        format!("`{}`{PERMISSION_ADVICE}", me.name),
                                        "",
                                    );
                                }
                            }
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
                    let is_union = matches!(t.kind, TypeDeclKind::Union(_));
                    for (i, f) in t.fields().iter().enumerate() {
                        l.with(&f.ty.annotations, |l| {
                            l.type_uses(&f.ty);
                            // AOSP's DiagnoseExplicitDefault: every field of
                            // a parcelable, the first (the default) of a union
                            let holds_default = !is_union || i == 0;
                            if holds_default
                                && f.ty.is_enum()
                                && !f.ty.is_nullable()
                                && !f.default_explicit
                            {
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
                    for x in &e.enumerators {
                        if !is_upper_case(&x.name) {
                            l.warn(
                                "const-name",
                                x.location,
                                format!("enum values should be named in upper case: `{}`", x.name),
                                "",
                            );
                        }
                        l.redundant_name("enumerator", &x.name, &t.name, x.location);
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

/// Adds where the methods written `oneway` are, in `decl` and its nested
/// declarations.
fn oneway_methods(file: FileId, decl: &ast::Decl, out: &mut HashSet<Location>) {
    for member in decl.members() {
        match member {
            ast::Member::Method(m) if m.oneway.is_some() => {
                out.insert(Location::new(file, m.name.span));
            }
            ast::Member::Decl(d) => oneway_methods(file, d, out),
            _ => {}
        }
    }
}

/// The warnings `flags` turn on, for the input files; and the
/// `unknown-warning` errors, which no flag turns off.
pub(crate) fn lint(model: &Model, flags: &WarningFlags) -> Vec<Diagnostic> {
    let mut defined: BTreeMap<FileId, Vec<&TypeDecl>> = BTreeMap::new();
    for t in model.input_roots() {
        defined.entry(t.location.file).or_default().push(t);
    }
    let inputs: Vec<&ast::Document> = model
        .documents()
        .iter()
        .filter(|d| defined.contains_key(&d.file))
        .collect();
    let mut l = Linter {
        flags,
        out: Vec::new(),
        stack: Vec::new(),
        oneway_methods: HashSet::new(),
    };
    for doc in &inputs {
        for decl in &doc.decls {
            oneway_methods(doc.file, decl, &mut l.oneway_methods);
        }
        if flags.is_on("unique-import") {
            l.imports(&defined[&doc.file], doc);
        }
    }
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
    fn names_split_into_words_as_aosp_splits_them() {
        assert!(is_upper_case("A_1") && is_upper_case("FOO__X") && !is_upper_case("Foo"));
        assert_eq!(name_tokens("COLOR"), ["COLOR"]);
        assert_eq!(name_tokens("COLOR_RED"), ["COLOR", "RED"]);
        assert_eq!(name_tokens("_A__B_"), ["A", "B"]);
        assert_eq!(name_tokens("IFooBar"), ["I", "Foo", "Bar"]);
        assert_eq!(name_tokens("FOO1"), ["F", "O", "O1"]);
        assert_eq!(redundant_token("Color", "COLOR_RED"), Some("COLOR"));
        assert_eq!(redundant_token("Color", "RED_COLOR"), Some("COLOR"));
        assert_eq!(redundant_token("Color", "COLORFUL"), None);
        assert_eq!(redundant_token("IFoo", "FOO_MAX"), Some("FOO"));
    }
}
