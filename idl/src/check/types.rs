//! Type names and type specifiers: scope-based name resolution, built-in
//! types, generics, arrays, and AOSP's `AidlTypeSpecifier::CheckValid`.

use super::*;

impl<'a> Checker<'a> {
    /// The AST declarations enclosing (and including) `id`, outermost first.
    pub(super) fn scope_chain(&self, id: TypeId) -> Vec<TypeId> {
        let mut chain = vec![id];
        let mut cur = id;
        while let Some(p) = self.decls[cur.index()].parent {
            chain.push(p);
            cur = p;
        }
        chain.reverse();
        chain
    }

    pub(super) fn resolve_type_name(&self, scope: TypeId, name: &str) -> (String, Option<TypeId>) {
        let chain = self.scope_chain(scope);
        let scopes: Vec<Scope<'_>> = chain
            .iter()
            .filter_map(|id| {
                let info = &self.decls[id.index()];
                info.ast.map(|decl| Scope {
                    decl,
                    qualified: info.qualified.as_str(),
                })
            })
            .collect();
        let doc = self.doc_of(scope);
        let package = doc.ast.package_name();
        let canonical = resolve_name(&doc.ast, &package, &scopes, name);
        let id = self.by_name.get(&canonical).copied();
        (canonical, id)
    }

    pub(super) fn type_param_in_scope(&self, scope: TypeId, name: &str) -> bool {
        let mut cur = Some(scope);
        while let Some(id) = cur {
            let info = &self.decls[id.index()];
            if let Some(decl) = info.ast {
                if decl.type_params().iter().any(|p| p.name.name == name) {
                    return true;
                }
            }
            cur = info.parent;
        }
        false
    }

    pub(super) fn unknown_type(
        &mut self,
        file: FileId,
        scope: TypeId,
        written: &QualifiedName,
        canonical: &str,
    ) {
        let text = written.text();
        let mut d = Diagnostic::error(format!("unknown type `{text}`"))
            .with_label(self.loc(file, written.span), "not found");
        let note = self.roots_note(&relative_path(canonical));
        d = d.with_note(note);
        let package = self.decls[scope.index()].package.clone();
        if written.is_simple() && !package.is_empty() {
            let same = format!("{package}.{text}");
            let exists = self.by_name.contains_key(&same)
                || matches!(find_file(self.files, self.roots, &same), Found::One(_));
            if exists {
                d = d.with_help(format!(
                    "`{same}` is in the same package, but AIDL needs an import: add `import {same};`"
                ));
            }
        }
        self.push(d);
    }

    pub(super) fn resolve_type(
        &mut self,
        ts: &'a TypeSpec,
        scope: TypeId,
        targets: Targets,
    ) -> Option<Type> {
        let file = self.decls[scope.index()].file;
        let annotations = self.annotations(&ts.annotations, targets, file);
        let kind = self.resolve_type_kind(ts, scope, file)?;
        let array = match &ts.array {
            None => None,
            Some(ast::ArraySpec::Dynamic(_)) => Some(ArrayShape::Dynamic),
            Some(ast::ArraySpec::Fixed(dims)) => {
                let mut out = Vec::new();
                for d in dims {
                    let v = self.eval(d, Some(scope), file)?;
                    let size = match v {
                        Value::Bool(b) => Some(i64::from(b)),
                        Value::Int(k, x) if k <= ast::IntKind::Int32 => Some(x),
                        _ => None,
                    };
                    match size.and_then(|s| u32::try_from(s).ok()) {
                        Some(s) => out.push(s),
                        None => {
                            let shown = self.slice(file, d.span).to_string();
                            self.error(
                                file,
                                d.span,
                                format!("array size must be a non-negative `int`, found `{shown}`"),
                                "invalid size",
                            );
                            return None;
                        }
                    }
                }
                Some(ArrayShape::Fixed(out))
            }
        };
        let t = Type {
            kind,
            array,
            annotations,
            location: self.loc(file, ts.span),
        };
        self.check_type(&t, ts, file);
        Some(t)
    }

