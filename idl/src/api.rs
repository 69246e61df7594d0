//! The API compatibility check between two frozen versions of an AIDL API
//! (AOSP's `aidl --checkapi[=compatible|equal] OLD_DIR NEW_DIR`, following
//! `aidl_checkapi.cpp`).
//!
//! Every `.aidl` file under each directory is loaded (the directory is its
//! own import root, plus any given include roots), and each type declared
//! in the old directory is compared with the type of the same name in the
//! new one. [`ApiLevel::Compatible`] accepts what older and newer peers
//! can both live with:
//!
//! * no type removed, none changed into another kind;
//! * interfaces: no method removed or changed (methods are matched by
//!   signature), transaction ids kept, `oneway` and directions kept,
//!   return and parameter types kept; new methods anywhere that keeps the
//!   old ids (in practice, at the end);
//! * parcelables and unions: fields only appended, none reordered, retyped
//!   or given another default; an appended field needs a useful default (a
//!   written one, or `@nullable`; an enum needs a zero enumerator);
//!   `@FixedSize` ones can't grow;
//! * enums: the backing type kept, no enumerator removed or revalued;
//! * constants: none removed, retyped or revalued;
//! * annotations that change the wire or the generated API kept (all but
//!   `@nullable`, `@Backing` (checked with the enum), `@JavaDerive`,
//!   `@JavaDefault`, `@JavaDelegator`, `@JavaOnlyImmutable`,
//!   `@JavaSuppressLint`, `@RustDerive`, `@SuppressWarnings`,
//!   `@SensitiveData` and `@JavaPassthrough(annotation="@Deprecated...")`).
//!
//! [`ApiLevel::Equal`] requires the same types with the same contents
//! (comments aside), as AOSP's check that `current` matches the last
//! frozen version.
//!
//! ```
//! use capbinder_idl::api::{check_api, ApiLevel};
//! let old = tempfile_dir(&[("p/IFoo.aidl", "package p; interface IFoo { void a(); }")]);
//! let new = tempfile_dir(&[("p/IFoo.aidl", "package p; interface IFoo { void b(); void a(); }")]);
//! let err = check_api(&old, &new, &[], ApiLevel::Compatible).unwrap_err();
//! assert!(err.to_string().contains("transaction id changed: `p.IFoo.a()` is changed from 0 to 1"));
//! # fn tempfile_dir(files: &[(&str, &str)]) -> std::path::PathBuf {
//! #     let d = std::env::temp_dir().join(format!("capbinder-api-doc-{}-{}", std::process::id(), files[0].1.len()));
//! #     for (p, t) in files {
//! #         let f = d.join(p);
//! #         std::fs::create_dir_all(f.parent().unwrap()).unwrap();
//! #         std::fs::write(f, t).unwrap();
//! #     }
//! #     d
//! # }
//! ```

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, Diagnostics, Label};
use crate::model::{
    Annotations, Constant, DeclKind, Enumerator, Field, Method, Model, Type, TypeDecl, TypeDeclKind,
};
use crate::source::{FileId, Location, SourceMap};
use crate::Session;

/// How strict the comparison is (`--checkapi=compatible` or `=equal`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum ApiLevel {
    /// The new version may extend the old one compatibly (the default).
    #[default]
    Compatible,
    /// The new version must declare the same types with the same contents.
    Equal,
}

/// Annotations that do not change what is sent or what the generated API
/// is, so adding or removing them is compatible (AOSP's
/// `kIgnoreAnnotations`).
const IGNORED_ANNOTATIONS: &[&str] = &[
    "nullable",
    "JavaDerive",
    "JavaDefault",
    "JavaDelegator",
    "JavaOnlyImmutable",
    "JavaSuppressLint",
    "Backing",
    "RustDerive",
    "SuppressWarnings",
    "SensitiveData",
];

