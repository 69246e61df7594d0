//! Semantic checks: builds the [`Model`](crate::model::Model) from the
//! loaded documents, applying AOSP's rules (`aidl.cpp`,
//! `aidl_language.cpp`, `aidl_typenames.cpp`, `parser.cpp`).

mod annotations;
mod eval;
mod members;
mod types;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use crate::annotation::{self, ParamType, Target, Targets};
use crate::ast::{self, Decl, Direction, Expr, ExprKind, Member, QualifiedName, TypeSpec};
use crate::constant::{self, fit_scalar, ConstValue, Scalar, Value};
use crate::diagnostic::Diagnostic;
use crate::model::{
    Annotation, Annotations, Argument, ArrayShape, Constant, DeclKind, Enum, Enumerator, Field,
    Interface, Method, Parcelable, Primitive, Type, TypeDecl, TypeDeclKind, TypeId, TypeKind,
    Union, UnstructuredParcelable, FIRST_CALL_TRANSACTION, MAX_USER_METHOD_ID,
};
use crate::resolve::{
    find_file, is_builtin, is_ignorable_import, qualify, relative_path, resolve_name,
    top_level_names, Files, Found, LoadedDoc, Scope,
};
use crate::source::{FileId, Location, SourceMap, Span};

/// How many constant references may be followed in a chain before giving up.
const MAX_CONST_DEPTH: usize = 256;

/// Java and C++ reserved words that can't be parts of a type's name.
const RESERVED_NAME_PARTS: &[&str] = &[
    "break",
    "case",
    "catch",
    "char",
    "class",
    "continue",
    "default",
    "do",
    "double",
    "else",
    "enum",
    "false",
    "float",
    "for",
    "goto",
    "if",
    "int",
    "long",
    "new",
    "private",
    "protected",
    "public",
    "return",
    "short",
    "static",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "void",
    "volatile",
    "while",
];

/// Java keywords (and literals) that can't be parameter names.
const JAVA_KEYWORDS: &[&str] = &[
    "abstract",
    "assert",
    "boolean",
    "break",
    "byte",
    "case",
    "catch",
    "char",
    "class",
    "const",
    "continue",
    "default",
    "do",
    "double",
    "else",
    "enum",
    "extends",
    "final",
    "finally",
    "float",
    "for",
    "goto",
    "if",
    "implements",
    "import",
    "instanceof",
    "int",
    "interface",
    "long",
    "native",
    "new",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "short",
    "static",
    "strictfp",
    "super",
    "switch",
    "synchronized",
    "this",
    "throw",
    "throws",
    "transient",
    "try",
    "void",
    "volatile",
    "while",
    "true",
    "false",
    "null",
];

/// Method signatures AOSP reserves for generated code.
const RESERVED_METHODS: &[&str] = &[
    "asBinder()",
    "getInterfaceHash()",
    "getInterfaceVersion()",
    "getTransactionName(int)",
];

pub(crate) struct CheckInput<'a> {
    pub(crate) docs: &'a [LoadedDoc],
    pub(crate) sources: &'a SourceMap,
    pub(crate) roots: &'a [PathBuf],
    pub(crate) files: &'a Files<'a>,
}

pub(crate) struct CheckOutput {
    pub(crate) types: Vec<TypeDecl>,
    pub(crate) by_name: HashMap<String, TypeId>,
    pub(crate) diags: Vec<Diagnostic>,
}

