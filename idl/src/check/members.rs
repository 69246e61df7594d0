//! Members of declarations: methods (directions, oneway, ids), fields and
//! defaults, constants, enumerators, and the per-kind rules of parcelables
//! and unions.

use super::eval::backing_scalar;
use super::*;

impl<'a> Checker<'a> {
    pub(super) fn build_constant(
        &mut self,
        id: TypeId,
        index: usize,
        c: &'a ast::ConstDecl,
        file: FileId,
    ) -> Option<Constant> {
        let ty = self.resolve_type(&c.ty, id, Targets::of(&[Target::Type, Target::Const]));
        let raw = self.const_value(ConstKey::Const(id, index), None);
        let ty = ty?;
        let sig = ty.signature();
        if !matches!(
            sig.as_str(),
            "String" | "byte" | "int" | "long" | "float" | "double"
        ) {
            self.push(
                Diagnostic::error(format!("constants of type `{sig}` are not supported"))
                    .with_label(self.loc(file, c.ty.span), "")
                    .with_note(
                        "constants can be `String`, `byte`, `int`, `long`, `float` or `double`",
                    ),
            );
            return None;
        }
        let value = self.fit(&raw?, &c.value, &ty, id, file)?;
        Some(Constant {
            name: c.name.name.clone(),
            ty,
            value,
            comments: c.comments.clone(),
            location: self.loc(file, c.name.span),
        })
    }

    pub(super) fn build_constants(
        &mut self,
        id: TypeId,
        decl: &'a Decl,
        file: FileId,
    ) -> Vec<Constant> {
        let mut out = Vec::new();
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for (i, m) in decl.members().iter().enumerate() {
            let Member::Const(c) = m else { continue };
            if let Some(prev) = seen.get(c.name.name.as_str()) {
                let d = Diagnostic::error(format!("duplicate constant name `{}`", c.name.name))
                    .with_label(self.loc(file, c.name.span), "defined again here")
                    .with_secondary(self.loc(file, *prev), "first defined here");
                self.push(d);
            } else {
                seen.insert(&c.name.name, c.name.span);
            }
            if let Some(k) = self.build_constant(id, i, c, file) {
                out.push(k);
            }
        }
        out
    }

    pub(super) fn build_interface(
        &mut self,
        id: TypeId,
        decl: &'a Decl,
        i: &'a ast::InterfaceDecl,
        annotations: &Annotations,
        file: FileId,
    ) -> Interface {
        let iface_oneway = i.oneway.is_some();
        let iface_perm = annotations
            .iter()
            .any(|a| annotation::is_permission(&a.name));
        let mut methods: Vec<Method> = Vec::new();
        let mut names: HashMap<String, Location> = HashMap::new();
        for m in decl.members() {
            let Member::Method(m) = m else { continue };
            if let Some(method) = self.build_method(id, m, iface_oneway, file) {
                if let Some(prev) = names.get(&method.name) {
                    let d = Diagnostic::error(format!(
                        "method `{}` is defined more than once",
                        method.name
                    ))
                    .with_label(method.location, "redefined here")
                    .with_secondary(*prev, "previously defined here")
                    .with_note("AIDL has no overloading: every method needs its own name");
                    self.push(d);
                } else {
                    names.insert(method.name.clone(), method.location);
                }
                let sig = method.signature();
                if RESERVED_METHODS.contains(&sig.as_str()) {
                    self.push(
                        Diagnostic::error(format!("method `{sig}` is reserved for internal use"))
                            .with_label(method.location, "reserved"),
                    );
                }
                if iface_perm
                    && method
                        .annotations()
                        .iter()
                        .any(|a| annotation::is_permission(&a.name))
                {
                    let iname = self.decls[id.index()].name.clone();
                    self.push(
                        Diagnostic::error(format!(
                            "the interface `{iname}` uses a permission annotation but the method `{}` is also annotated",
                            method.name
                        ))
                        .with_label(method.location, "")
                        .with_help("distribute the annotation to each method"),
                    );
                }
                methods.push(method);
            }
        }
        self.assign_ids(decl, &mut methods, file);
        let constants = self.build_constants(id, decl, file);
        let descriptor = annotations
            .get("Descriptor")
            .and_then(|a| a.param_str("value"))
            .map(str::to_string)
            .unwrap_or_else(|| self.decls[id.index()].qualified.clone());
        Interface {
            oneway: iface_oneway,
            descriptor,
            methods,
            constants,
            forward_declaration: i.members.is_none(),
        }
    }