    pub(super) fn resolve_type_kind(
        &mut self,
        ts: &'a TypeSpec,
        scope: TypeId,
        file: FileId,
    ) -> Option<TypeKind> {
        let name = ts.name.text();
        let not_generic = |this: &mut Self, what: &str| {
            this.error(
                file,
                ts.span,
                format!("`{what}` is not a generic type"),
                "type arguments given here",
            );
        };
        let builtin = match name.as_str() {
            "void" => Some(TypeKind::Void),
            "boolean" => Some(TypeKind::Primitive(Primitive::Boolean)),
            "byte" => Some(TypeKind::Primitive(Primitive::Byte)),
            "char" => Some(TypeKind::Primitive(Primitive::Char)),
            "int" => Some(TypeKind::Primitive(Primitive::Int)),
            "long" => Some(TypeKind::Primitive(Primitive::Long)),
            "float" => Some(TypeKind::Primitive(Primitive::Float)),
            "double" => Some(TypeKind::Primitive(Primitive::Double)),
            "String" => Some(TypeKind::String),
            "CharSequence" => Some(TypeKind::CharSequence),
            "IBinder" => Some(TypeKind::IBinder),
            "FileDescriptor" => Some(TypeKind::FileDescriptor),
            "ParcelFileDescriptor" | "android.os.ParcelFileDescriptor" => {
                Some(TypeKind::ParcelFileDescriptor)
            }
            "ParcelableHolder" => Some(TypeKind::ParcelableHolder),
            "List" | "java.util.List" | "Map" | "java.util.Map" => None,
            _ => None,
        };
        if let Some(k) = builtin {
            if ts.args.is_some() {
                not_generic(self, &name);
                return None;
            }
            return Some(k);
        }
        if matches!(
            name.as_str(),
            "List" | "java.util.List" | "Map" | "java.util.Map"
        ) {
            let is_list = name.ends_with("List");
            let Some(args) = &ts.args else {
                return Some(if is_list {
                    TypeKind::List(None)
                } else {
                    TypeKind::Map(None)
                });
            };
            let mut resolved = Vec::new();
            for a in args {
                resolved.push(self.resolve_type(a, scope, Targets::of(&[Target::Type]))?);
            }
            let sig = || {
                let a: Vec<String> = resolved.iter().map(|t| t.signature()).collect();
                format!("{}<{}>", if is_list { "List" } else { "Map" }, a.join(","))
            };
            // AOSP checks this first, for List and Map alike
            if let Some(bad) = resolved.iter().find(|t| {
                t.array.is_none()
                    && (t.kind.primitive().is_some()
                        || matches!(t.kind, TypeKind::Void)
                        || matches!(
                            t.kind,
                            TypeKind::Defined {
                                kind: DeclKind::Enum,
                                ..
                            }
                        ))
            }) {
                let shown = bad.signature();
                self.error(
                    file,
                    ts.span,
                    "a generic type cannot have any primitive type parameters",
                    format!("`{shown}` is a primitive or enum type"),
                );
                if is_list {
                    if let Some(d) = self.diags.last_mut() {
                        d.help
                            .push("use an array instead, e.g. `int[]`".to_string());
                    }
                }
                return None;
            }
            if is_list {
                if resolved.len() != 1 {
                    self.error(
                        file,
                        ts.span,
                        format!(
                            "`List` can only have one type parameter, but got `{}`",
                            sig()
                        ),
                        "",
                    );
                    return None;
                }
                let inner = resolved.remove(0);
                let usage = "List<T> supports interface/parcelable/union, String, IBinder, and ParcelFileDescriptor";
                if inner.array.is_some() {
                    self.push(
                        Diagnostic::error("lists of arrays are not supported")
                            .with_label(self.loc(file, ts.span), "")
                            .with_note(usage),
                    );
                    return None;
                }
                let ok = matches!(
                    inner.kind,
                    TypeKind::String
                        | TypeKind::IBinder
                        | TypeKind::ParcelFileDescriptor
                        | TypeKind::Defined { .. }
                        | TypeKind::TypeParameter(_)
                );
                if !ok {
                    self.push(
                        Diagnostic::error(format!(
                            "`List<{}>` is not supported",
                            inner.signature()
                        ))
                        .with_label(self.loc(file, ts.span), "")
                        .with_note(usage),
                    );
                    return None;
                }
                return Some(TypeKind::List(Some(Box::new(inner))));
            }
            if resolved.len() != 2 {
                self.error(
                    file,
                    ts.span,
                    format!(
                        "`Map` must have 0 or 2 type parameters, but got `{}`",
                        sig()
                    ),
                    "",
                );
                return None;
            }
            let value = resolved.remove(1);
            let key = resolved.remove(0);
            if key.signature() != "String" {
                self.error(
                    file,
                    ts.span,
                    format!(
                        "the type of key in map must be `String`, but it is `{}`",
                        key.signature()
                    ),
                    "",
                );
                return None;
            }
            return Some(TypeKind::Map(Some(Box::new((key, value)))));
        }
        if ts.name.is_simple() && self.type_param_in_scope(scope, &name) {
            if ts.args.is_some() {
                not_generic(self, &name);
                return None;
            }
            return Some(TypeKind::TypeParameter(name));
        }
        let (canonical, id) = self.resolve_type_name(scope, &name);
        let Some(id) = id else {
            self.unknown_type(file, scope, &ts.name, &canonical);
            return None;
        };
        let info = &self.decls[id.index()];
        let kind = info.kind;
        let qualified = info.qualified.clone();
        let params = info.ast.map(|d| d.type_params().len()).unwrap_or(0);
        let mut args = Vec::new();
        if let Some(list) = &ts.args {
            if params == 0 {
                not_generic(self, &name);
                return None;
            }
            if list.len() != params {
                self.error(
                    file,
                    ts.span,
                    format!(
                        "`{name}` must have {params} type parameters, but got {}",
                        list.len()
                    ),
                    "",
                );
                return None;
            }
            for a in list {
                args.push(self.resolve_type(a, scope, Targets::of(&[Target::Type]))?);
            }
        }
        Some(TypeKind::Defined {
            id,
            qualified_name: qualified,
            kind,
            args,
        })
    }