/// Fields AOSP lets old API versions append without a useful default.
const HISTORICAL_EXCEPTIONS: &[(&str, &str)] = &[
    ("android.net.DhcpResultsParcelable", "serverHostName"),
    ("android.net.ResolverParamsParcel", "resolverOptions"),
];

/// Compares the API in `new_dir` with the frozen one in `old_dir`.
///
/// `Ok` holds the warnings of loading both (usually none); `Err` holds the
/// errors: what could not be loaded, or every incompatibility, pointing at
/// the old or new file it is about.
pub fn check_api(
    old_dir: &Path,
    new_dir: &Path,
    include_dirs: &[PathBuf],
    level: ApiLevel,
) -> Result<Diagnostics, Diagnostics> {
    let old = load(old_dir, include_dirs)?;
    let new = load(new_dir, include_dirs)?;
    // one source map for both, so one diagnostic list can point into either
    let mut sources = SourceMap::new();
    let old_base = append_sources(&mut sources, old.sources());
    let new_base = append_sources(&mut sources, new.sources());
    let mut c = Compare {
        old: &old,
        new: &new,
        old_base,
        new_base,
        diags: Vec::new(),
    };
    c.run(level);
    let mut diags = c.diags;
    let mut warnings = shift_all(old.warnings().clone().into_vec(), old_base);
    warnings.extend(shift_all(new.warnings().clone().into_vec(), new_base));
    let sources = Arc::new(sources);
    if diags.is_empty() {
        Ok(Diagnostics::new(warnings, sources))
    } else {
        diags.extend(warnings);
        Err(Diagnostics::new(diags, sources))
    }
}

/// Every `.aidl` file under `dir`, sorted.
fn aidl_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            aidl_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "aidl") {
            out.push(p);
        }
    }
}

fn load(dir: &Path, include_dirs: &[PathBuf]) -> Result<Model, Diagnostics> {
    let mut s = Session::new();
    s.add_include_dir(dir);
    for i in include_dirs {
        s.add_include_dir(i);
    }
    let mut files = Vec::new();
    aidl_files(dir, &mut files);
    files.sort();
    if files.is_empty() {
        return Err(Diagnostics::new(
            vec![
                Diagnostic::error(format!("no `.aidl` files in `{}`", dir.display()))
                    .with_help("give the directory of a frozen version, such as `aidl_api/NAME/1`"),
            ],
            Arc::new(SourceMap::new()),
        ));
    }
    for f in files {
        s.add_input(f);
    }
    s.check()
}

fn append_sources(into: &mut SourceMap, from: &SourceMap) -> u32 {
    let base = into.len() as u32;
    for (_, f) in from.files() {
        into.add(
            f.path().to_path_buf(),
            f.name().to_string(),
            f.text().to_string(),
        );
    }
    base
}

fn shift(l: Location, base: u32) -> Location {
    Location::new(FileId(l.file.0 + base), l.span)
}

fn shift_all(items: Vec<Diagnostic>, base: u32) -> Vec<Diagnostic> {
    items
        .into_iter()
        .map(|mut d| {
            for Label { location, .. } in &mut d.labels {
                *location = shift(*location, base);
            }
            d
        })
        .collect()
}

fn kind_name(k: DeclKind) -> &'static str {
    match k {
        DeclKind::Interface => "interface",
        DeclKind::Parcelable => "parcelable",
        DeclKind::UnstructuredParcelable => "unstructured parcelable",
        DeclKind::Enum => "enum",
        DeclKind::Union => "union",
    }
}

/// An annotation as AOSP's `ToString` writes it: `@Name(a=1, b="x")`,
/// parameters sorted by name.
fn annotation_string(a: &crate::model::Annotation) -> String {
    if a.params.is_empty() {
        return format!("@{}", a.name);
    }
    let mut params: Vec<String> = a.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    params.sort();
    format!("@{}({})", a.name, params.join(", "))
}

