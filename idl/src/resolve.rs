//! Finding and loading files, and resolving names the way AOSP does.
//!
//! * A type name is looked up in the enclosing types' nested types (inner
//!   to outer, the first part of a dotted name only), then in the imports
//!   (by simple name), then among the file's top-level types; otherwise it
//!   is taken as fully qualified.
//! * A fully qualified name `a.b.C` is found in an include root as
//!   `a/b/C.aidl`; for nested types `a.b.C.D` the file `a/b/C.aidl` is
//!   tried after `a/b/C/D.aidl`. This works without an import, which frozen
//!   API dumps rely on.
//! * Types of the same package are **not** visible without an import, as in
//!   AOSP (the diagnostic suggests the import).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use crate::ast::{self, Decl, DeclKind, Document, Expr, ExprKind, Member, TypeSpec};
use crate::diagnostic::Diagnostic;
use crate::parser;
use crate::source::{FileId, SourceMap};

/// Built-in type names (with the Java spellings AOSP maps to them).
pub(crate) const BUILTIN_TYPES: &[&str] = &[
    "void",
    "boolean",
    "byte",
    "char",
    "int",
    "long",
    "float",
    "double",
    "String",
    "List",
    "Map",
    "IBinder",
    "FileDescriptor",
    "CharSequence",
    "ParcelFileDescriptor",
    "ParcelableHolder",
    "java.util.List",
    "java.util.Map",
    "android.os.ParcelFileDescriptor",
];

/// Whether `name` is a built-in type name.
pub(crate) fn is_builtin(name: &str) -> bool {
    BUILTIN_TYPES.contains(&name)
}

/// Imports AOSP ignores because they name built-in or Java framework types.
pub(crate) fn is_ignorable_import(name: &str) -> bool {
    is_builtin(name)
        || matches!(
            name,
            "android.os.IInterface"
                | "android.os.IBinder"
                | "android.os.Parcelable"
                | "android.os.Parcel"
                | "android.content.Context"
                | "java.lang.String"
                | "java.lang.CharSequence"
        )
}

/// Removes `.` and resolves `..` components without touching the disk.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Files on disk, overlaid with in-memory files.
pub(crate) struct Files<'c> {
    pub(crate) overlay: &'c BTreeMap<PathBuf, String>,
}

impl Files<'_> {
    pub(crate) fn exists(&self, path: &Path) -> bool {
        self.overlay.contains_key(&normalize(path)) || path.is_file()
    }

    pub(crate) fn read(&self, path: &Path) -> std::io::Result<String> {
        if let Some(text) = self.overlay.get(&normalize(path)) {
            return Ok(text.clone());
        }
        let bytes = std::fs::read(path)?;
        Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// A key that is the same for every spelling of one file.
    pub(crate) fn key(&self, path: &Path) -> PathBuf {
        let n = normalize(path);
        if self.overlay.contains_key(&n) {
            return n;
        }
        std::fs::canonicalize(path).unwrap_or(n)
    }
}

/// The relative path of the file that would declare `qualified_name`.
pub(crate) fn relative_path(qualified_name: &str) -> PathBuf {
    let mut p = PathBuf::new();
    for part in qualified_name.split('.') {
        p.push(part);
    }
    p.set_extension("aidl");
    p
}

/// The outcome of looking for a type's file in the include roots.
pub(crate) enum Found {
    /// Exactly one file.
    One(PathBuf),
    /// No file.
    None,
    /// Several distinct files.
    Many(Vec<PathBuf>),
}

/// Looks for the file that declares `qualified_name` (or, for a nested type,
/// its outermost enclosing type) in the include roots.
pub(crate) fn find_file(files: &Files<'_>, roots: &[PathBuf], qualified_name: &str) -> Found {
    let mut parts: Vec<&str> = qualified_name.split('.').collect();
    while !parts.is_empty() {
        let rel = relative_path(&parts.join("."));
        let mut found: Vec<(PathBuf, PathBuf)> = Vec::new();
        for root in roots {
            let candidate = normalize(&root.join(&rel));
            if files.exists(&candidate) {
                let key = files.key(&candidate);
                if !found.iter().any(|(k, _)| *k == key) {
                    found.push((key, candidate));
                }
            }
        }
        match found.len() {
            0 => {}
            1 => return Found::One(found.remove(0).1),
            _ => return Found::Many(found.into_iter().map(|(_, p)| p).collect()),
        }
        parts.pop();
    }
    Found::None
}