    pub(super) fn build_method(
        &mut self,
        id: TypeId,
        m: &'a ast::Method,
        iface_oneway: bool,
        file: FileId,
    ) -> Option<Method> {
        let ret = self.resolve_type(
            &m.return_type,
            id,
            Targets::of(&[Target::Type, Target::Method]),
        );
        let oneway = m.oneway.is_some() || iface_oneway;
        let name = m.name.name.clone();
        let mut args = Vec::new();
        let mut ok = ret.is_some();
        let mut arg_names: HashMap<&str, Span> = HashMap::new();
        for a in &m.args {
            if let Some(prev) = arg_names.get(a.name.name.as_str()) {
                let d = Diagnostic::error(format!(
                    "method `{name}` has duplicate argument name `{}`",
                    a.name.name
                ))
                .with_label(self.loc(file, a.name.span), "repeated")
                .with_secondary(self.loc(file, *prev), "first here");
                self.push(d);
                ok = false;
            } else {
                arg_names.insert(&a.name.name, a.name.span);
            }
            let ty = self.resolve_type(&a.ty, id, Targets::of(&[Target::Type]));
            let Some(ty) = ty else {
                ok = false;
                continue;
            };
            let direction = a.direction.map(|d| d.0).unwrap_or(Direction::In);
            if matches!(ty.kind, TypeKind::Void) {
                self.error(
                    file,
                    a.ty.span,
                    format!(
                        "`void` is an invalid type for the parameter `{}`",
                        a.name.name
                    ),
                    "",
                );
                ok = false;
            } else if !self.check_direction(a, &ty, file) {
                ok = false;
            }
            if oneway && direction != Direction::In {
                let span = a.direction.map(|d| d.1).unwrap_or(a.span);
                let mut d =
                    Diagnostic::error(format!("oneway method `{name}` cannot have out parameters"))
                        .with_label(
                            self.loc(file, span),
                            format!("`{}` parameter", direction.as_str()),
                        );
                if m.oneway.is_none() {
                    d = d.with_note("every method of a `oneway interface` is oneway");
                }
                self.push(d);
                ok = false;
            }
            if JAVA_KEYWORDS.contains(&a.name.name.as_str()) {
                self.error(
                    file,
                    a.name.span,
                    format!("argument name `{}` is a Java or AIDL keyword", a.name.name),
                    "",
                );
                ok = false;
            }
            if a.name.name.starts_with("_aidl") {
                self.error(
                    file,
                    a.name.span,
                    "argument names can't begin with `_aidl`",
                    "",
                );
                ok = false;
            }
            args.push(Argument {
                name: a.name.name.clone(),
                direction,
                direction_explicit: a.direction.is_some(),
                ty,
                location: self.loc(file, a.name.span),
            });
        }
        let ret = ret?;
        if matches!(ret.kind, TypeKind::ParcelableHolder) {
            self.error(
                file,
                m.return_type.span,
                "`ParcelableHolder` can't be a return type",
                "",
            );
            ok = false;
        }
        if oneway && !matches!(ret.kind, TypeKind::Void) {
            let mut d = Diagnostic::error(format!("oneway method `{name}` cannot return a value"))
                .with_label(self.loc(file, m.return_type.span), "must be `void`");
            if m.oneway.is_none() {
                d = d.with_note("every method of a `oneway interface` is oneway");
            }
            self.push(d);
            ok = false;
        }
        if !ok {
            return None;
        }
        Some(Method {
            name,
            return_type: ret,
            args,
            oneway,
            id: 0,
            explicit_id: m.id.is_some(),
            transaction_code: 0,
            comments: m.comments.clone(),
            location: self.loc(file, m.name.span),
        })
    }