fn strict_annotations(a: &Annotations) -> Vec<String> {
    let mut v: Vec<String> = a
        .iter()
        .filter(|a| !IGNORED_ANNOTATIONS.contains(&a.name.as_str()))
        .map(annotation_string)
        // adding `@Deprecated` for Java is compatible
        .filter(|s| !s.starts_with("@JavaPassthrough(annotation=\"@Deprecated"))
        .collect();
    v.sort();
    v
}

fn annotations_text(a: &Annotations) -> String {
    if a.is_empty() {
        "(empty)".into()
    } else {
        a.iter()
            .map(annotation_string)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

struct Compare<'m> {
    old: &'m Model,
    new: &'m Model,
    old_base: u32,
    new_base: u32,
    diags: Vec<Diagnostic>,
}

impl<'m> Compare<'m> {
    fn at_old(&self, l: Location) -> Location {
        shift(l, self.old_base)
    }

    fn at_new(&self, l: Location) -> Location {
        shift(l, self.new_base)
    }

    /// An error at a place in the new version.
    fn new_error(&mut self, l: Location, message: String, label: &str) {
        let d = Diagnostic::error(message).with_label(self.at_new(l), label);
        self.diags.push(d);
    }

    /// An error at a place in the old version (what is gone).
    fn old_error(&mut self, l: Location, message: String, label: &str) {
        let d = Diagnostic::error(message).with_label(self.at_old(l), label);
        self.diags.push(d);
    }

    fn types_in(m: &Model) -> Vec<&TypeDecl> {
        m.input_types().filter(|t| !t.synthesized).collect()
    }

    fn run(&mut self, level: ApiLevel) {
        let old_types = Self::types_in(self.old);
        let new_types = Self::types_in(self.new);
        let new_map: HashMap<&str, &TypeDecl> = new_types
            .iter()
            .map(|t| (t.qualified_name.as_str(), *t))
            .collect();
        if level == ApiLevel::Equal {
            let old_names: BTreeSet<&str> = old_types
                .iter()
                .map(|t| t.qualified_name.as_str())
                .collect();
            for t in &new_types {
                if !old_names.contains(t.qualified_name.as_str()) {
                    self.new_error(
                        t.location,
                        format!("added type: `{}`", t.qualified_name),
                        "not in the old version",
                    );
                }
            }
        }
        for old_t in old_types {
            let Some(new_t) = new_map.get(old_t.qualified_name.as_str()).copied() else {
                self.old_error(
                    old_t.location,
                    format!("removed type: `{}`", old_t.qualified_name),
                    "not in the new version",
                );
                continue;
            };
            if level == ApiLevel::Equal {
                self.equal(old_t, new_t);
                continue;
            }
            self.annotations(&old_t.annotations, &new_t.annotations, new_t.location);
            if old_t.decl_kind() != new_t.decl_kind() {
                self.new_error(
                    new_t.location,
                    format!(
                        "type mismatch: `{}` is changed from {} to {}",
                        old_t.qualified_name,
                        kind_name(old_t.decl_kind()),
                        kind_name(new_t.decl_kind())
                    ),
                    "declared here",
                );
                continue;
            }
            match (&old_t.kind, &new_t.kind) {
                (TypeDeclKind::Interface(o), TypeDeclKind::Interface(n)) => {
                    self.interface(old_t, &o.methods, &n.methods);
                    self.constants(old_t, &o.constants, &n.constants);
                }
                (TypeDeclKind::Parcelable(o), TypeDeclKind::Parcelable(n)) => {
                    self.fields(old_t, new_t, &o.fields, &n.fields);
                    self.constants(old_t, &o.constants, &n.constants);
                }
                (TypeDeclKind::Union(o), TypeDeclKind::Union(n)) => {
                    self.fields(old_t, new_t, &o.fields, &n.fields);
                    self.constants(old_t, &o.constants, &n.constants);
                }
                (TypeDeclKind::Enum(_), TypeDeclKind::Enum(_)) => self.enums(old_t, new_t),
                _ => self.old_error(
                    old_t.location,
                    format!(
                        "unsupported type {} for `{}`: an unstructured parcelable can't be checked",
                        kind_name(old_t.decl_kind()),
                        old_t.qualified_name
                    ),
                    "",
                ),
            }
        }
    }

    fn annotations(&mut self, old: &Annotations, new: &Annotations, at: Location) {
        if strict_annotations(old) != strict_annotations(new) {
            self.new_error(
                at,
                format!(
                    "changed annotations: {} to {}",
                    annotations_text(old),
                    annotations_text(new)
                ),
                "annotations changed here",
            );
        }
    }

    fn types(&mut self, old: &Type, new: &Type) {
        if old.signature() != new.signature() {
            self.new_error(
                new.location,
                format!(
                    "type changed: `{}` to `{}`",
                    old.signature(),
                    new.signature()
                ),
                "changed here",
            );
        }
        self.annotations(&old.annotations, &new.annotations, new.location);
    }

    fn constants(&mut self, owner: &TypeDecl, old: &[Constant], new: &[Constant]) {
        let by_name: HashMap<&str, &Constant> = new.iter().map(|c| (c.name.as_str(), c)).collect();
        for o in old {
            let Some(n) = by_name.get(o.name.as_str()) else {
                self.old_error(
                    o.location,
                    format!(
                        "removed constant declaration: `{}.{}`",
                        owner.qualified_name, o.name
                    ),
                    "not in the new version",
                );
                continue;
            };
            self.types(&o.ty, &n.ty);
            if o.value != n.value {
                self.new_error(
                    n.location,
                    format!(
                        "changed constant value: `{}.{}` from {} to {}",
                        owner.qualified_name, o.name, o.value, n.value
                    ),
                    "value changed",
                );
            }
        }
    }

    fn interface(&mut self, owner: &TypeDecl, old: &[Method], new: &[Method]) {
        let by_sig: HashMap<String, &Method> = new.iter().map(|m| (m.signature(), m)).collect();
        let q = &owner.qualified_name;
        for o in old {
            let sig = o.signature();
            let Some(n) = by_sig.get(&sig).copied() else {
                self.old_error(
                    o.location,
                    format!("removed or changed method: `{q}.{sig}`"),
                    "no method with this signature in the new version",
                );
                continue;
            };
            if o.oneway != n.oneway {
                let what = if o.oneway { "removed" } else { "added" };
                self.new_error(
                    n.location,
                    format!("oneway attribute {what}: `{q}.{sig}`"),
                    "",
                );
            }
            if o.id != n.id {
                self.new_error(
                    n.location,
                    format!(
                        "transaction id changed: `{q}.{sig}` is changed from {} to {}",
                        o.id, n.id
                    ),
                    "methods can only be added after the old ones",
                );
            }
            self.types(&o.return_type, &n.return_type);
            for (oa, na) in o.args.iter().zip(&n.args) {
                self.types(&oa.ty, &na.ty);
                if oa.direction != na.direction {
                    self.new_error(
                        na.location,
                        format!(
                            "direction changed: {} to {}",
                            oa.direction.as_str(),
                            na.direction.as_str()
                        ),
                        "",
                    );
                }
            }
        }
    }

    /// A field's default as AOSP compares it: only a written one counts.
    fn written_default(f: &Field) -> Option<String> {
        f.default
            .as_ref()
            .filter(|_| f.default_explicit)
            .map(|v| v.to_string())
    }

    fn fields(&mut self, old_t: &TypeDecl, new_t: &TypeDecl, old: &[Field], new: &[Field]) {
        let q = &old_t.qualified_name;
        let (from, to) = (old.len(), new.len());
        let count_error = if from > to {
            Some((
                format!("number of fields in `{q}` is reduced from {from} to {to}"),
                "fields can only be added at the end",
            ))
        } else if from == to {
            None
        } else if new_t.annotations.has("FixedSize") {
            Some((
                format!("number of fields in `{q}` is changed from {from} to {to}: an incompatible change for @FixedSize types"),
                "",
            ))
        } else if q == "android.net.UidRangeParcel" {
            Some((
                format!("number of fields in `{q}` is changed from {from} to {to}, which is forbidden for legacy support"),
                "",
            ))
        } else {
            None
        };
        if let Some((message, label)) = count_error {
            self.new_error(new_t.location, message, label);
            return;
        }
        for (o, n) in old.iter().zip(new) {
            self.types(&o.ty, &n.ty);
            let (ov, nv) = (Self::written_default(o), Self::written_default(n));
            if ov == nv {
                continue;
            }
            // an enum field may be given an explicit zero default
            if ov.is_none()
                && n.ty.is_enum()
                && n.default.as_ref().and_then(|v| v.as_i64()).unwrap_or(0) == 0
            {
                continue;
            }
            let show = |v: Option<String>| v.unwrap_or_else(|| "(none)".into());
            self.new_error(
                n.location,
                format!("changed default value: {} to {}", show(ov), show(nv)),
                "",
            );
        }
        let old_pos: HashMap<&str, usize> = old
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.as_str(), i))
            .collect();
        for (i, n) in new.iter().enumerate() {
            if let Some(&oi) = old_pos.get(n.name.as_str()) {
                if oi != i {
                    self.new_error(
                        n.location,
                        format!("reordered `{}` from {oi} to {i}", n.name),
                        "",
                    );
                }
            }
        }
        for n in &new[old.len()..] {
            // AOSP's `HasUsefulDefaultValue`: a written default, null, or
            // the implicit default AOSP gives boolean, byte, int, long,
            // float and double fields (`AidlConstantValue::Default`; not
            // char, String or arrays)
            if n.default_explicit || n.ty.is_nullable() || has_implicit_default(&n.ty) {
                continue;
            }
            if n.ty.is_enum() {
                let has_zero =
                    n.ty.kind
                        .defined()
                        .and_then(|id| self.new.get(id).as_enum())
                        .is_some_and(|e| e.enumerators.iter().any(|x| x.value == 0));
                if has_zero {
                    continue;
                }
                let en = n.ty.kind.signature();
                self.new_error(
                    n.location,
                    format!(
                        "field `{}` of enum `{en}` can't be initialized as 0: make sure `{en}` has 0 as a valid value",
                        n.name
                    ),
                    "added without a default",
                );
                continue;
            }
            if HISTORICAL_EXCEPTIONS.contains(&(q.as_str(), n.name.as_str())) {
                continue;
            }
            let d = Diagnostic::error(format!(
                "field `{}` does not have a useful default in some backends",
                n.name
            ))
            .with_label(self.at_new(n.location), "added without a default")
            .with_help(
                "provide a default value or mark the field @nullable: that value (or null) is what a peer with the new version sees when an old one sends this parcelable, so it must not change its meaning",
            );
            self.diags.push(d);
        }
    }

    fn enums(&mut self, old_t: &TypeDecl, new_t: &TypeDecl) {
        let (Some(o), Some(n)) = (old_t.as_enum(), new_t.as_enum()) else {
            return;
        };
        if o.backing != n.backing {
            self.new_error(
                new_t.location,
                format!(
                    "changed backing types: `{}` to `{}`",
                    o.backing.name(),
                    n.backing.name()
                ),
                "",
            );
            return;
        }
        let by_name: HashMap<&str, &Enumerator> =
            n.enumerators.iter().map(|e| (e.name.as_str(), e)).collect();
        for e in &o.enumerators {
            match by_name.get(e.name.as_str()) {
                None => self.new_error(
                    new_t.location,
                    format!(
                        "removed enumerator from `{}`: {}",
                        old_t.qualified_name, e.name
                    ),
                    "",
                ),
                Some(x) if x.value != e.value => self.new_error(
                    x.location,
                    format!(
                        "changed enumerator value: `{}::{}` from {} to {}",
                        old_t.qualified_name, e.name, e.value, x.value
                    ),
                    "",
                ),
                Some(_) => {}
            }
        }
    }

    fn equal(&mut self, old_t: &TypeDecl, new_t: &TypeDecl) {
        let a = dump(self.old, old_t);
        let b = dump(self.new, new_t);
        if a != b {
            let (al, bl): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
            // the first line that differs, or the end of the shorter dump
            let line = (0..al.len().max(bl.len()))
                .find(|&i| al.get(i) != bl.get(i))
                .unwrap_or(al.len().min(bl.len()));
            let at = |l: &[&str]| l.get(line).copied().unwrap_or("(end)").to_string();
            let (ol, nl) = (at(&al), at(&bl));
            let d = Diagnostic::error(format!(
                "`{}` differs from the old version",
                new_t.qualified_name
            ))
            .with_label(self.at_new(new_t.location), "declared here")
            .with_secondary(self.at_old(old_t.location), "old version")
            .with_note(format!(
                "line {} of its API dump: `{ol}` became `{nl}`",
                line + 1
            ));
            self.diags.push(d);
        }
    }
}