/// The package and name a top-level declaration gets. In a file without a
/// package (preprocessed files), a dotted name is split at its last dot.
pub(crate) fn top_level_names(package: &str, decl: &Decl) -> (String, String) {
    let text = decl.name.text();
    if package.is_empty() {
        if let Some(pos) = text.rfind('.') {
            return (text[..pos].to_string(), text[pos + 1..].to_string());
        }
    }
    (package.to_string(), text)
}

/// Joins a package and a name.
pub(crate) fn qualify(package: &str, name: &str) -> String {
    if package.is_empty() {
        name.to_string()
    } else {
        format!("{package}.{name}")
    }
}

/// An enclosing declaration while walking a document.
#[derive(Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub(crate) decl: &'a Decl,
    pub(crate) qualified: &'a str,
}

/// Resolves a (possibly dotted) type name written in `doc` inside the
/// declarations `scopes` (outermost first) into the fully qualified name it
/// refers to (AOSP's `ResolveName`). Built-in names come back unchanged.
pub(crate) fn resolve_name(
    doc: &Document,
    package: &str,
    scopes: &[Scope<'_>],
    name: &str,
) -> String {
    if is_builtin(name) {
        return name.to_string();
    }
    let (first, rest) = match name.find('.') {
        Some(p) => (&name[..p], &name[p..]),
        None => (name, ""),
    };
    for scope in scopes.iter().rev() {
        for nested in scope.decl.nested() {
            if nested.name.text() == first {
                return format!("{}.{}{rest}", scope.qualified, first);
            }
        }
        if matches!(scope.decl.kind, DeclKind::Union(_)) && first == "Tag" {
            return format!("{}.Tag{rest}", scope.qualified);
        }
    }
    for import in &doc.imports {
        if import.name.last() == first {
            return format!("{}{rest}", import.name.text());
        }
    }
    for decl in &doc.decls {
        let (pkg, simple) = top_level_names(package, decl);
        if simple == first {
            return format!("{}{rest}", qualify(&pkg, &simple));
        }
    }
    name.to_string()
}

/// A document that was loaded, with how it was loaded.
pub(crate) struct LoadedDoc {
    pub(crate) file: FileId,
    pub(crate) ast: Document,
    pub(crate) is_input: bool,
    pub(crate) preprocessed: bool,
}

/// Loads the inputs and, transitively, every file they need.
pub(crate) struct Loader<'c> {
    files: Files<'c>,
    pub(crate) roots: Vec<PathBuf>,
    pub(crate) sources: SourceMap,
    pub(crate) docs: Vec<LoadedDoc>,
    loaded: HashMap<PathBuf, usize>,
    known: HashSet<String>,
    tried: HashSet<String>,
    pub(crate) diags: Vec<Diagnostic>,
}

impl<'c> Loader<'c> {
    pub(crate) fn new(overlay: &'c BTreeMap<PathBuf, String>, roots: Vec<PathBuf>) -> Loader<'c> {
        Loader {
            files: Files { overlay },
            roots,
            sources: SourceMap::new(),
            docs: Vec::new(),
            loaded: HashMap::new(),
            known: HashSet::new(),
            tried: HashSet::new(),
            diags: Vec::new(),
        }
    }

    pub(crate) fn files(&self) -> &Files<'c> {
        &self.files
    }

    /// Loads an input file given by the user.
    pub(crate) fn load_input(&mut self, path: &Path, preprocessed: bool) {
        let key = self.files.key(path);
        if let Some(&i) = self.loaded.get(&key) {
            self.docs[i].is_input |= !preprocessed;
            return;
        }
        let text = match self.files.read(path) {
            Ok(t) => t,
            Err(e) => {
                self.diags.push(
                    Diagnostic::error(format!("couldn't read `{}`: {e}", path.display()))
                        .with_help("check the path; input files are read as given, relative to the working directory"),
                );
                return;
            }
        };
        // types of preprocessed files are only declarations, never inputs
        let idx = self.add_doc(path, key, text, !preprocessed, preprocessed);
        if !preprocessed {
            self.add_implicit_root(idx, path);
        }
    }