    /// AOSP's `GetArgumentAspect` and `AidlArgument::CheckValid`.
    pub(super) fn check_direction(&mut self, a: &ast::Arg, ty: &Type, file: FileId) -> bool {
        const ALL: &[Direction] = &[Direction::In, Direction::Out, Direction::InOut];
        const IN: &[Direction] = &[Direction::In];
        let (what, allowed): (String, &[Direction]) = if ty.is_array() {
            ("array".into(), ALL)
        } else {
            match &ty.kind {
                TypeKind::List(_) => ("List".into(), ALL),
                TypeKind::Map(_) => ("Map".into(), ALL),
                TypeKind::ParcelFileDescriptor => (
                    "ParcelFileDescriptor".into(),
                    &[Direction::In, Direction::InOut],
                ),
                TypeKind::ParcelableHolder => ("ParcelableHolder".into(), &[]),
                TypeKind::Defined { id, kind, .. } => match kind {
                    DeclKind::Parcelable | DeclKind::Union | DeclKind::UnstructuredParcelable => {
                        let immutable = self.decls[id.index()].ast.is_some_and(|d| {
                            d.annotations
                                .iter()
                                .any(|a| a.name.name == "JavaOnlyImmutable")
                        });
                        if immutable {
                            ("@JavaOnlyImmutable".into(), IN)
                        } else {
                            ("parcelable/union".into(), ALL)
                        }
                    }
                    DeclKind::Interface => ("interface".into(), IN),
                    DeclKind::Enum => ("enum".into(), IN),
                },
                TypeKind::TypeParameter(_) => ("type parameter".into(), ALL),
                other => (other.signature(), IN),
            }
        };
        if allowed.is_empty() {
            self.error(
                file,
                a.ty.span,
                format!("`{what}` can't be an argument type"),
                "",
            );
            return false;
        }
        match a.direction {
            None if allowed != IN => {
                self.push(
                    Diagnostic::error(format!(
                        "the direction of `{}` is not specified",
                        a.name.name
                    ))
                    .with_label(self.loc(file, a.span), "needs `in`, `out` or `inout`")
                    .with_note(format!(
                        "{what} can be an {} parameter",
                        format_directions(allowed)
                    )),
                );
                false
            }
            Some((d, span)) if !allowed.contains(&d) => {
                self.push(
                    Diagnostic::error(format!(
                        "`{}` can't be an {} parameter because {what} can only be an {} parameter",
                        a.name.name,
                        d.as_str(),
                        format_directions(allowed)
                    ))
                    .with_label(
                        self.loc(file, span),
                        format!("`{}` not allowed here", d.as_str()),
                    ),
                );
                false
            }
            _ => true,
        }
    }

    /// AOSP's `CheckAndAssignMethodIDs`: all or none of the methods have
    /// explicit ids; ids are unique and within range.
    pub(super) fn assign_ids(&mut self, decl: &'a Decl, methods: &mut [Method], file: FileId) {
        let ast_methods: HashMap<&str, &ast::Method> = decl
            .members()
            .iter()
            .filter_map(|m| match m {
                Member::Method(m) => Some((m.name.name.as_str(), m)),
                _ => None,
            })
            .collect();
        let mut next: u32 = 0;
        let mut has_explicit = false;
        let mut has_implicit = false;
        let mut mixed_reported = false;
        let mut used: HashMap<u32, (String, Location)> = HashMap::new();
        for m in methods.iter_mut() {
            let written = ast_methods.get(m.name.as_str()).and_then(|a| a.id.as_ref());
            match written {
                Some(idv) => {
                    has_explicit = true;
                    match idv.value {
                        Some(v) => m.id = v as u32,
                        None => continue, // reported by the parser
                    }
                }
                None => {
                    has_implicit = true;
                    m.id = next;
                    next += 1;
                }
            }
            if has_explicit && has_implicit && !mixed_reported {
                mixed_reported = true;
                self.push(
                    Diagnostic::error("either all methods must have explicit ids or none of them")
                        .with_label(
                            m.location,
                            if written.is_some() {
                                "this one has an id"
                            } else {
                                "this one has none"
                            },
                        )
                        .with_help("give every method an id (`= N`) or remove them all"),
                );
            }
            if let Some(idv) = written {
                if m.id > MAX_USER_METHOD_ID {
                    self.error(
                        file,
                        idv.span,
                        format!(
                            "method id {} of `{}` is out of range: ids must be between 0 and {MAX_USER_METHOD_ID}",
                            m.id, m.name
                        ),
                        "out of range",
                    );
                }
            }
            if let Some((other, loc)) = used.get(&m.id) {
                let d = Diagnostic::error(format!(
                    "duplicate method id {} for method `{}`",
                    m.id, m.name
                ))
                .with_label(m.location, "same id")
                .with_secondary(*loc, format!("`{other}` already has this id"));
                self.push(d);
            } else {
                used.insert(m.id, (m.name.clone(), m.location));
            }
            m.transaction_code = FIRST_CALL_TRANSACTION + m.id;
        }
    }