/// Runs every check and builds the model's types.
pub(crate) fn check(input: CheckInput<'_>) -> CheckOutput {
    let mut c = Checker {
        docs: input.docs,
        sources: input.sources,
        roots: input.roots,
        files: input.files,
        diags: Vec::new(),
        decls: Vec::new(),
        by_name: HashMap::new(),
        consts: HashMap::new(),
        const_stack: Vec::new(),
        cycles_reported: HashSet::new(),
        backing: HashMap::new(),
    };
    c.collect();
    c.check_documents();
    let mut types = Vec::with_capacity(c.decls.len());
    for i in 0..c.decls.len() {
        let id = TypeId(i as u32);
        types.push(c.build(id));
    }
    c.check_recursive_parcelables(&types);
    CheckOutput {
        types,
        by_name: c.by_name,
        diags: c.diags,
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
enum ConstKey {
    /// The n-th member (a constant) of a type.
    Const(TypeId, usize),
    /// The n-th enumerator of an enum (or of a union's `Tag`).
    Enumerator(TypeId, usize),
}

struct DeclInfo<'a> {
    ast: Option<&'a Decl>,
    doc: usize,
    file: FileId,
    parent: Option<TypeId>,
    nested: Vec<TypeId>,
    name: String,
    qualified: String,
    package: String,
    kind: DeclKind,
    /// For a synthesized `Tag` enum: its union.
    tag_of: Option<TypeId>,
    location: Location,
}

struct Checker<'a> {
    docs: &'a [LoadedDoc],
    sources: &'a SourceMap,
    roots: &'a [PathBuf],
    files: &'a Files<'a>,
    diags: Vec<Diagnostic>,
    decls: Vec<DeclInfo<'a>>,
    by_name: HashMap<String, TypeId>,
    consts: HashMap<ConstKey, Option<Value>>,
    const_stack: Vec<(ConstKey, String)>,
    cycles_reported: HashSet<ConstKey>,
    backing: HashMap<TypeId, Primitive>,
}

pub(super) fn decl_kind(d: &Decl) -> DeclKind {
    match &d.kind {
        ast::DeclKind::Interface(_) => DeclKind::Interface,
        ast::DeclKind::Parcelable(_) => DeclKind::Parcelable,
        ast::DeclKind::UnstructuredParcelable(_) => DeclKind::UnstructuredParcelable,
        ast::DeclKind::Enum(_) => DeclKind::Enum,
        ast::DeclKind::Union(_) => DeclKind::Union,
    }
}

pub(super) fn decl_targets(kind: DeclKind) -> Targets {
    Targets::of(&[match kind {
        DeclKind::Interface => Target::Interface,
        DeclKind::Parcelable => Target::StructuredParcelable,
        DeclKind::UnstructuredParcelable => Target::UnstructuredParcelable,
        DeclKind::Enum => Target::Enum,
        DeclKind::Union => Target::Union,
    }])
}

pub(super) fn is_parcelable_kind(kind: DeclKind) -> bool {
    matches!(
        kind,
        DeclKind::Parcelable | DeclKind::Union | DeclKind::UnstructuredParcelable
    )
}

pub(super) fn contains_ref(e: &Expr) -> Option<&QualifiedName> {
    match &e.kind {
        ExprKind::Ref(q) => Some(q),
        ExprKind::Array(items) => items.iter().find_map(contains_ref),
        ExprKind::Unary { operand, .. } => contains_ref(operand),
        ExprKind::Binary { lhs, rhs, .. } => contains_ref(lhs).or_else(|| contains_ref(rhs)),
        _ => None,
    }
}