    /// The directory an input file's package lives in is an include root too.
    fn add_implicit_root(&mut self, idx: usize, path: &Path) {
        let doc = &self.docs[idx].ast;
        let Some(first) = doc.decls.first() else {
            return;
        };
        let package = doc.package_name();
        let (pkg, name) = top_level_names(&package, first);
        let top = name.split('.').next().unwrap_or("");
        let rel = relative_path(&qualify(&pkg, top));
        let norm = normalize(path);
        let path_parts: Vec<_> = norm.components().collect();
        let rel_parts: Vec<_> = rel.components().collect();
        if path_parts.len() < rel_parts.len() || !norm.ends_with(&rel) {
            return;
        }
        let mut root = PathBuf::new();
        for c in &path_parts[..path_parts.len() - rel_parts.len()] {
            root.push(c.as_os_str());
        }
        if root.as_os_str().is_empty() {
            root.push(".");
        }
        let root = normalize(&root);
        if !self.roots.iter().any(|r| normalize(r) == root) {
            self.roots.push(root);
        }
    }

    fn add_doc(
        &mut self,
        path: &Path,
        key: PathBuf,
        text: String,
        is_input: bool,
        preprocessed: bool,
    ) -> usize {
        let display = normalize(path).display().to_string();
        let display = if path.is_absolute() || is_input {
            path.display().to_string()
        } else {
            display
        };
        let file = self.sources.add(path.to_path_buf(), display, text);
        let text = self.sources.get(file).text();
        let (ast, mut diags) = if preprocessed {
            parser::parse_preprocessed(file, text)
        } else {
            parser::parse(file, text)
        };
        self.diags.append(&mut diags);
        let package = ast.package_name();
        for d in &ast.decls {
            let (pkg, name) = top_level_names(&package, d);
            let q = qualify(&pkg, &name);
            collect_known(d, &q, &mut self.known);
            if preprocessed && matches!(d.kind, DeclKind::UnstructuredParcelable(_)) {
                self.known.insert(name);
            }
        }
        let idx = self.docs.len();
        self.docs.push(LoadedDoc {
            file,
            ast,
            is_input,
            preprocessed,
        });
        self.loaded.insert(key, idx);
        idx
    }

    /// Loads, until nothing changes, the files that declare names used by the
    /// loaded documents and not declared yet.
    pub(crate) fn load_dependencies(&mut self) {
        let mut i = 0;
        while i < self.docs.len() {
            if !self.docs[i].preprocessed {
                let wanted = wanted_names(&self.docs[i].ast);
                for name in wanted {
                    self.load_name(&name);
                }
            }
            i += 1;
        }
    }

    fn load_name(&mut self, name: &str) {
        if self.known.contains(name) || is_builtin(name) || !self.tried.insert(name.to_string()) {
            return;
        }
        if let Found::One(path) = find_file(&self.files, &self.roots, name) {
            let key = self.files.key(&path);
            if self.loaded.contains_key(&key) {
                return;
            }
            match self.files.read(&path) {
                Ok(text) => {
                    self.add_doc(&path, key, text, false, false);
                }
                Err(e) => self.diags.push(Diagnostic::error(format!(
                    "couldn't read `{}` (needed for `{name}`): {e}",
                    path.display()
                ))),
            }
        }
    }
}

fn collect_known(d: &Decl, qualified: &str, known: &mut HashSet<String>) {
    known.insert(qualified.to_string());
    if matches!(d.kind, DeclKind::Union(_)) {
        known.insert(format!("{qualified}.Tag"));
    }
    for n in d.nested() {
        collect_known(n, &format!("{qualified}.{}", n.name.text()), known);
    }
}

/// Every fully qualified name a document refers to: its imports, its type
/// names and the types named in qualified constant references.
fn wanted_names(doc: &Document) -> Vec<String> {
    let package = doc.package_name();
    let mut out: Vec<String> = doc
        .imports
        .iter()
        .map(|i| i.name.text())
        .filter(|n| !is_ignorable_import(n))
        .collect();
    let mut w = Wanted {
        doc,
        package: &package,
        out: &mut out,
    };
    for d in &doc.decls {
        let (pkg, name) = top_level_names(&package, d);
        let q = qualify(&pkg, &name);
        let mut scopes = Vec::new();
        w.decl(d, &q, &mut scopes);
    }
    out
}

