//! The generator: where each AIDL type lives in Rust, how one module refers
//! to another, which names collide, and the assembly of one file per
//! package plus the `_include.rs` tree. One [`Gen`] per run.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use capbinder_idl::model::{ArrayShape, DeclKind, TypeDecl, TypeDeclKind, TypeId};
use capbinder_idl::{Diagnostic, Location, Model};
use proc_macro2::TokenStream;
use quote::quote;

use crate::names::{ident, is_snake_case, rust_name, snake_case};

/// What a run was asked for (from the [`Builder`](crate::Builder)).
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The runtime crate's path, `::capbinder` by default.
    pub runtime: String,
    /// AIDL package prefix → Rust module path, for types generated
    /// elsewhere.
    pub externs: Vec<(String, String)>,
    /// Format with prettyplease.
    pub format: bool,
    /// The interface version (`--version`): interfaces get
    /// `getInterfaceVersion()` and `VERSION`.
    pub version: Option<u32>,
    /// The interface hash (`--hash`): interfaces get `getInterfaceHash()`
    /// and `HASH`.
    pub hash: Option<String>,
}

/// Where a type lives in Rust.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    /// Module path from the root of the generated tree (Rust names).
    pub module: Vec<String>,
    /// The type's Rust name.
    pub name: String,
    /// An absolute path to use instead (extern packages, `rust_type`).
    pub absolute: Option<TokenStream>,
}

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// The file name (`com.example.rs`, `_include.rs`).
    pub name: String,
    /// Its text.
    pub contents: String,
}

/// The generator's state for one run.
pub(crate) struct Gen<'m> {
    pub model: &'m Model,
    /// `::capbinder`
    pub rt: TokenStream,
    pub places: HashMap<TypeId, Place>,
    /// Types to generate, by package.
    pub packages: BTreeMap<String, Vec<TypeId>>,
    pub diags: RefCell<Vec<Diagnostic>>,
    /// Format with prettyplease.
    format: bool,
    /// `--version`, if given.
    pub version: Option<u32>,
    /// `--hash`, if given.
    pub hash: Option<String>,
    /// Some item in the model is `@deprecated`: impls and definitions
    /// allow the lint, since generated code uses what it defines.
    pub allow_deprecated: bool,
    /// (scope, Rust name) → the AIDL item that took it first.
    names: RefCell<HashMap<(String, String), (String, Location)>>,
    /// How each generated module writes the prelude: a name is written
    /// short unless the module defines the same name.
    stds: HashMap<Vec<String>, Std>,
    /// The prelude in a module that shadows nothing.
    plain_std: Std,
}

/// The names a generated module defines, by namespace. Generated modules
/// have no `use` items, so these and the prelude are all that is in scope.
#[derive(Debug, Default)]
struct Defined {
    types: HashSet<String>,
    values: HashSet<String>,
}

/// Prelude items as generated code writes them in one module: short, or by
/// full path where the module defines the same name.
pub(crate) struct Std {
    pub option: TokenStream,
    pub some: TokenStream,
    pub none: TokenStream,
    pub ok: TokenStream,
    pub err: TokenStream,
    pub vec: TokenStream,
    pub string: TokenStream,
    pub boxed: TokenStream,
    pub default: TokenStream,
    pub send: TokenStream,
    pub sync: TokenStream,
    pub partial_eq: TokenStream,
}