pub(super) fn list_names(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn format_directions(dirs: &[Direction]) -> String {
    let names: Vec<&str> = dirs.iter().map(|d| d.as_str()).collect();
    match names.len() {
        0 => String::new(),
        1 => names[0].to_string(),
        2 => format!("{} or {}", names[0], names[1]),
        _ => {
            let (last, rest) = names.split_last().unwrap_or((&"", &[]));
            format!("{}, or {last}", rest.join(", "))
        }
    }
}

impl<'a> Checker<'a> {
    // ----- helpers --------------------------------------------------------

    fn loc(&self, file: FileId, span: Span) -> Location {
        Location::new(file, span)
    }

    fn error(
        &mut self,
        file: FileId,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) {
        let d = Diagnostic::error(message).with_label(Location::new(file, span), label);
        self.diags.push(d);
    }

    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn slice(&self, file: FileId, span: Span) -> &'a str {
        let sources: &'a SourceMap = self.sources;
        sources.get(file).slice(span)
    }

    fn doc_of(&self, id: TypeId) -> &'a LoadedDoc {
        &self.docs[self.decls[id.index()].doc]
    }

    fn roots_note(&self, rel: &std::path::Path) -> String {
        if self.roots.is_empty() {
            format!(
                "looked for `{}`, but no include roots were given (add one with `-I`)",
                rel.display()
            )
        } else {
            let roots: Vec<String> = self.roots.iter().map(|r| r.display().to_string()).collect();
            let roots: Vec<&str> = roots.iter().map(|s| s.as_str()).collect();
            format!(
                "looked for `{}` in the include roots: {}",
                rel.display(),
                list_names(&roots)
            )
        }
    }

    // ----- phase 1: collect declarations ---------------------------------

    fn collect(&mut self) {
        let docs: &'a [LoadedDoc] = self.docs;
        for (di, doc) in docs.iter().enumerate() {
            let package = doc.ast.package_name();
            for decl in &doc.ast.decls {
                let (pkg, name) = top_level_names(&package, decl);
                if doc.preprocessed && is_builtin(&name) {
                    // framework.aidl declares built-in types; AOSP skips them
                    continue;
                }
                self.collect_decl(decl, di, None, &pkg, &name);
            }
        }
    }

    fn collect_decl(
        &mut self,
        decl: &'a Decl,
        di: usize,
        parent: Option<TypeId>,
        package: &str,
        name: &str,
    ) -> TypeId {
        let docs: &'a [LoadedDoc] = self.docs;
        let doc = &docs[di];
        let qualified = match parent {
            Some(p) => format!("{}.{name}", self.decls[p.index()].qualified),
            None => qualify(package, name),
        };
        let id = TypeId(self.decls.len() as u32);
        let kind = decl_kind(decl);
        let location = Location::new(doc.file, decl.name.span);
        self.decls.push(DeclInfo {
            ast: Some(decl),
            doc: di,
            file: doc.file,
            parent,
            nested: Vec::new(),
            name: name.to_string(),
            qualified: qualified.clone(),
            package: package.to_string(),
            kind,
            tag_of: None,
            location,
        });
        self.register(&qualified, id, doc.preprocessed);
        if doc.preprocessed && kind == DeclKind::UnstructuredParcelable {
            self.by_name.entry(name.to_string()).or_insert(id);
        }
        let mut nested = Vec::new();
        let mut has_tag = false;
        for n in decl.nested() {
            let nname = n.name.text();
            has_tag |= nname == "Tag";
            nested.push(self.collect_decl(n, di, Some(id), package, &nname));
        }
        if kind == DeclKind::Union && !has_tag {
            let tag = TypeId(self.decls.len() as u32);
            let tq = format!("{qualified}.Tag");
            self.decls.push(DeclInfo {
                ast: None,
                doc: di,
                file: doc.file,
                parent: Some(id),
                nested: Vec::new(),
                name: "Tag".into(),
                qualified: tq.clone(),
                package: package.to_string(),
                kind: DeclKind::Enum,
                tag_of: Some(id),
                location,
            });
            self.register(&tq, tag, true);
            nested.push(tag);
        }
        self.decls[id.index()].nested = nested;
        id
    }

    fn register(&mut self, qualified: &str, id: TypeId, preprocessed: bool) {
        match self.by_name.get(qualified).copied() {
            None => {
                self.by_name.insert(qualified.to_string(), id);
            }
            Some(prev) => {
                let prev_pre = self.docs[self.decls[prev.index()].doc].preprocessed;
                if preprocessed {
                    // duplicates in preprocessed files are skipped
                } else if prev_pre {
                    self.by_name.insert(qualified.to_string(), id);
                } else if self.decls[id.index()].parent.is_some() {
                    // nested redefinitions are reported by `check_nested`
                } else {
                    let here = self.decls[id.index()].location;
                    let there = self.decls[prev.index()].location;
                    self.push(
                        Diagnostic::error(format!("redefinition of `{qualified}`"))
                            .with_label(here, "redefined here")
                            .with_secondary(there, "previously defined here"),
                    );
                }
            }
        }
    }

    // ----- phase 2: document-level checks ---------------------------------

    fn check_documents(&mut self) {
        let docs: &'a [LoadedDoc] = self.docs;
        for (di, doc) in docs.iter().enumerate() {
            if doc.preprocessed {
                continue;
            }
            let file = doc.file;
            // one type per file (unstructured parcelable declarations excepted)
            let mut first: Option<&Decl> = None;
            for d in &doc.ast.decls {
                if matches!(d.kind, ast::DeclKind::UnstructuredParcelable(_)) {
                    continue;
                }
                match first {
                    None => first = Some(d),
                    Some(f) => {
                        let d2 = Diagnostic::error("you must declare only one type per file")
                            .with_label(self.loc(file, d.name.span), "second type")
                            .with_secondary(self.loc(file, f.name.span), "first type");
                        self.push(d2);
                    }
                }
            }
            if doc.ast.decls.len() == 1 {
                self.check_file_name(di);
            }
            self.check_imports(di);
        }
        // names must not contain reserved words or built-in type names
        for i in 0..self.decls.len() {
            let info = &self.decls[i];
            if info.ast.is_none() || self.docs[info.doc].preprocessed {
                continue;
            }
            let qualified = info.qualified.clone();
            let location = info.location;
            for piece in qualified.split('.') {
                if RESERVED_NAME_PARTS.contains(&piece) {
                    self.push(
                        Diagnostic::error(format!(
                            "`{qualified}` is an invalid name because `{piece}` is a Java or C++ keyword"
                        ))
                        .with_label(location, ""),
                    );
                } else if is_builtin(piece) {
                    self.push(
                        Diagnostic::error(format!(
                            "`{qualified}` is an invalid name because `{piece}` is a built-in AIDL type"
                        ))
                        .with_label(location, ""),
                    );
                }
            }
        }
    }

    fn check_file_name(&mut self, di: usize) {
        let docs: &'a [LoadedDoc] = self.docs;
        let doc = &docs[di];
        let Some(decl) = doc.ast.decls.first() else {
            return;
        };
        let package = doc.ast.package_name();
        let (pkg, name) = top_level_names(&package, decl);
        let top = name.split('.').next().unwrap_or("");
        let expected = relative_path(&qualify(&pkg, top));
        let path = crate::resolve::normalize(self.sources.get(doc.file).path());
        if !path.ends_with(&expected) {
            let file = doc.file;
            let mut d = Diagnostic::error(format!(
                "`{name}` should be declared in a file called `{}`",
                expected.display()
            ))
            .with_label(self.loc(file, decl.name.span), "declared here")
            .with_note(format!("it is declared in `{}`", path.display()));
            if let Some(p) = &doc.ast.package {
                d = d.with_secondary(self.loc(file, p.span), "the package decides the directory");
            }
            self.push(d);
        }
    }

    fn check_imports(&mut self, di: usize) {
        let docs: &'a [LoadedDoc] = self.docs;
        let doc = &docs[di];
        let file = doc.file;
        let mut seen: HashMap<String, (String, Span)> = HashMap::new();
        for import in &doc.ast.imports {
            let text = import.name.text();
            let simple = import.name.last().to_string();
            if let Some((other, span)) = seen.get(&simple) {
                if *other != text {
                    // AOSP silently uses the first one
                    let d = Diagnostic::warning(format!(
                        "`{simple}` is imported twice, as `{other}` and as `{text}`"
                    ))
                    .with_label(
                        self.loc(file, import.name.span),
                        "ignored: the first import wins",
                    )
                    .with_secondary(self.loc(file, *span), "first import");
                    self.push(d);
                }
            } else {
                seen.insert(simple, (text.clone(), import.name.span));
            }
            if is_ignorable_import(&text) || self.by_name.contains_key(&text) {
                continue;
            }
            let mut d = Diagnostic::error(format!("couldn't find import for class `{text}`"))
                .with_label(self.loc(file, import.name.span), "not found");
            match find_file(self.files, self.roots, &text) {
                Found::Many(paths) => {
                    let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                    d.message = format!("duplicate files found for `{text}`");
                    d = d.with_note(format!("found in: {}", list.join(", ")));
                }
                Found::One(_) => {
                    // AOSP only needs the file to exist: it may declare nested
                    // unstructured parcelables such as `parcelable Outer.Inner;`
                    continue;
                }
                Found::None => {
                    let note = self.roots_note(&relative_path(&text));
                    d = d.with_note(note);
                }
            }
            self.push(d);
        }
    }

    // ----- phase 3: build and check each declaration -------------------------

    fn build(&mut self, id: TypeId) -> TypeDecl {
        let info = &self.decls[id.index()];
        let file = info.file;
        let ast = info.ast;
        let kind = info.kind;
        let from_input = self.docs[info.doc].is_input;
        let mut t = TypeDecl {
            id,
            name: info.name.clone(),
            qualified_name: info.qualified.clone(),
            package: info.package.clone(),
            parent: info.parent,
            nested: info.nested.clone(),
            location: info.location,
            comments: ast.map(|d| d.comments.clone()).unwrap_or_default(),
            annotations: Annotations::default(),
            kind: TypeDeclKind::Enum(Enum {
                backing: Primitive::Byte,
                enumerators: Vec::new(),
            }),
            from_input,
            synthesized: ast.is_none(),
        };
        let Some(decl) = ast else {
            // a union's Tag
            let union = info.tag_of.unwrap_or(id);
            let backing = self.backing_of(id);
            let location = self.decls[union.index()].location;
            let fields = self.decls[union.index()]
                .ast
                .map(|d| d.members())
                .unwrap_or(&[]);
            let enumerators = fields
                .iter()
                .filter_map(|m| match m {
                    Member::Field(f) => Some(f),
                    _ => None,
                })
                .enumerate()
                .map(|(i, f)| Enumerator {
                    name: f.name.name.clone(),
                    value: i as i64,
                    explicit: false,
                    comments: f.comments.clone(),
                    location: Location::new(location.file, f.name.span),
                })
                .collect();
            t.kind = TypeDeclKind::Enum(Enum {
                backing,
                enumerators,
            });
            return t;
        };
        // AOSP doesn't validate the members of preprocessed declarations
        // (they name types that need not be loaded): keep what resolves
        let quiet = self.docs[self.decls[id.index()].doc].preprocessed;
        let diags_before = self.diags.len();
        t.annotations = self.annotations(&decl.annotations, decl_targets(kind), file);
        self.check_nested(id, decl, file);
        t.kind = match &decl.kind {
            ast::DeclKind::Interface(i) => {
                TypeDeclKind::Interface(self.build_interface(id, decl, i, &t.annotations, file))
            }
            ast::DeclKind::Parcelable(p) => {
                let (type_params, fields, constants) = self.build_fields(id, decl, p, file);
                let parcelable = Parcelable {
                    type_params,
                    fields,
                    constants,
                };
                self.check_parcelable_like(id, &t.annotations, &parcelable.fields, false);
                TypeDeclKind::Parcelable(parcelable)
            }
            ast::DeclKind::Union(p) => {
                let (type_params, fields, constants) = self.build_fields(id, decl, p, file);
                self.check_parcelable_like(id, &t.annotations, &fields, true);
                self.check_union(decl, &fields, file);
                let tag = t
                    .nested
                    .iter()
                    .copied()
                    .find(|n| self.decls[n.index()].tag_of == Some(id))
                    .unwrap_or(id);
                TypeDeclKind::Union(Union {
                    type_params,
                    fields,
                    constants,
                    tag,
                })
            }
            ast::DeclKind::Enum(e) => TypeDeclKind::Enum(self.build_enum(id, e, file)),
            ast::DeclKind::UnstructuredParcelable(u) => {
                self.check_type_params(decl, file);
                TypeDeclKind::UnstructuredParcelable(UnstructuredParcelable {
                    type_params: u.type_params.iter().map(|p| p.name.name.clone()).collect(),
                    cpp_header: u.cpp_header.as_ref().map(|s| s.value.clone()),
                    ndk_header: u.ndk_header.as_ref().map(|s| s.value.clone()),
                    rust_type: u.rust_type.as_ref().map(|s| s.value.clone()),
                })
            }
        };
        if quiet {
            self.diags.truncate(diags_before);
        }
        t
    }

    fn check_nested(&mut self, id: TypeId, decl: &'a Decl, file: FileId) {
        let nested: Vec<&Decl> = decl.nested().collect();
        if nested.is_empty() {
            return;
        }
        if !decl.type_params().is_empty() {
            self.error(
                file,
                decl.name.span,
                "generic types can't have nested types",
                "generic type",
            );
        }
        let parent_name = self.decls[id.index()].name.clone();
        let mut names: HashMap<String, Span> = HashMap::new();
        for n in nested {
            let name = n.name.text();
            if let Some(prev) = names.get(&name) {
                let d = Diagnostic::error(format!("redefinition of `{name}`"))
                    .with_label(self.loc(file, n.name.span), "redefined here")
                    .with_secondary(self.loc(file, *prev), "previously defined here");
                self.push(d);
            } else {
                names.insert(name.clone(), n.name.span);
            }
            if name == parent_name {
                self.error(
                    file,
                    n.name.span,
                    format!("nested type `{name}` has the same name as its parent"),
                    "",
                );
            }
            if matches!(n.kind, ast::DeclKind::UnstructuredParcelable(_)) {
                self.error(
                    file,
                    n.name.span,
                    format!("`{name}` is nested; unstructured parcelables must be declared at the top level"),
                    "",
                );
            }
            if name == "Tag" && matches!(decl.kind, ast::DeclKind::Union(_)) {
                self.error(
                    file,
                    n.name.span,
                    "a union can't declare a nested type called `Tag`: AIDL generates one for it",
                    "",
                );
            }
        }
    }

    fn check_type_params(&mut self, decl: &'a Decl, file: FileId) {
        let mut seen: HashSet<&str> = HashSet::new();
        for p in decl.type_params() {
            self.annotations(&p.annotations, Targets::of(&[Target::Type]), file);
            if !seen.insert(p.name.name.as_str()) {
                self.error(
                    file,
                    p.name.span,
                    "every type parameter should be unique",
                    "repeated",
                );
            }
        }
    }

    // ----- phase 4: whole-model checks -----------------------------------------

    /// AOSP's `CheckNoRecursiveDefinition`: a parcelable can't contain itself
    /// by value (arrays and `@nullable(heap=true)` break the cycle).
    ///
    /// AOSP searches from the input file's types only, since it generates
    /// code for nothing else and reports an imported file's cycle when that
    /// file is compiled in turn. The Rust generator also emits every imported
    /// type, so a cycle there would be a struct of infinite size: the search
    /// starts from the imported types too, after the input ones so that a
    /// cycle through an input is reported from the input's side.
    fn check_recursive_parcelables(&mut self, types: &[TypeDecl]) {
        #[derive(Copy, Clone, PartialEq)]
        enum State {
            New,
            Started,
            Done,
        }
        let mut state = vec![State::New; types.len()];
        let mut reported = false;
        let inputs_first = types
            .iter()
            .filter(|t| t.from_input)
            .chain(types.iter().filter(|t| !t.from_input));
        for root in inputs_first {
            if reported || state[root.id.index()] != State::New {
                continue;
            }
            // iterative DFS: (type, next field index)
            let mut stack: Vec<(TypeId, usize)> = vec![(root.id, 0)];
            state[root.id.index()] = State::Started;
            while let Some(top) = stack.last_mut() {
                let (t, next) = *top;
                top.1 += 1;
                let fields = types[t.index()].fields();
                if next >= fields.len() {
                    state[t.index()] = State::Done;
                    stack.pop();
                    continue;
                }
                let f = &fields[next];
                if f.ty.is_array() || f.ty.is_heap_nullable() {
                    continue;
                }
                let Some(target) = f.ty.kind.defined() else {
                    continue;
                };
                if !is_parcelable_kind(types[target.index()].decl_kind()) {
                    continue;
                }
                match state[target.index()] {
                    State::Done => {}
                    State::New => {
                        state[target.index()] = State::Started;
                        stack.push((target, 0));
                    }
                    State::Started => {
                        let start = stack.iter().position(|(s, _)| *s == target).unwrap_or(0);
                        let mut path: Vec<&str> = stack[start..]
                            .iter()
                            .map(|(s, _)| types[s.index()].name.as_str())
                            .collect();
                        path.push(&types[target.index()].name);
                        self.push(
                            Diagnostic::error(format!(
                                "`{}` is a recursive parcelable: {}",
                                types[target.index()].name,
                                path.join(" -> ")
                            ))
                            .with_label(f.location, "this field contains the parcelable by value")
                            .with_help("break the cycle with an array or `@nullable(heap=true)`"),
                        );
                        reported = true;
                        break;
                    }
                }
            }
        }
    }
}
