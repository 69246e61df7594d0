//! Annotation checks: known names, where they may be written, their
//! parameters and values (AOSP's `AidlAnnotation::CheckValid` and
//! `CheckContext`).

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn annotations(
        &mut self,
        list: &'a [ast::Annotation],
        targets: Targets,
        file: FileId,
    ) -> Annotations {
        let mut out: Vec<Annotation> = Vec::new();
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for a in list {
            let name = a.name.name.as_str();
            let Some(schema) = annotation::lookup(name) else {
                let mut d = Diagnostic::error(format!("`@{name}` is not a recognized annotation"))
                    .with_label(self.loc(file, a.span), "unknown annotation")
                    .with_note(format!("it must be one of: {}", annotation::all_names()));
                if name == "Deprecated" {
                    d = d.with_help("to deprecate an item, write `@deprecated` in its doc comment");
                }
                self.push(d);
                continue;
            };
            if !schema.targets.intersects(targets) {
                self.error(
                    file,
                    a.span,
                    format!(
                        "`@{name}` is not available here; it can only annotate: {}",
                        schema.targets.describe()
                    ),
                    "not allowed here",
                );
            }
            if let Some(prev) = seen.get(schema.name) {
                if !schema.repeatable {
                    let d = Diagnostic::error(format!(
                        "`@{name}` is repeated, but it is not repeatable"
                    ))
                    .with_label(self.loc(file, a.span), "repeated here")
                    .with_secondary(self.loc(file, *prev), "first here");
                    self.push(d);
                    continue;
                }
            }
            seen.insert(schema.name, a.span);
            let mut params: Vec<(String, ConstValue)> = Vec::new();
            let mut ok = true;
            for (pname, pspan, expr) in a.param_list() {
                let Some(param) = schema.param(pname) else {
                    let takes: Vec<&str> = schema.params.iter().map(|p| p.name).collect();
                    let note = if takes.is_empty() {
                        format!("`@{name}` takes no parameters")
                    } else {
                        format!("`@{name}` takes: {}", list_names(&takes))
                    };
                    let d = Diagnostic::error(format!(
                        "parameter `{pname}` is not supported by `@{name}`"
                    ))
                    .with_label(self.loc(file, pspan), "unknown parameter")
                    .with_note(note);
                    self.push(d);
                    ok = false;
                    continue;
                };
                if let Some(r) = contains_ref(expr) {
                    self.error(
                        file,
                        r.span,
                        format!(
                            "annotation parameters must be constant expressions, but this one refers to `{}`",
                            r.text()
                        ),
                        "reference",
                    );
                    ok = false;
                    continue;
                }
                let Some(v) = self.eval(expr, None, file) else {
                    ok = false;
                    continue;
                };
                match self.fit_param(&v, expr, param.ty, file) {
                    Some(cv) => params.push((pname.to_string(), cv)),
                    None => ok = false,
                }
            }
            if ok {
                for p in schema.params.iter().filter(|p| p.required) {
                    if !params.iter().any(|(n, _)| n == p.name) {
                        self.error(
                            file,
                            a.span,
                            format!("`@{name}` needs the parameter `{}`", p.name),
                            format!("missing `{}`", p.name),
                        );
                    }
                }
                if schema.name == "Enforce" && params.len() != 1 {
                    self.error(
                        file,
                        a.span,
                        "`@Enforce` needs its condition, as `condition=\"...\"` or `(\"...\")`, once",
                        if params.is_empty() {
                            "no condition given"
                        } else {
                            "two conditions given"
                        },
                    );
                }
                if schema.name == "EnforcePermission" && params.is_empty() {
                    self.error(
                        file,
                        a.span,
                        "`@EnforcePermission` needs one of `value`, `anyOf` or `allOf`",
                        "no permission given",
                    );
                }
            }
            out.push(Annotation {
                name: schema.name.to_string(),
                params,
                location: self.loc(file, a.span),
            });
        }
        Annotations(out)
    }

    pub(super) fn fit_param(
        &mut self,
        v: &Value,
        e: &Expr,
        ty: ParamType,
        file: FileId,
    ) -> Option<ConstValue> {
        let scalar = match ty {
            ParamType::String => Scalar::String,
            ParamType::Boolean => Scalar::Boolean,
            ParamType::Int => Scalar::Int,
            ParamType::Long => Scalar::Long,
            ParamType::StringArray => {
                let Value::Array(items) = v else {
                    self.error(
                        file,
                        e.span,
                        format!(
                            "mismatched types: expected `String[]`, found {}",
                            v.describe()
                        ),
                        "expected `{\"...\", ...}`",
                    );
                    return None;
                };
                let mut out = Vec::new();
                for item in items {
                    match item {
                        Value::Str(s) => out.push(ConstValue::String(s.clone())),
                        other => {
                            self.error(
                                file,
                                e.span,
                                format!(
                                    "mismatched types: expected `String`, found {}",
                                    other.describe()
                                ),
                                "in this array",
                            );
                            return None;
                        }
                    }
                }
                return Some(ConstValue::Array(out));
            }
        };
        match fit_scalar(v, scalar, e.is_literal().then(|| self.slice(file, e.span))) {
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
}