    pub(super) fn build_fields(
        &mut self,
        id: TypeId,
        decl: &'a Decl,
        p: &'a ast::ParcelableDecl,
        file: FileId,
    ) -> (Vec<String>, Vec<Field>, Vec<Constant>) {
        self.check_type_params(decl, file);
        let type_params = p.type_params.iter().map(|t| t.name.name.clone()).collect();
        let mut fields = Vec::new();
        let mut names: HashMap<&str, Span> = HashMap::new();
        let tname = self.decls[id.index()].name.clone();
        for m in &p.members {
            let Member::Field(f) = m else { continue };
            if let Some(prev) = names.get(f.name.name.as_str()) {
                let d = Diagnostic::error(format!(
                    "`{tname}` has duplicate field name `{}`",
                    f.name.name
                ))
                .with_label(self.loc(file, f.name.span), "repeated")
                .with_secondary(self.loc(file, *prev), "first here");
                self.push(d);
            } else {
                names.insert(&f.name.name, f.name.span);
            }
            let Some(ty) =
                self.resolve_type(&f.ty, id, Targets::of(&[Target::Type, Target::Field]))
            else {
                if let Some(e) = &f.default {
                    self.eval(e, Some(id), file);
                }
                continue;
            };
            if matches!(ty.kind, TypeKind::Void) {
                self.error(
                    file,
                    f.ty.span,
                    format!("field `{}` can't be of type `void`", f.name.name),
                    "",
                );
                continue;
            }
            if matches!(ty.kind, TypeKind::List(None) | TypeKind::Map(None))
                || matches!(&ty.kind, TypeKind::Map(Some(kv)) if matches!(kv.1.kind, TypeKind::List(None) | TypeKind::Map(None)))
            {
                self.push(
                    Diagnostic::error(
                        "untyped `List` and `Map` are not allowed in parcelables and unions",
                    )
                    .with_label(self.loc(file, f.ty.span), "untyped container")
                    .with_note("the receiving side can't know what the container holds")
                    .with_help("use an array or a generic `List<T>`/`Map<String, V>`"),
                );
            }
            let (default, explicit) = match &f.default {
                Some(e) => {
                    let v = self.eval(e, Some(id), file);
                    (v.and_then(|v| self.fit(&v, e, &ty, id, file)), true)
                }
                None => (implicit_default(&ty), false),
            };
            if explicit && default.is_none() {
                continue;
            }
            fields.push(Field {
                name: f.name.name.clone(),
                ty,
                default,
                default_explicit: explicit,
                comments: f.comments.clone(),
                location: self.loc(file, f.name.span),
            });
        }
        let constants = self.build_constants(id, decl, file);
        (type_params, fields, constants)
    }

