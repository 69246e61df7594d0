//! Enums, structured parcelables and unions.
//!
//! * An enum is a `#[repr(transparent)]` newtype over its backing integer
//!   with an associated constant per enumerator: AIDL enums are open, so a
//!   value this side does not know still round-trips.
//! * A parcelable is a struct with public fields, `Default` from the
//!   `.aidl` defaults, `Clone`, `Debug` and `PartialEq`, written as one
//!   length-prefixed section (see `capbinder::parcelable`). Parcelables and
//!   unions implement `capbinder::ParcelableMetadata` with their qualified
//!   name, so that a `ParcelableHolder` can hold them.
//! * A union is a Rust enum with one tuple variant per field (the first is
//!   the default), written as a section holding the tag and the value; its
//!   `Tag` enum lives in the union's module.

use std::collections::HashSet;

use capbinder_idl::model::{
    ArrayShape, ConstValue, Constant, Enum, Field, Parcelable, Type, TypeDecl, Union,
};
use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::attrs::{complexity_allows, const_name_allows, deprecated, docs, type_name_allows};
use crate::gen::{Gen, Std};
use crate::names::{ident, rust_name, snake_case, upper_camel_case};
use crate::values::{has_float, int_lit};

impl Gen<'_> {
    pub(crate) fn enum_items(&self, t: &TypeDecl, e: &Enum) -> TokenStream {
        let from = self.module_of(t.id);
        let name = ident(&rust_name(&t.name));
        let backing = match e.backing {
            capbinder_idl::model::Primitive::Byte => quote!(i8),
            capbinder_idl::model::Primitive::Long => quote!(i64),
            _ => quote!(i32),
        };
        let min = match e.backing {
            capbinder_idl::model::Primitive::Byte => i64::from(i8::MIN),
            capbinder_idl::model::Primitive::Long => i64::MIN,
            _ => i64::from(i32::MIN),
        };
        let doc = docs(&t.comments);
        let dep = deprecated(&t.comments);
        let allows = type_name_allows(&t.name);
        let allow_dep = self.allow_deprecated();
        let rt = &self.rt;
        let scope = format!("{}::{}", from.join("::"), t.name);
        let mut consts = TokenStream::new();
        let mut names = Vec::new();
        let mut arms = TokenStream::new();
        let mut seen = HashSet::new();
        for en in &e.enumerators {
            let rn = rust_name(&en.name);
            self.claim(
                &scope,
                &rn,
                &format!("enumerator `{}`", en.name),
                en.location,
            );
            let c = ident(&rn);
            let v = int_lit(en.value, backing.clone(), min);
            let d = docs(&en.comments);
            let dp = deprecated(&en.comments);
            let al = const_name_allows(&en.name);
            consts.extend(quote! {
                #d
                #dp
                #al
                pub const #c: #name = #name(#v);
            });
            names.push(quote!(#name::#c));
            if seen.insert(en.value) {
                let s = en.name.as_str();
                arms.extend(quote!(#v => f.write_str(#s),));
            }
        }
        self.claim(
            &scope,
            "enum_values",
            "the generated `enum_values`",
            t.location,
        );
        let count = Literal::usize_unsuffixed(names.len());
        let unknown_fmt = format!("{}({{}})", t.name);
        quote! {
            #doc
            #dep
            #allows
            #[repr(transparent)]
            #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
            pub struct #name(pub #backing);

            #allow_dep
            impl #name {
                #consts
                /// Every enumerator, in declaration order.
                pub const fn enum_values() -> [#name; #count] {
                    [#(#names),*]
                }
            }

            #allow_dep
            impl ::core::fmt::Debug for #name {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    match self.0 {
                        #arms
                        v => write!(f, #unknown_fmt, v),
                    }
                }
            }

            #allow_dep
            impl #rt::Parcelable for #name {
                fn write_to(&self, parcel: &mut #rt::Parcel) -> #rt::Result<()> {
                    #rt::Parcelable::write_to(&self.0, parcel)
                }
                fn read_from(parcel: &mut #rt::Parcel) -> #rt::Result<Self> {
                    <#backing as #rt::Parcelable>::read_from(parcel).map(#name)
                }
            }
        }
    }

    /// Associated constants of a parcelable or union, in an impl block.
    fn assoc_consts(&self, from: &[String], scope: &str, consts: &[Constant]) -> TokenStream {
        let mut out = TokenStream::new();
        for c in consts {
            if !self.check_type(&c.ty, "a constant") {
                continue;
            }
            let rn = rust_name(&c.name);
            self.claim(scope, &rn, &format!("constant `{}`", c.name), c.location);
            out.extend(self.const_item(from, c));
        }
        out
    }

    /// `pub const NAME: T = value;`
    pub(crate) fn const_item(&self, from: &[String], c: &Constant) -> TokenStream {
        let n = ident(&rust_name(&c.name));
        let (ty, v) = self.const_type_and_value(from, &c.value, &c.ty);
        let d = docs(&c.comments);
        let dp = deprecated(&c.comments);
        let al = const_name_allows(&c.name);
        let approx = if has_float(&c.value) {
            quote!(#[allow(clippy::approx_constant)])
        } else {
            TokenStream::new()
        };
        quote! {
            #d
            #dp
            #al
            #approx
            pub const #n: #ty = #v;
        }
    }

    /// A field's default: the `.aidl` value, or the type's default.
    fn field_default(&self, from: &[String], f: &Field) -> Option<TokenStream> {
        match &f.default {
            Some(v) if !is_type_default(v, &f.ty) => Some(self.value(from, v, &f.ty)),
            _ => {
                // fixed-size arrays longer than 32 have no `Default`
                if let Some(ArrayShape::Fixed(dims)) = &f.ty.array {
                    if !f.ty.is_nullable() && dims.iter().any(|&d| d > 32) {
                        let default = &self.std(from).default;
                        let mut e = quote!(#default::default());
                        for _ in dims {
                            e = quote!(::core::array::from_fn(|_| #e));
                        }
                        return Some(e);
                    }
                }
                None
            }
        }
    }

    pub(crate) fn parcelable_items(&self, t: &TypeDecl, p: &Parcelable) -> TokenStream {
        let from = self.module_of(t.id);
        let rt = &self.rt;
        let Std { default, ok, .. } = self.std(&from);
        let name = ident(&rust_name(&t.name));
        // A generic parcelable (`parcelable Pair<K, V>`) is a generic
        // struct, as in AOSP's Rust backend: a `PhantomData` field holds
        // the parameters (one may go unused), and reading needs every
        // argument to be a `Parcelable` with a `Default`.
        let params: Vec<proc_macro2::Ident> = p.type_params.iter().map(|n| ident(n)).collect();
        let generics = if params.is_empty() {
            TokenStream::new()
        } else {
            quote!(<#(#params),*>)
        };
        let parcelable_generics = if params.is_empty() {
            TokenStream::new()
        } else {
            quote!(<#(#params: #rt::Parcelable + #default),*>)
        };
        let default_generics = if params.is_empty() {
            TokenStream::new()
        } else {
            quote!(<#(#params: #default),*>)
        };
        let scope = format!("{}::{}", from.join("::"), t.name);
        // public, so that a value can be written as a struct literal
        // with `..Default::default()` from any module
        let phantom = if params.is_empty() {
            TokenStream::new()
        } else {
            self.claim(
                &format!("{scope}.fields"),
                "_phantom",
                "the field that holds the type parameters",
                t.location,
            );
            quote! {
                #[doc(hidden)]
                pub _phantom: ::core::marker::PhantomData<(#(#params,)*)>,
            }
        };
        let phantom_default = if params.is_empty() {
            TokenStream::new()
        } else {
            quote!(_phantom: ::core::marker::PhantomData,)
        };
        let field_scope = format!("{scope}.fields");
        let mut fields = TokenStream::new();
        let mut defaults = Vec::new();
        let mut writes = TokenStream::new();
        let mut reads = TokenStream::new();
        let mut derivable = true;
        let mut floats = false;
        for f in &p.fields {
            if !self.check_type(&f.ty, "a field") {
                continue;
            }
            let rn = rust_name(&snake_case(&f.name));
            self.claim(
                &field_scope,
                &rn,
                &format!("field `{}`", f.name),
                f.location,
            );
            let fname = ident(&rn);
            let repr = self.field(&from, &f.ty);
            let ty = &repr.ty;
            let d = docs(&f.comments);
            let dp = deprecated(&f.comments);
            let complex = complexity_allows([ty]);
            fields.extend(quote! {
                #d
                #dp
                #complex
                pub #fname: #ty,
            });
            match self.field_default(&from, f) {
                Some(v) => {
                    derivable = false;
                    floats |= f.default.as_ref().is_some_and(has_float);
                    defaults.push(quote!(#fname: #v));
                }
                None => defaults.push(quote!(#fname: #default::default())),
            }
            let what = format!("{}.{}", t.name, f.name);
            if repr.non_null_option {
                writes.extend(quote! {
                    #rt::parcelable::write_non_null(&self.#fname, #what, parcel)?;
                });
                reads.extend(quote! {
                    section.read_non_null_into(&mut value.#fname)?;
                });
            } else {
                writes.extend(quote! {
                    #rt::Parcelable::write_to(&self.#fname, parcel)?;
                });
                reads.extend(quote! {
                    section.read_into(&mut value.#fname)?;
                });
            }
        }
        let consts = self.assoc_consts(&from, &scope, &p.constants);
        let consts = if consts.is_empty() {
            TokenStream::new()
        } else {
            let allow_dep = self.allow_deprecated();
            quote! {
                #allow_dep
                impl #generics #name #generics {
                    #consts
                }
            }
        };
        let doc = docs(&t.comments);
        let dep = deprecated(&t.comments);
        let allows = type_name_allows(&t.name);
        let allow_dep = self.allow_deprecated();
        let extra_derives = rust_derives(t);
        let (derive_default, default_impl) = if derivable {
            (quote!(Default,), TokenStream::new())
        } else {
            let approx = if floats {
                quote!(#[allow(clippy::approx_constant)])
            } else {
                TokenStream::new()
            };
            (
                TokenStream::new(),
                quote! {
                    #allow_dep
                    #approx
                    impl #default_generics #default for #name #generics {
                        fn default() -> Self {
                            Self {
                                #(#defaults,)*
                                #phantom_default
                            }
                        }
                    }
                },
            )
        };
        let read_body = if p.fields.is_empty() {
            quote!(#rt::parcelable::read_section(parcel, |_section| {
                #ok(Self::default())
            }))
        } else {
            quote!(#rt::parcelable::read_section(parcel, |section| {
                let mut value = Self::default();
                #reads
                #ok(value)
            }))
        };
        let descriptor = t.qualified_name.as_str();
        let write_param = if p.fields.is_empty() {
            quote!(_parcel)
        } else {
            quote!(parcel)
        };
        quote! {
            #doc
            #dep
            #allows
            #allow_dep
            #[derive(Clone, Debug, PartialEq, #derive_default #extra_derives)]
            pub struct #name #generics {
                #fields
                #phantom
            }

            #consts

            #default_impl

            #allow_dep
            impl #generics #rt::ParcelableMetadata for #name #generics {
                const DESCRIPTOR: &'static str = #descriptor;
            }

            #allow_dep
            impl #parcelable_generics #rt::Parcelable for #name #generics {
                fn write_to(&self, parcel: &mut #rt::Parcel) -> #rt::Result<()> {
                    #rt::parcelable::write_section(parcel, |#write_param| {
                        #writes
                        #ok(())
                    })
                }
                fn read_from(parcel: &mut #rt::Parcel) -> #rt::Result<Self> {
                    #read_body
                }
            }
        }
    }

    pub(crate) fn union_items(&self, t: &TypeDecl, u: &Union) -> TokenStream {
        let from = self.module_of(t.id);
        let rt = &self.rt;
        let Std {
            default, ok, err, ..
        } = self.std(&from);
        let name = ident(&rust_name(&t.name));
        if !u.type_params.is_empty() {
            self.error(
                capbinder_idl::Diagnostic::error(
                    "the Rust backend does not support generic unions",
                )
                .with_label(t.location, "declared with type parameters")
                .with_help("declare a union with concrete field types"),
            );
            return TokenStream::new();
        }
        let scope = format!("{}::{}", from.join("::"), t.name);
        let variant_scope = format!("{scope}.variants");
        let tag_path = self.path_to(&from, u.tag);
        let tag_decl = self.decl(u.tag);
        let mut variants = TokenStream::new();
        let mut tag_arms = TokenStream::new();
        let mut write_arms = TokenStream::new();
        let mut read_arms = TokenStream::new();
        let mut default_variant = TokenStream::new();
        let mut acronyms = false;
        let mut floats = false;
        let tag_names: Vec<String> = tag_decl
            .as_enum()
            .map(|e| e.enumerators.iter().map(|x| rust_name(&x.name)).collect())
            .unwrap_or_default();
        for (i, f) in u.fields.iter().enumerate() {
            if !self.check_type(&f.ty, "a union field") {
                continue;
            }
            let vn = rust_name(&upper_camel_case(&f.name));
            self.claim(
                &variant_scope,
                &vn,
                &format!("field `{}`", f.name),
                f.location,
            );
            acronyms |= crate::names::is_acronym(&vn);
            let v = ident(&vn);
            let repr = self.field(&from, &f.ty);
            let ty = &repr.ty;
            let d = docs(&f.comments);
            let dp = deprecated(&f.comments);
            let complex = complexity_allows([ty]);
            variants.extend(quote! {
                #d
                #dp
                #complex
                #v(#ty),
            });
            let tag_name = tag_names
                .get(i)
                .cloned()
                .unwrap_or_else(|| rust_name(&f.name));
            let tc = ident(&tag_name);
            tag_arms.extend(quote!(Self::#v(_) => #tag_path::#tc,));
            let what = format!("{}.{}", t.name, f.name);
            let write_value = if repr.non_null_option {
                quote!(#rt::parcelable::write_non_null(value, #what, parcel))
            } else {
                quote!(#rt::Parcelable::write_to(value, parcel))
            };
            write_arms.extend(quote! {
                Self::#v(value) => {
                    #rt::Parcelable::write_to(&#tag_path::#tc, parcel)?;
                    #write_value
                }
            });
            let initial = self
                .field_default(&from, f)
                .unwrap_or_else(|| quote!(#default::default()));
            floats |= f.default.as_ref().is_some_and(has_float);
            let read_value = if repr.non_null_option {
                quote!(section.read_non_null_into(&mut value)?;)
            } else {
                quote!(section.read_into(&mut value)?;)
            };
            read_arms.extend(quote! {
                #tag_path::#tc => {
                    #complex
                    let mut value: #ty = #initial;
                    #read_value
                    #ok(Self::#v(value))
                }
            });
            if i == 0 {
                default_variant = quote!(Self::#v(#initial));
            }
        }
        let consts = self.assoc_consts(&from, &scope, &u.constants);
        self.claim(&scope, "tag", "the generated `tag()`", t.location);
        let doc = docs(&t.comments);
        let dep = deprecated(&t.comments);
        let mut allows = type_name_allows(&t.name);
        if acronyms && !crate::names::is_acronym(&t.name) {
            allows.extend(quote!(#[allow(clippy::upper_case_acronyms)]));
        }
        let allow_dep = self.allow_deprecated();
        let approx = if floats {
            quote!(#[allow(clippy::approx_constant)])
        } else {
            TokenStream::new()
        };
        let unknown_tag = format!(
            "union {} has no field with tag {{}} (written by a newer version?)",
            t.name
        );
        if u.fields.is_empty() {
            return TokenStream::new();
        }
        let descriptor = t.qualified_name.as_str();
        let extra_derives = rust_derives(t);
        quote! {
            #doc
            #dep
            #allows
            #allow_dep
            #[allow(clippy::large_enum_variant, clippy::enum_variant_names)]
            #[derive(Clone, Debug, PartialEq, #extra_derives)]
            pub enum #name {
                #variants
            }

            #allow_dep
            #approx
            impl #default for #name {
                fn default() -> Self {
                    #default_variant
                }
            }

            #allow_dep
            impl #name {
                #consts
                /// Which field is set.
                pub fn tag(&self) -> #tag_path {
                    match self {
                        #tag_arms
                    }
                }
            }

            #allow_dep
            impl #rt::ParcelableMetadata for #name {
                const DESCRIPTOR: &'static str = #descriptor;
            }

            #allow_dep
            #approx
            impl #rt::Parcelable for #name {
                fn write_to(&self, parcel: &mut #rt::Parcel) -> #rt::Result<()> {
                    #rt::parcelable::write_section(parcel, |parcel| match self {
                        #write_arms
                    })
                }
                fn read_from(parcel: &mut #rt::Parcel) -> #rt::Result<Self> {
                    #rt::parcelable::read_section(parcel, |section| {
                        let tag: #tag_path = section.read()?;
                        match tag {
                            #read_arms
                            other => #err(#rt::Status::exception(
                                #rt::ExceptionCode::BadParcelable,
                                format!(#unknown_tag, other.0),
                            )),
                        }
                    })
                }
            }
        }
    }
}

/// Whether a field's default is the value `Default` gives its Rust type
/// anyway (AOSP's implicit defaults, and explicit ones such as `int x = 0;`
/// or `String s = "";`): such fields leave `Default` derivable, which is
/// what clippy asks of generated code too.
fn is_type_default(v: &ConstValue, ty: &Type) -> bool {
    if ty.is_nullable() {
        // `Default` is `None`; a written default is `Some`
        return false;
    }
    match (&ty.array, v) {
        (Some(ArrayShape::Dynamic), ConstValue::Array(items)) => return items.is_empty(),
        (Some(_), _) => return false,
        (None, _) => {}
    }
    match v {
        ConstValue::Boolean(b) => !b,
        ConstValue::Byte(x) => *x == 0,
        ConstValue::Char(c) => *c == '\0',
        ConstValue::Int(x) => *x == 0,
        ConstValue::Long(x) => *x == 0,
        ConstValue::Float(x) => *x == 0.0 && !x.is_sign_negative(),
        ConstValue::Double(x) => *x == 0.0 && !x.is_sign_negative(),
        ConstValue::String(s) => s.is_empty(),
        // an enum's `Default` is its zero value, named or not
        ConstValue::Enumerator { value, .. } => *value == 0,
        ConstValue::Array(_) => false,
    }
}

/// The derives `@RustDerive(...)` asks for beyond the `Clone`, `Debug` and
/// `PartialEq` every parcelable and union has (AOSP's Rust backend adds
/// exactly those it names): each as `Name,`. A field type without the
/// trait is a rustc error in the generated code, as with AOSP.
fn rust_derives(t: &TypeDecl) -> TokenStream {
    let Some(a) = t.annotations.get("RustDerive") else {
        return TokenStream::new();
    };
    let mut out = TokenStream::new();
    for name in ["Copy", "Eq", "PartialOrd", "Ord", "Hash"] {
        if a.param_bool(name) {
            let id = ident(name);
            out.extend(quote!(#id,));
        }
    }
    out
}