/// A canonical text of one type's API (what AOSP's `DumpVisitor` shows,
/// comments aside), for the `equal` level.
fn dump(m: &Model, t: &TypeDecl) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let ann = |a: &Annotations| -> String {
        a.iter()
            .map(|x| format!("{} ", annotation_string(x)))
            .collect()
    };
    let _ = writeln!(
        s,
        "{}{} {}",
        ann(&t.annotations),
        kind_name(t.decl_kind()),
        t.qualified_name
    );
    let ty = |x: &Type| format!("{}{}", ann(&x.annotations), x.signature());
    match &t.kind {
        TypeDeclKind::Interface(i) => {
            let _ = writeln!(s, "oneway={}", i.oneway);
            for me in &i.methods {
                let args: Vec<String> = me
                    .args
                    .iter()
                    .map(|a| format!("{} {} {}", a.direction.as_str(), ty(&a.ty), a.name))
                    .collect();
                let _ = writeln!(
                    s,
                    "{}{} {}({}) = {}",
                    if me.oneway { "oneway " } else { "" },
                    ty(&me.return_type),
                    me.name,
                    args.join(", "),
                    me.id
                );
            }
        }
        TypeDeclKind::Parcelable(_) | TypeDeclKind::Union(_) => {
            for p in t.type_params() {
                let _ = writeln!(s, "<{p}>");
            }
            for f in t.fields() {
                let d = Compare::written_default(f).unwrap_or_else(|| "(none)".into());
                let _ = writeln!(s, "{} {} = {d}", ty(&f.ty), f.name);
            }
        }
        TypeDeclKind::Enum(e) => {
            let _ = writeln!(s, "backing {}", e.backing.name());
            for x in &e.enumerators {
                let _ = writeln!(s, "{} = {}", x.name, x.value);
            }
        }
        TypeDeclKind::UnstructuredParcelable(u) => {
            let _ = writeln!(s, "{:?} {:?} {:?}", u.cpp_header, u.ndk_header, u.rust_type);
        }
    }
    for c in t.constants() {
        let _ = writeln!(s, "const {} {} = {}", ty(&c.ty), c.name, c.value);
    }
    for &n in &t.nested {
        if !m.get(n).synthesized {
            let _ = writeln!(s, "nested {}", m.get(n).qualified_name);
        }
    }
    s
}

/// Whether AOSP gives a field of this type a default when none is written.
fn has_implicit_default(ty: &crate::model::Type) -> bool {
    use crate::model::Primitive as P;
    !ty.is_array()
        && matches!(
            ty.kind.primitive(),
            Some(P::Boolean | P::Byte | P::Int | P::Long | P::Float | P::Double)
        )
}
