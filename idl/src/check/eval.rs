//! Constant evaluation inside the checker: references to constants and
//! enumerators (memoized, with cycle detection), and fitting values to
//! declared types (AOSP's `ValueString`).

use super::*;

impl<'a> Checker<'a> {
    /// Evaluates an expression; `scope` is the type whose constants simple
    /// references name (`None` where references are not allowed).
    pub(super) fn eval(
        &mut self,
        e: &'a Expr,
        scope: Option<TypeId>,
        file: FileId,
    ) -> Option<Value> {
        match &e.kind {
            ExprKind::Bool(b) => Some(Value::Bool(*b)),
            ExprKind::Int { value, kind } => Some(Value::Int(*kind, *value)),
            ExprKind::Char(c) => Some(Value::Char(*c)),
            ExprKind::String(s) => Some(Value::Str(s.clone())),
            ExprKind::Float(text) => match constant::parse_float(text) {
                Some(value) => Some(Value::Float {
                    value,
                    text: text.clone(),
                }),
                None => {
                    self.error(
                        file,
                        e.span,
                        format!("could not parse float literal `{text}`"),
                        "",
                    );
                    None
                }
            },
            ExprKind::Error => None,
            ExprKind::Ref(q) => {
                let scope = scope?;
                let key = self.resolve_ref(q, scope, file)?;
                self.const_value(key, Some(self.loc(file, q.span)))
            }
            ExprKind::Array(items) => {
                let mut values = Vec::with_capacity(items.len());
                let mut ok = true;
                for i in items {
                    match self.eval(i, scope, file) {
                        Some(v) => values.push(v),
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                // elements must have compatible types (AOSP's AreCompatibleArrayTypes)
                if let Some(first) = values.first() {
                    for (v, item) in values.iter().zip(items.iter()).skip(1) {
                        if !compatible_array_elements(first, v) {
                            self.error(
                                file,
                                item.span,
                                format!(
                                    "incompatible array element type: {}, expected a type compatible with {}",
                                    v.describe(),
                                    first.describe()
                                ),
                                "",
                            );
                            return None;
                        }
                    }
                }
                Some(Value::Array(values))
            }
            ExprKind::Unary { op, operand } => {
                let v = self.eval(operand, scope, file)?;
                match constant::unary(*op, &v) {
                    Ok(r) => Some(r),
                    Err(m) => {
                        self.error(file, e.span, m, "");
                        None
                    }
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let l = self.eval(lhs, scope, file);
                let r = self.eval(rhs, scope, file);
                let (l, r) = (l?, r?);
                match constant::binary(*op, &l, &r) {
                    Ok(v) => Some(v),
                    Err(m) => {
                        self.error(file, e.span, m, "");
                        None
                    }
                }
            }
        }
    }

    /// Finds the constant or enumerator a reference names.
    pub(super) fn resolve_ref(
        &mut self,
        q: &QualifiedName,
        scope: TypeId,
        file: FileId,
    ) -> Option<ConstKey> {
        let field = q.last().to_string();
        let target = if q.is_simple() {
            scope
        } else {
            let prefix: Vec<&str> = q.parts[..q.parts.len() - 1]
                .iter()
                .map(|p| p.name.as_str())
                .collect();
            let prefix = prefix.join(".");
            match self.resolve_type_name(scope, &prefix) {
                (_, Some(id)) => id,
                (canonical, None) => {
                    let prefix_span = q.parts[0].span.to(q.parts[q.parts.len() - 2].span);
                    let note = self.roots_note(&relative_path(&canonical));
                    self.push(
                        Diagnostic::error(format!("unknown reference `{}`", q.text()))
                            .with_label(
                                self.loc(file, prefix_span),
                                format!("unknown type `{prefix}`"),
                            )
                            .with_note(note),
                    );
                    return None;
                }
            }
        };
        let info = &self.decls[target.index()];
        if let Some(union) = info.tag_of {
            let fields = self.union_field_names(union);
            if let Some(i) = fields.iter().position(|f| *f == field) {
                return Some(ConstKey::Enumerator(target, i));
            }
        } else if let Some(decl) = info.ast {
            match &decl.kind {
                ast::DeclKind::Enum(e) => {
                    if let Some(i) = e.enumerators.iter().position(|en| en.name.name == field) {
                        return Some(ConstKey::Enumerator(target, i));
                    }
                }
                _ => {
                    for (i, m) in decl.members().iter().enumerate() {
                        if let Member::Const(c) = m {
                            if c.name.name == field {
                                return Some(ConstKey::Const(target, i));
                            }
                        }
                    }
                }
            }
        }
        let tname = self.decls[target.index()].name.clone();
        let what = if self.decls[target.index()].kind == DeclKind::Enum {
            "enumerator"
        } else {
            "constant"
        };
        self.push(
            Diagnostic::error(format!("unknown reference `{}`", q.text())).with_label(
                self.loc(file, q.span),
                format!("`{tname}` has no {what} named `{field}`"),
            ),
        );
        None
    }

    pub(super) fn union_field_names(&self, union: TypeId) -> Vec<String> {
        self.decls[union.index()]
            .ast
            .map(|d| {
                d.members()
                    .iter()
                    .filter_map(|m| match m {
                        Member::Field(f) => Some(f.name.name.clone()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(super) fn key_name(&self, key: ConstKey) -> String {
        let (id, name) = match key {
            ConstKey::Const(id, i) => {
                let n = self.decls[id.index()]
                    .ast
                    .and_then(|d| match d.members().get(i) {
                        Some(Member::Const(c)) => Some(c.name.name.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                (id, n)
            }
            ConstKey::Enumerator(id, i) => {
                let info = &self.decls[id.index()];
                let n = match (info.tag_of, info.ast.map(|d| &d.kind)) {
                    (Some(u), _) => self
                        .union_field_names(u)
                        .get(i)
                        .cloned()
                        .unwrap_or_default(),
                    (None, Some(ast::DeclKind::Enum(e))) => e
                        .enumerators
                        .get(i)
                        .map(|e| e.name.name.clone())
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                (id, n)
            }
        };
        format!("{}.{name}", self.decls[id.index()].name)
    }

    /// The raw value of a constant or enumerator (memoized, cycle-checked).
    pub(super) fn const_value(&mut self, key: ConstKey, from: Option<Location>) -> Option<Value> {
        if let Some(v) = self.consts.get(&key) {
            return v.clone();
        }
        if let Some(pos) = self.const_stack.iter().position(|(k, _)| *k == key) {
            if !self.cycles_reported.insert(key) {
                return None;
            }
            let mut path: Vec<String> = self.const_stack[pos..]
                .iter()
                .map(|(_, n)| n.clone())
                .collect();
            path.push(self.key_name(key));
            let mut d =
                Diagnostic::error(format!("found a circular reference: {}", path.join(" -> ")));
            if let Some(l) = from {
                d = d.with_label(l, "this reference closes the cycle");
            }
            self.push(d);
            return None;
        }
        if self.const_stack.len() >= MAX_CONST_DEPTH {
            let mut d = Diagnostic::error("constant references are nested too deeply");
            if let Some(l) = from {
                d = d.with_label(l, "");
            }
            self.push(d);
            return None;
        }
        let name = self.key_name(key);
        self.const_stack.push((key, name));
        let v = self.compute_const(key);
        self.const_stack.pop();
        self.consts.insert(key, v.clone());
        v
    }

    pub(super) fn compute_const(&mut self, key: ConstKey) -> Option<Value> {
        match key {
            ConstKey::Const(id, i) => {
                let decl = self.decls[id.index()].ast?;
                let file = self.decls[id.index()].file;
                match decl.members().get(i) {
                    Some(Member::Const(c)) => self.eval(&c.value, Some(id), file),
                    _ => None,
                }
            }
            ConstKey::Enumerator(id, i) => {
                let info = &self.decls[id.index()];
                let file = info.file;
                if info.tag_of.is_some() {
                    let kind = if i == 0 {
                        ast::IntKind::Int8
                    } else {
                        ast::IntKind::Int32
                    };
                    return Some(Value::Int(kind, i as i64));
                }
                let decl = info.ast?;
                let ast::DeclKind::Enum(e) = &decl.kind else {
                    return None;
                };
                let en = e.enumerators.get(i)?;
                if let Some(v) = &en.value {
                    return self.eval(v, Some(id), file);
                }
                if i == 0 {
                    return Some(Value::Int(ast::IntKind::Int8, 0));
                }
                // evaluate the implicit predecessors forward so that long enums
                // don't recurse deeply
                let mut start = i - 1;
                while start > 0
                    && !self.consts.contains_key(&ConstKey::Enumerator(id, start))
                    && e.enumerators[start].value.is_none()
                {
                    start -= 1;
                }
                // (only for long chains: short ones recurse, which keeps the
                // path of a circular reference exact)
                for k in (start..i).filter(|_| i - start > 64) {
                    if !self.consts.contains_key(&ConstKey::Enumerator(id, k)) {
                        let from = Location::new(file, e.enumerators[k + 1].name.span);
                        self.const_value(ConstKey::Enumerator(id, k), Some(from));
                    }
                }
                let from = Location::new(file, en.name.span);
                let prev = self.const_value(ConstKey::Enumerator(id, i - 1), Some(from))?;
                match constant::binary(
                    ast::BinaryOp::Add,
                    &prev,
                    &Value::Int(ast::IntKind::Int8, 1),
                ) {
                    Ok(v) => Some(v),
                    Err(m) => {
                        self.error(
                            file,
                            en.name.span,
                            format!(
                                "the implicit value of `{}` (previous + 1): {m}",
                                en.name.name
                            ),
                            "",
                        );
                        None
                    }
                }
            }
        }
    }

    /// Fits a raw value to a declared type (AOSP's `ValueString`).
    pub(super) fn fit(
        &mut self,
        v: &Value,
        e: &'a Expr,
        ty: &Type,
        scope: TypeId,
        file: FileId,
    ) -> Option<ConstValue> {
        if let Some(shape) = &ty.array {
            let Value::Array(items) = v else {
                self.error(
                    file,
                    e.span,
                    format!(
                        "mismatched types: expected `{}`, found {}",
                        ty.signature(),
                        v.describe()
                    ),
                    "expected an array value `{...}`",
                );
                return None;
            };
            if let ArrayShape::Fixed(dims) = shape {
                if let Some(&n) = dims.first() {
                    if items.len() != n as usize {
                        self.error(
                            file,
                            e.span,
                            format!(
                                "expected an array of {n} elements, but found one with {} elements",
                                items.len()
                            ),
                            "",
                        );
                        return None;
                    }
                }
            }
            let elem = ty.element()?;
            let exprs: Option<&'a Vec<Expr>> = match &e.kind {
                ExprKind::Array(list) if list.len() == items.len() => Some(list),
                _ => None,
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let ie = exprs.map(|l| &l[i]).unwrap_or(e);
                out.push(self.fit(item, ie, &elem, scope, file)?);
            }
            return Some(ConstValue::Array(out));
        }
        let scalar = match &ty.kind {
            TypeKind::Primitive(p) => match p {
                Primitive::Boolean => Scalar::Boolean,
                Primitive::Byte => Scalar::Byte,
                Primitive::Char => Scalar::Char,
                Primitive::Int => Scalar::Int,
                Primitive::Long => Scalar::Long,
                Primitive::Float => Scalar::Float,
                Primitive::Double => Scalar::Double,
            },
            TypeKind::String => Scalar::String,
            TypeKind::Defined {
                id,
                kind: DeclKind::Enum,
                qualified_name,
                ..
            } => {
                let (id, qualified_name) = (*id, qualified_name.clone());
                return self.fit_enum(e, id, &qualified_name, scope, file);
            }
            _ => {
                self.error(
                    file,
                    e.span,
                    format!("a constant value can't have type `{}`", ty.signature()),
                    "",
                );
                return None;
            }
        };
        let literal = e.is_literal().then(|| self.slice(file, e.span));
        match fit_scalar(v, scalar, literal) {
            Ok(cv) => Some(cv),
            Err(err) => {
                let mut d = Diagnostic::error(err.message).with_label(self.loc(file, e.span), "");
                if let Some(h) = err.help {
                    d = d.with_help(h);
                }
                self.push(d);
                None
            }
        }
    }

    pub(super) fn fit_enum(
        &mut self,
        e: &'a Expr,
        enum_id: TypeId,
        enum_name: &str,
        scope: TypeId,
        file: FileId,
    ) -> Option<ConstValue> {
        let ExprKind::Ref(q) = &e.kind else {
            self.push(
                Diagnostic::error(format!("invalid value for enum `{enum_name}`"))
                    .with_label(self.loc(file, e.span), "expected an enumerator")
                    .with_help(format!(
                        "write an enumerator of `{}`, such as `{}.NAME`",
                        enum_name,
                        self.decls[enum_id.index()].name
                    )),
            );
            return None;
        };
        let key = self.resolve_ref(q, scope, file)?;
        let ConstKey::Enumerator(owner, _) = key else {
            self.error(
                file,
                e.span,
                format!(
                    "invalid value for enum `{enum_name}`: `{}` is a constant, not an enumerator",
                    q.text()
                ),
                "",
            );
            return None;
        };
        if owner != enum_id {
            let other = self.decls[owner.index()].qualified.clone();
            self.error(
                file,
                e.span,
                format!("mismatched enum: expected an enumerator of `{enum_name}`, found one of `{other}`"),
                "",
            );
            return None;
        }
        let v = self.const_value(key, Some(self.loc(file, q.span)))?;
        let backing = self.backing_of(enum_id);
        let value = match fit_scalar(&v, backing_scalar(backing), None) {
            Ok(cv) => cv.as_i64().unwrap_or(0),
            Err(_) => return None, // reported on the enumerator itself
        };
        Some(ConstValue::Enumerator {
            enum_type: enum_id,
            name: q.last().to_string(),
            value,
        })
    }

    pub(super) fn backing_of(&mut self, id: TypeId) -> Primitive {
        if let Some(p) = self.backing.get(&id) {
            return *p;
        }
        let info = &self.decls[id.index()];
        let p = if let Some(u) = info.tag_of {
            let fixed = self.decls[u.index()]
                .ast
                .is_some_and(|d| d.annotations.iter().any(|a| a.name.name == "FixedSize"));
            if fixed {
                Primitive::Byte
            } else {
                Primitive::Int
            }
        } else {
            let file = info.file;
            let backing = info
                .ast
                .and_then(|d| d.annotations.iter().find(|a| a.name.name == "Backing"));
            match backing.and_then(|a| a.param("type")) {
                None => Primitive::Byte,
                Some(e) => match self.eval(e, None, file) {
                    Some(Value::Str(s)) => match s.as_str() {
                        "byte" => Primitive::Byte,
                        "int" => Primitive::Int,
                        "long" => Primitive::Long,
                        other => {
                            self.error(
                                file,
                                e.span,
                                format!("invalid backing type `{other}`: it must be one of `byte`, `int`, `long`"),
                                "",
                            );
                            Primitive::Byte
                        }
                    },
                    _ => Primitive::Byte, // a type error reported with the annotation
                },
            }
        };
        self.backing.insert(id, p);
        p
    }
}

pub(super) fn backing_scalar(p: Primitive) -> Scalar {
    match p {
        Primitive::Int => Scalar::Int,
        Primitive::Long => Scalar::Long,
        _ => Scalar::Byte,
    }
}

pub(super) fn compatible_array_elements(a: &Value, b: &Value) -> bool {
    let int_like = |v: &Value| matches!(v, Value::Bool(_) | Value::Int(..));
    match (a, b) {
        (Value::Float { .. }, Value::Float { .. }) => true,
        (Value::Str(_), Value::Str(_)) => true,
        (Value::Array(_), Value::Array(_)) => true,
        (x, y) => int_like(x) && int_like(y),
    }
}