    pub(super) fn check_parcelable_like(
        &mut self,
        id: TypeId,
        annotations: &Annotations,
        fields: &[Field],
        is_union: bool,
    ) {
        let name = self.decls[id.index()].name.clone();
        if annotations.has("FixedSize") {
            for f in fields {
                if !self.can_be_fixed_size(&f.ty) {
                    self.push(
                        Diagnostic::error(format!(
                            "the @FixedSize parcelable `{name}` has a non-fixed size field named `{}`",
                            f.name
                        ))
                        .with_label(f.location, "")
                        .with_note("fixed-size fields are primitives, enums, @FixedSize parcelables and unions, and fixed-size arrays of them"),
                    );
                }
            }
        }
        if annotations.has("JavaOnlyImmutable") {
            for f in fields {
                if !self.can_be_immutable(&f.ty) {
                    self.push(
                        Diagnostic::error(format!(
                            "the @JavaOnlyImmutable `{name}` has a non-immutable field named `{}`",
                            f.name
                        ))
                        .with_label(f.location, ""),
                    );
                }
            }
        }
        if is_union || annotations.has("JavaOnlyImmutable") {
            let mut getters: HashMap<String, Location> = HashMap::new();
            for f in fields {
                let mut cap = f.name.clone();
                if let Some(first) = cap.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                if let Some(prev) = getters.get(&cap) {
                    let d = Diagnostic::error(format!(
                        "`{name}` has duplicate field name `{}` after capitalizing the first letter",
                        f.name
                    ))
                    .with_label(f.location, "")
                    .with_secondary(*prev, "clashes with this field");
                    self.push(d);
                } else {
                    getters.insert(cap, f.location);
                }
            }
        }
        let derives: Vec<&str> = annotations
            .get("RustDerive")
            .map(|a| {
                a.params
                    .iter()
                    .filter(|(_, v)| *v == ConstValue::Boolean(true))
                    .map(|(n, _)| n.as_str())
                    .collect()
            })
            .unwrap_or_default();
        if !derives.is_empty() {
            for f in fields {
                let Some(fid) = f.ty.kind.defined() else {
                    continue;
                };
                let Some(fdecl) = self.decls[fid.index()].ast else {
                    continue;
                };
                if !matches!(
                    fdecl.kind,
                    ast::DeclKind::Parcelable(_) | ast::DeclKind::Union(_)
                ) {
                    continue;
                }
                let sub: Vec<&str> = fdecl
                    .annotations
                    .iter()
                    .filter(|a| a.name.name == "RustDerive")
                    .flat_map(|a| a.param_list())
                    .filter(|(_, _, e)| matches!(e.kind, ExprKind::Bool(true)))
                    .map(|(n, _, _)| n)
                    .collect();
                for d in &derives {
                    if !sub.contains(d) {
                        self.push(
                            Diagnostic::error(format!(
                                "field `{}` of a type with `@RustDerive({d}=true)` must derive `{d}` too",
                                f.name
                            ))
                            .with_label(f.location, ""),
                        );
                    }
                }
            }
        }
    }

    pub(super) fn check_union(&mut self, decl: &'a Decl, fields: &[Field], file: FileId) {
        for f in fields {
            if matches!(f.ty.kind, TypeKind::ParcelableHolder) {
                self.push(
                    Diagnostic::error(format!(
                        "a union can't have a member of type `ParcelableHolder` (`{}`)",
                        f.name
                    ))
                    .with_label(f.location, ""),
                );
            }
        }
        let declared = decl.members().iter().any(|m| matches!(m, Member::Field(_)));
        if !declared {
            self.error(
                file,
                decl.name.span,
                format!("the union `{}` has no fields", decl.name.text()),
                "a union needs at least one field",
            );
            return;
        }
        // the first member is the default: it needs a useful default value
        let Some(Member::Field(first_ast)) = decl
            .members()
            .iter()
            .find(|m| matches!(m, Member::Field(_)))
        else {
            return;
        };
        let Some(first) = fields.first().filter(|f| f.name == first_ast.name.name) else {
            return;
        };
        let useful = first.default.is_some() || first.ty.is_nullable();
        if !useful {
            if first.ty.is_enum() {
                self.push(
                    Diagnostic::error(
                        "the union's first member should have a useful default value",
                    )
                    .with_label(first.location, "")
                    .with_help("initialize it with an enumerator, e.g. `= MyEnum.FOO;`"),
                );
            } else if first.ty.is_array() {
                self.push(
                    Diagnostic::error(
                        "the union's first member should have a useful default value",
                    )
                    .with_label(first.location, "")
                    .with_help("initialize the array (`= {...};`) or mark it `@nullable`"),
                );
            }
        }
    }