    /// AOSP's `AidlTypeSpecifier::CheckValid` (after resolution).
    pub(super) fn check_type(&mut self, t: &Type, ts: &TypeSpec, file: FileId) {
        let span = ts.span;
        let name = t.kind.signature();
        let is_string_list = matches!(&t.kind, TypeKind::List(Some(inner)) if matches!(inner.kind, TypeKind::String));
        if t.is_utf8_in_cpp() && !matches!(t.kind, TypeKind::String) && !is_string_list {
            self.error(
                file,
                span,
                "`@utf8InCpp` can only be used on String, String[], and List<String>",
                format!("`{}`", t.signature()),
            );
        }
        if matches!(t.kind, TypeKind::Void)
            && (t.is_array() || t.is_nullable() || t.is_utf8_in_cpp())
        {
            self.error(
                file,
                span,
                "`void` can't be an array, nullable or a utf8 string",
                "",
            );
        }
        if t.is_array()
            && matches!(
                t.kind,
                TypeKind::ParcelableHolder
                    | TypeKind::List(_)
                    | TypeKind::Map(_)
                    | TypeKind::CharSequence
            )
        {
            let base = match t.kind {
                TypeKind::List(_) => "List",
                TypeKind::Map(_) => "Map",
                TypeKind::CharSequence => "CharSequence",
                _ => "ParcelableHolder",
            };
            self.error(
                file,
                span,
                format!("arrays of `{base}` are not supported"),
                "",
            );
        }
        if t.is_nullable() {
            if let (Some(p), false) = (t.kind.primitive(), t.is_array()) {
                self.error(
                    file,
                    span,
                    format!("primitive type `{}` can't be `@nullable`", p.name()),
                    "",
                );
            } else if matches!(
                t.kind,
                TypeKind::Defined {
                    kind: DeclKind::Enum,
                    ..
                }
            ) && !t.is_array()
            {
                self.error(
                    file,
                    span,
                    format!("enum type `{name}` can't be `@nullable`"),
                    "",
                );
            } else if matches!(t.kind, TypeKind::ParcelableHolder) {
                self.error(file, span, "`ParcelableHolder` can't be `@nullable`", "");
            } else if t.is_heap_nullable() {
                let ok = matches!(&t.kind, TypeKind::Defined { kind, .. } if is_parcelable_kind(*kind))
                    && !t.is_array();
                if !ok {
                    self.error(
                        file,
                        span,
                        "`@nullable(heap=true)` is only available for parcelables",
                        format!("`{}`", t.signature()),
                    );
                }
            }
        }
    }
}