struct Wanted<'d, 'o> {
    doc: &'d Document,
    package: &'d str,
    out: &'o mut Vec<String>,
}

impl<'d> Wanted<'d, '_> {
    fn decl(&mut self, d: &'d Decl, qualified: &str, scopes: &mut Vec<(&'d Decl, String)>) {
        scopes.push((d, qualified.to_string()));
        for a in &d.annotations {
            self.annotation(a, scopes);
        }
        match &d.kind {
            DeclKind::Enum(e) => {
                for en in &e.enumerators {
                    if let Some(v) = &en.value {
                        self.expr(v, scopes);
                    }
                }
            }
            _ => {
                for m in d.members() {
                    match m {
                        Member::Method(m) => {
                            self.ty(&m.return_type, scopes);
                            for a in &m.args {
                                self.ty(&a.ty, scopes);
                            }
                        }
                        Member::Const(c) => {
                            self.ty(&c.ty, scopes);
                            self.expr(&c.value, scopes);
                        }
                        Member::Field(f) => {
                            self.ty(&f.ty, scopes);
                            if let Some(v) = &f.default {
                                self.expr(v, scopes);
                            }
                        }
                        Member::Decl(n) => {
                            let q = format!("{qualified}.{}", n.name.text());
                            self.decl(n, &q, scopes);
                        }
                    }
                }
            }
        }
        scopes.pop();
    }

    fn resolve(&mut self, name: &str, scopes: &[(&'d Decl, String)]) {
        let s: Vec<Scope<'_>> = scopes
            .iter()
            .map(|(d, q)| Scope {
                decl: d,
                qualified: q,
            })
            .collect();
        let r = resolve_name(self.doc, self.package, &s, name);
        if !is_builtin(&r) {
            self.out.push(r);
        }
    }

    fn annotation(&mut self, a: &'d ast::Annotation, scopes: &[(&'d Decl, String)]) {
        for (_, _, e) in a.param_list() {
            self.expr(e, scopes);
        }
    }

    fn ty(&mut self, t: &'d TypeSpec, scopes: &[(&'d Decl, String)]) {
        self.resolve(&t.name.text(), scopes);
        for a in t.args.iter().flatten() {
            self.ty(a, scopes);
        }
        if let Some(ast::ArraySpec::Fixed(dims)) = &t.array {
            for d in dims {
                self.expr(d, scopes);
            }
        }
    }

    fn expr(&mut self, e: &'d Expr, scopes: &[(&'d Decl, String)]) {
        match &e.kind {
            ExprKind::Ref(q) if q.parts.len() >= 2 => {
                let prefix: Vec<&str> = q.parts[..q.parts.len() - 1]
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect();
                self.resolve(&prefix.join("."), scopes);
            }
            ExprKind::Array(items) => {
                for i in items {
                    self.expr(i, scopes);
                }
            }
            ExprKind::Unary { operand, .. } => self.expr(operand, scopes),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs, scopes);
                self.expr(rhs, scopes);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_paths() {
        assert_eq!(normalize(Path::new("a/./b/../c")), PathBuf::from("a/c"));
        assert_eq!(normalize(Path::new("./")), PathBuf::from("."));
        assert_eq!(normalize(Path::new("../x")), PathBuf::from("../x"));
    }

    #[test]
    fn finds_nested_types_in_their_outer_file() {
        let mut overlay = BTreeMap::new();
        overlay.insert(PathBuf::from("root/a/b/Outer.aidl"), String::new());
        let files = Files { overlay: &overlay };
        let roots = vec![PathBuf::from("root")];
        match find_file(&files, &roots, "a.b.Outer.Inner") {
            Found::One(p) => assert_eq!(p, PathBuf::from("root/a/b/Outer.aidl")),
            _ => panic!("not found"),
        }
        assert!(matches!(
            find_file(&files, &roots, "a.b.Other"),
            Found::None
        ));
    }
}