    pub(super) fn can_be_fixed_size(&self, t: &Type) -> bool {
        if t.is_nullable() {
            return false;
        }
        if matches!(t.array, Some(ArrayShape::Dynamic)) {
            return false;
        }
        match &t.kind {
            TypeKind::Primitive(_) => true,
            TypeKind::Defined { id, args, .. } => {
                if !args.is_empty() {
                    return false;
                }
                let info = &self.decls[id.index()];
                if info.kind == DeclKind::Enum {
                    return true;
                }
                info.ast
                    .is_some_and(|d| d.annotations.iter().any(|a| a.name.name == "FixedSize"))
            }
            _ => false,
        }
    }

    pub(super) fn can_be_immutable(&self, t: &Type) -> bool {
        match &t.kind {
            TypeKind::List(Some(inner)) => self.can_be_immutable(inner),
            TypeKind::Map(Some(kv)) => self.can_be_immutable(&kv.0) && self.can_be_immutable(&kv.1),
            TypeKind::Primitive(_) | TypeKind::String => true,
            TypeKind::Defined { id, .. } => {
                let info = &self.decls[id.index()];
                info.kind == DeclKind::Enum
                    || info.ast.is_some_and(|d| {
                        d.annotations
                            .iter()
                            .any(|a| a.name.name == "JavaOnlyImmutable")
                    })
            }
            _ => false,
        }
    }

    pub(super) fn build_enum(&mut self, id: TypeId, e: &'a ast::EnumDecl, file: FileId) -> Enum {
        let backing = self.backing_of(id);
        let mut enumerators = Vec::new();
        let mut names: HashMap<&str, Span> = HashMap::new();
        for (i, en) in e.enumerators.iter().enumerate() {
            if let Some(prev) = names.get(en.name.name.as_str()) {
                let d = Diagnostic::error(format!("duplicate enumerator `{}`", en.name.name))
                    .with_label(self.loc(file, en.name.span), "defined again here")
                    .with_secondary(self.loc(file, *prev), "first defined here");
                self.push(d);
            } else {
                names.insert(&en.name.name, en.name.span);
            }
            let Some(v) = self.const_value(ConstKey::Enumerator(id, i), None) else {
                continue;
            };
            let expr = en.value.as_ref();
            let literal = expr
                .filter(|x| x.is_literal())
                .map(|x| self.slice(file, x.span));
            match fit_scalar(&v, backing_scalar(backing), literal) {
                Ok(cv) => enumerators.push(Enumerator {
                    name: en.name.name.clone(),
                    value: cv.as_i64().unwrap_or(0),
                    explicit: en.value.is_some(),
                    comments: en.comments.clone(),
                    location: self.loc(file, en.name.span),
                }),
                Err(err) => {
                    let span = expr.map(|x| x.span).unwrap_or(en.name.span);
                    let mut d = Diagnostic::error(format!(
                        "enumerator `{}` doesn't fit the enum's backing type: {}",
                        en.name.name, err.message
                    ))
                    .with_label(self.loc(file, span), "")
                    .with_note(format!("the backing type is `{}`", backing.name()));
                    if let Some(h) = err.help {
                        d = d.with_help(h);
                    }
                    self.push(d);
                }
            }
        }
        Enum {
            backing,
            enumerators,
        }
    }
}

/// AOSP's implicit defaults for primitive fields.
pub(super) fn implicit_default(ty: &Type) -> Option<ConstValue> {
    if ty.is_array() {
        return None;
    }
    Some(match ty.kind.primitive()? {
        Primitive::Boolean => ConstValue::Boolean(false),
        Primitive::Byte => ConstValue::Byte(0),
        Primitive::Char => ConstValue::Char('\0'),
        Primitive::Int => ConstValue::Int(0),
        Primitive::Long => ConstValue::Long(0),
        Primitive::Float => ConstValue::Float(0.0),
        Primitive::Double => ConstValue::Double(0.0),
    })
}