impl<'m> Gen<'m> {
    pub fn new(model: &'m Model, options: &Options) -> Gen<'m> {
        let rt: TokenStream = options
            .runtime
            .parse()
            .unwrap_or_else(|_| quote!(::capbinder));
        let mut g = Gen {
            model,
            rt,
            places: HashMap::new(),
            packages: BTreeMap::new(),
            diags: RefCell::new(Vec::new()),
            allow_deprecated: false,
            format: options.format,
            version: options.version,
            hash: options.hash.clone(),
            names: RefCell::new(HashMap::new()),
            stds: HashMap::new(),
            plain_std: std_for(&Defined::default()),
        };
        g.place_types(options);
        g.collect_defined();
        g.allow_deprecated = model.types().any(is_deprecated_anywhere);
        g.refuse_fixed_array_cycles();
        g
    }

    /// AOSP's recursion check lets a fixed-size array break a cycle, as
    /// Java's arrays do, but Rust stores `[T; N]` inline: `parcelable Node
    /// { Node[2] kids; }` would be a struct of infinite size. Refused here
    /// by name rather than left to rustc's E0072 in generated code.
    fn refuse_fixed_array_cycles(&self) {
        #[derive(Copy, Clone, PartialEq)]
        enum State {
            New,
            Started,
            Done,
        }
        let model = self.model;
        let types: Vec<&TypeDecl> = model.types().collect();
        let mut state: HashMap<TypeId, State> = HashMap::new();
        // what a field holds inline, if it is a parcelable or union
        let inline_target = |f: &capbinder_idl::model::Field| -> Option<TypeId> {
            if f.ty.is_heap_nullable() || matches!(f.ty.array, Some(ArrayShape::Dynamic)) {
                return None;
            }
            let target = f.ty.kind.defined()?;
            matches!(
                model.get(target).decl_kind(),
                DeclKind::Parcelable | DeclKind::Union
            )
            .then_some(target)
        };
        for root in &types {
            if state.get(&root.id).is_some_and(|s| *s != State::New) {
                continue;
            }
            // (type, next field index, the field that led here)
            let mut stack: Vec<(TypeId, usize, Option<&capbinder_idl::model::Field>)> =
                vec![(root.id, 0, None)];
            state.insert(root.id, State::Started);
            while let Some(top) = stack.last_mut() {
                let (t, next, _) = *top;
                top.1 += 1;
                let fields = model.get(t).fields();
                let Some(f) = fields.get(next) else {
                    state.insert(t, State::Done);
                    stack.pop();
                    continue;
                };
                let Some(target) = inline_target(f) else {
                    continue;
                };
                match state.get(&target).copied().unwrap_or(State::New) {
                    State::Done => {}
                    State::New => {
                        state.insert(target, State::Started);
                        stack.push((target, 0, Some(f)));
                    }
                    State::Started => {
                        let start = stack.iter().position(|e| e.0 == target).unwrap_or(0);
                        let mut path: Vec<&str> = stack[start..]
                            .iter()
                            .map(|e| model.get(e.0).name.as_str())
                            .collect();
                        let name = &model.get(target).name;
                        path.push(name);
                        // the cycle's fields; AIDL's own check has refused
                        // cycles without a fixed-size array
                        let edges: Vec<&capbinder_idl::model::Field> = stack[start + 1..]
                            .iter()
                            .filter_map(|e| e.2)
                            .chain([f])
                            .collect();
                        let fixed = edges
                            .iter()
                            .find(|e| e.ty.array.is_some())
                            .copied()
                            .unwrap_or(f);
                        let mut d = Diagnostic::error(format!(
                            "`{name}` contains itself through a fixed-size array: {}",
                            path.join(" -> ")
                        ))
                        .with_label(
                            fixed.location,
                            "a fixed-size array is stored inline in Rust",
                        );
                        if fixed.location != f.location {
                            d = d.with_secondary(f.location, "this field closes the cycle");
                        }
                        self.error(
                            d.with_note(format!(
                                "Rust stores `[T; N]` inside the struct, so `{name}` would be infinitely large"
                            ))
                            .with_help(format!(
                                "make it a dynamic array (`{}[]`)",
                                fixed
                                    .ty
                                    .kind
                                    .defined()
                                    .map_or(name.as_str(), |e| model.get(e).name.as_str())
                            )),
                        );
                        return;
                    }
                }
            }
        }
    }

    pub fn error(&self, d: Diagnostic) {
        self.diags.borrow_mut().push(d);
    }

    pub fn decl(&self, id: TypeId) -> &'m TypeDecl {
        self.model.get(id)
    }

    /// Decides every type's place and which ones this run generates.
    fn place_types(&mut self, options: &Options) {
        let model = self.model;
        for t in model.types() {
            if t.parent.is_some() {
                continue;
            }
            let pkg_mods: Vec<String> = if t.package.is_empty() {
                Vec::new()
            } else {
                t.package.split('.').map(rust_name).collect()
            };
            let extern_path = extern_for(&t.package, &options.externs);
            if let TypeDeclKind::UnstructuredParcelable(u) = &t.kind {
                let absolute =
                    u.rust_type
                        .as_ref()
                        .and_then(|r| match syn::parse_str::<syn::Path>(r) {
                            Ok(p) => Some(quote!(#p)),
                            Err(_) => {
                                self.error(
                                    Diagnostic::error(format!(
                                        "`rust_type \"{r}\"` is not a Rust path"
                                    ))
                                    .with_label(t.location, "declared here")
                                    .with_help("write a path such as `crate::types::Foo`"),
                                );
                                None
                            }
                        });
                self.places.insert(
                    t.id,
                    Place {
                        module: pkg_mods,
                        name: rust_name(&t.name),
                        absolute,
                    },
                );
                if t.from_input && u.rust_type.is_none() {
                    self.error(no_rust_type(t, t.location, "declared here"));
                }
                continue;
            }
            match extern_path {
                Some(base) => self.place_extern(t.id, &base),
                None => {
                    self.place_local(t.id, pkg_mods);
                    self.packages
                        .entry(t.package.clone())
                        .or_default()
                        .push(t.id);
                }
            }
        }
        for ids in self.packages.values_mut() {
            ids.sort_by(|a, b| model.get(*a).name.cmp(&model.get(*b).name));
        }
    }

    fn place_local(&mut self, id: TypeId, module: Vec<String>) {
        let t = self.model.get(id);
        let mut inner = module.clone();
        inner.push(companion_name(t));
        self.places.insert(
            id,
            Place {
                module,
                name: rust_name(&t.name),
                absolute: None,
            },
        );
        for &n in &t.nested {
            self.place_local(n, inner.clone());
        }
    }

    fn place_extern(&mut self, id: TypeId, base: &str) {
        let t = self.model.get(id);
        let path = format!("{base}::{}", rust_name(&t.name));
        let absolute = syn::parse_str::<syn::Path>(&path).ok().map(|p| quote!(#p));
        self.places.insert(
            id,
            Place {
                module: Vec::new(),
                name: rust_name(&t.name),
                absolute,
            },
        );
        let inner = format!("{base}::{}", companion_name(t));
        for &n in &t.nested {
            self.place_extern(n, &inner);
        }
    }

    /// Records what every generated module defines.
    fn collect_defined(&mut self) {
        let mut defined: HashMap<Vec<String>, Defined> = HashMap::new();
        for (pkg, ids) in &self.packages {
            let mods: Vec<String> = if pkg.is_empty() {
                Vec::new()
            } else {
                pkg.split('.').map(rust_name).collect()
            };
            for i in 1..=mods.len() {
                defined
                    .entry(mods[..i - 1].to_vec())
                    .or_default()
                    .types
                    .insert(mods[i - 1].clone());
            }
            let mut stack: Vec<TypeId> = ids.clone();
            while let Some(id) = stack.pop() {
                let t = self.decl(id);
                let module = self.module_of(id);
                let name = rust_name(&t.name);
                let companion = companion_name(t);
                let d = defined.entry(module.clone()).or_default();
                d.types.insert(name.clone());
                let has_companion = !t.nested.is_empty();
                match &t.kind {
                    TypeDeclKind::Enum(_) => {
                        d.values.insert(name);
                    }
                    TypeDeclKind::Interface(i) => {
                        let stem = crate::interface::stem(&t.name);
                        for n in [
                            format!("Bp{stem}"),
                            format!("Bn{stem}"),
                            format!("{}Default", t.name),
                        ] {
                            d.types.insert(n.clone());
                            d.values.insert(n);
                        }
                        d.types.insert(companion.clone());
                        let mut inner = module.clone();
                        inner.push(companion);
                        let c = defined.entry(inner).or_default();
                        c.types.insert("transactions".into());
                        c.values.insert("DESCRIPTOR".into());
                        // interfaces get meta methods, and so these names
                        if self.version.is_some() || self.hash.is_some() {
                            c.values.insert("VERSION".into());
                            c.values.insert("HASH".into());
                        }
                        for k in &i.constants {
                            c.values.insert(rust_name(&k.name));
                        }
                    }
                    _ if has_companion => {
                        d.types.insert(companion);
                    }
                    _ => {}
                }
                stack.extend(t.nested.iter().copied());
            }
        }
        self.stds = defined
            .iter()
            .map(|(m, d)| (m.clone(), std_for(d)))
            .collect();
    }

    /// The prelude items as code in module `from` writes them.
    pub fn std(&self, from: &[String]) -> &Std {
        self.stds.get(from).unwrap_or(&self.plain_std)
    }

    /// The module (Rust names) a type's own items are in.
    pub fn module_of(&self, id: TypeId) -> Vec<String> {
        self.places
            .get(&id)
            .map(|p| p.module.clone())
            .unwrap_or_default()
    }

    /// The module that holds a type's nested types and companions.
    pub fn companion_module(&self, id: TypeId) -> Vec<String> {
        let mut m = self.module_of(id);
        m.push(companion_name(self.decl(id)));
        m
    }

    /// The path from module `from` to a type.
    pub fn path_to(&self, from: &[String], id: TypeId) -> TokenStream {
        let Some(place) = self.places.get(&id) else {
            return quote!(());
        };
        if let Some(abs) = &place.absolute {
            return abs.clone();
        }
        relative(from, &place.module, &place.name)
    }

    /// Records that `name` is used in `scope` for the AIDL item `what` at
    /// `location`; a second user gets an error naming both.
    pub fn claim(&self, scope: &str, name: &str, what: &str, location: Location) {
        let key = (scope.to_string(), name.to_string());
        let mut names = self.names.borrow_mut();
        if let Some((first, first_loc)) = names.get(&key) {
            let d = Diagnostic::error(format!("{what} and {first} both become `{name}` in Rust"))
                .with_label(location, format!("becomes `{name}`"))
                .with_secondary(*first_loc, "this one too")
                .with_help("rename one of them: the Rust backend needs distinct names");
            drop(names);
            self.error(d);
            return;
        }
        names.insert(key, (what.to_string(), location));
    }

    /// The packages this run generates, sorted.
    pub fn package_names(&self) -> Vec<String> {
        self.packages.keys().cloned().collect()
    }

    /// Claims the package module names (before any type claims its
    /// names, so that a type's module that collides with a package is
    /// reported).
    pub fn claim_packages(&self) {
        for (pkg, ids) in &self.packages {
            let mods: Vec<String> = pkg.split('.').map(rust_name).collect();
            for i in 1..=mods.len() {
                let scope = mods[..i - 1].join("::");
                let key = (scope, mods[i - 1].clone());
                self.names.borrow_mut().entry(key).or_insert((
                    format!("package `{}`", pkg_prefix(pkg, i)),
                    self.decl(ids[0]).location,
                ));
            }
        }
    }

    /// One package's file.
    pub fn package_file(&self, pkg: &str) -> GeneratedFile {
        let ids = self.packages.get(pkg).map(Vec::as_slice).unwrap_or(&[]);
        let body = self.package_items(ids);
        let header = self.header(ids);
        GeneratedFile {
            name: package_file_name(pkg),
            contents: render(&header, body, self.format),
        }
    }

    /// `_include.rs`.
    pub fn include_file(&self) -> GeneratedFile {
        GeneratedFile {
            name: "_include.rs".into(),
            contents: self.include_tree(),
        }
    }

    /// The errors found so far.
    pub fn take_diags(&self) -> Vec<Diagnostic> {
        std::mem::take(&mut *self.diags.borrow_mut())
    }

    fn package_items(&self, ids: &[TypeId]) -> TokenStream {
        let mut out = TokenStream::new();
        for &id in ids {
            out.extend(self.type_items(id));
        }
        out
    }

    /// A type's items and its companion module (nested types, interface
    /// descriptor and codes).
    pub fn type_items(&self, id: TypeId) -> TokenStream {
        let t = self.decl(id);
        let scope = self.module_of(id).join("::");
        self.claim(
            &scope,
            &rust_name(&t.name),
            &format!("`{}`", t.qualified_name),
            t.location,
        );
        let (items, companion) = match &t.kind {
            TypeDeclKind::Enum(e) => (self.enum_items(t, e), TokenStream::new()),
            TypeDeclKind::Parcelable(p) => (self.parcelable_items(t, p), TokenStream::new()),
            TypeDeclKind::Union(u) => (self.union_items(t, u), TokenStream::new()),
            TypeDeclKind::Interface(i) => self.interface_items(t, i),
            TypeDeclKind::UnstructuredParcelable(_) => return TokenStream::new(),
        };
        let mut nested = TokenStream::new();
        for &n in &t.nested {
            nested.extend(self.type_items(n));
        }
        if companion.is_empty() && nested.is_empty() {
            return items;
        }
        let cname = companion_name(t);
        self.claim(
            &scope,
            &cname,
            &format!("the module of `{}`", t.qualified_name),
            t.location,
        );
        let m = ident(&cname);
        let doc = format!(
            " Types nested in [`{}`]{}.",
            rust_name(&t.name),
            if t.decl_kind() == DeclKind::Interface {
                ", its descriptor, transaction codes and constants"
            } else {
                ""
            }
        );
        let inception = if self.module_of(id).last() == Some(&cname) {
            quote!(#[allow(clippy::module_inception)])
        } else {
            TokenStream::new()
        };
        quote! {
            #items
            #[doc = #doc]
            #inception
            pub mod #m {
                #companion
                #nested
            }
        }
    }

    fn header(&self, ids: &[TypeId]) -> String {
        let mut files: BTreeSet<String> = BTreeSet::new();
        let mut dir = String::new();
        for &id in ids {
            let t = self.decl(id);
            let (path, _) = self.model.position(t.location);
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            dir = t.package.replace('.', "/");
            files.insert(name);
        }
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let list: Vec<&str> = files.iter().map(|s| s.as_str()).collect();
        let from = if list.len() == 1 {
            format!("{prefix}{}", list[0])
        } else {
            let stems: Vec<&str> = list.iter().map(|s| s.trim_end_matches(".aidl")).collect();
            format!("{prefix}{{{}}}.aidl", stems.join(","))
        };
        format!("// @generated by capbinder-codegen from {from}. Do not edit.\n")
    }

    /// `_include.rs`: the packages as nested modules, each including its
    /// file.
    fn include_tree(&self) -> String {
        #[derive(Default)]
        struct Node {
            file: Option<String>,
            children: BTreeMap<String, Node>,
        }
        let mut root = Node::default();
        for pkg in self.packages.keys() {
            let mut node = &mut root;
            if !pkg.is_empty() {
                for seg in pkg.split('.') {
                    node = node.children.entry(seg.to_string()).or_default();
                }
            }
            node.file = Some(package_file_name(pkg));
        }
        fn emit(node: &Node) -> TokenStream {
            let mut out = TokenStream::new();
            if let Some(f) = &node.file {
                out.extend(quote!(include!(#f);));
            }
            for (seg, child) in &node.children {
                let name = rust_name(seg);
                let m = ident(&name);
                let inner = emit(child);
                let allow = if is_snake_case(seg) {
                    TokenStream::new()
                } else {
                    quote!(#[allow(non_snake_case)])
                };
                out.extend(quote! {
                    #allow
                    pub mod #m {
                        #inner
                    }
                });
            }
            out
        }
        render(
            "// @generated by capbinder-codegen. Do not edit.\n// Every generated package as a module tree; include it with `capbinder::include_aidl!()`.\n",
            emit(&root),
            true,
        )
    }

    /// `#[allow(deprecated)]` when the model has deprecated items.
    pub fn allow_deprecated(&self) -> TokenStream {
        if self.allow_deprecated {
            quote!(#[allow(deprecated)])
        } else {
            TokenStream::new()
        }
    }
}

/// The prelude as a module that defines `d` writes it.
fn std_for(d: &Defined) -> Std {
    let pick = |shadowed: bool, short: &str, full: TokenStream| {
        if shadowed {
            full
        } else {
            let i = ident(short);
            quote!(#i)
        }
    };
    let ty = |n: &str, full: TokenStream| pick(d.types.contains(n), n, full);
    let val = |n: &str, full: TokenStream| pick(d.values.contains(n), n, full);
    Std {
        option: ty("Option", quote!(::std::option::Option)),
        some: val("Some", quote!(::std::option::Option::Some)),
        none: val("None", quote!(::std::option::Option::None)),
        ok: val("Ok", quote!(::std::result::Result::Ok)),
        err: val("Err", quote!(::std::result::Result::Err)),
        vec: ty("Vec", quote!(::std::vec::Vec)),
        string: ty("String", quote!(::std::string::String)),
        boxed: ty("Box", quote!(::std::boxed::Box)),
        default: ty("Default", quote!(::core::default::Default)),
        send: ty("Send", quote!(::core::marker::Send)),
        sync: ty("Sync", quote!(::core::marker::Sync)),
        partial_eq: ty("PartialEq", quote!(::core::cmp::PartialEq)),
    }
}

/// Formats tokens with prettyplease (or not) behind a header.
fn render(header: &str, tokens: TokenStream, format: bool) -> String {
    if !format {
        return format!("{header}\n{tokens}\n");
    }
    let body = match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        // A generator bug: keep the tokens so that rustc points at them.
        Err(e) => format!("// capbinder-codegen could not format this file: {e}\n{tokens}\n"),
    };
    format!("{header}\n{body}")
}

/// `a.b.c` → `a.b` for `n` = 2.
fn pkg_prefix(pkg: &str, n: usize) -> String {
    pkg.split('.').take(n).collect::<Vec<_>>().join(".")
}

/// The file a package's code goes to.
pub(crate) fn package_file_name(pkg: &str) -> String {
    if pkg.is_empty() {
        "_root.rs".into()
    } else {
        format!("{pkg}.rs")
    }
}

/// The module that holds a type's nested types: its snake-case name.
pub(crate) fn companion_name(t: &TypeDecl) -> String {
    rust_name(&snake_case(&t.name))
}

fn relative(from: &[String], module: &[String], name: &str) -> TokenStream {
    let common = from
        .iter()
        .zip(module.iter())
        .take_while(|(a, b)| a == b)
        .count();
    let mut segs: Vec<TokenStream> = Vec::new();
    for _ in common..from.len() {
        segs.push(quote!(super));
    }
    for m in &module[common..] {
        let i = ident(m);
        segs.push(quote!(#i));
    }
    let n = ident(name);
    segs.push(quote!(#n));
    quote!(#(#segs)::*)
}

/// The Rust module for a package under an extern path, if any (the
/// longest matching prefix wins).
fn extern_for(package: &str, externs: &[(String, String)]) -> Option<String> {
    let mut best: Option<(&str, &str)> = None;
    for (prefix, path) in externs {
        let prefix = prefix.trim_start_matches('.');
        let matches = package == prefix
            || (package.starts_with(prefix) && package[prefix.len()..].starts_with('.'));
        if matches && best.is_none_or(|(p, _)| p.len() < prefix.len()) {
            best = Some((prefix, path));
        }
    }
    let (prefix, path) = best?;
    let rest: Vec<String> = package[prefix.len()..]
        .split('.')
        .filter(|s| !s.is_empty())
        .map(rust_name)
        .collect();
    let mut out = path.trim_end_matches("::").to_string();
    for r in rest {
        out.push_str("::");
        out.push_str(&r);
    }
    Some(out)
}

/// The error for an unstructured parcelable without `rust_type`.
pub(crate) fn no_rust_type(t: &TypeDecl, at: Location, label: &str) -> Diagnostic {
    let header = t
        .as_unstructured()
        .and_then(|u| u.cpp_header.as_ref().or(u.ndk_header.as_ref()))
        .map(|h| format!(" (it only names the C++ header `{h}`)"))
        .unwrap_or_default();
    Diagnostic::error(format!(
        "the Rust backend cannot use parcelable `{}`: it is declared without a Rust type{header}",
        t.qualified_name
    ))
    .with_label(at, label)
    .with_help(format!(
        "declare it `parcelable {} rust_type \"crate::path::{}\";` with a Rust type that implements `capbinder::Parcelable`, `Default`, `Clone`, `Debug` and `PartialEq`, or make it a structured parcelable",
        t.name, t.name
    ))
}

fn is_deprecated_anywhere(t: &TypeDecl) -> bool {
    if t.deprecated().is_some() {
        return true;
    }
    let members = match &t.kind {
        TypeDeclKind::Interface(i) => {
            i.methods.iter().any(|m| m.deprecated().is_some())
                || i.constants
                    .iter()
                    .any(|c| c.comments.deprecated().is_some())
        }
        TypeDeclKind::Parcelable(p) => {
            p.fields.iter().any(|f| f.deprecated().is_some())
                || p.constants
                    .iter()
                    .any(|c| c.comments.deprecated().is_some())
        }
        TypeDeclKind::Union(u) => {
            u.fields.iter().any(|f| f.deprecated().is_some())
                || u.constants
                    .iter()
                    .any(|c| c.comments.deprecated().is_some())
        }
        TypeDeclKind::Enum(e) => e
            .enumerators
            .iter()
            .any(|x| x.comments.deprecated().is_some()),
        TypeDeclKind::UnstructuredParcelable(_) => false,
    };
    members
}
