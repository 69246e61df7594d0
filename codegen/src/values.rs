//! Constant values (constants, field defaults) as Rust expressions of the
//! declared type.

use capbinder_idl::model::{ArrayShape, ConstValue, DeclKind, Primitive, Type, TypeKind};
use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::gen::{Gen, Std};
use crate::names::{ident, rust_name};
use crate::types::{array_elements_nullable, list_elements_nullable};

/// An integer literal of an integral type, with `MIN` spelled by name
/// (negating the literal would overflow).
pub(crate) fn int_lit(v: i64, ty: TokenStream, min: i64) -> TokenStream {
    if v == min && v < 0 {
        return quote!(#ty::MIN);
    }
    if v < 0 {
        let a = Literal::u64_unsuffixed(v.unsigned_abs());
        quote!(-#a)
    } else {
        let a = Literal::i64_unsuffixed(v);
        quote!(#a)
    }
}

fn f32_lit(v: f32) -> TokenStream {
    if v.is_nan() {
        quote!(f32::NAN)
    } else if v.is_infinite() {
        if v > 0.0 {
            quote!(f32::INFINITY)
        } else {
            quote!(f32::NEG_INFINITY)
        }
    } else if v.is_sign_negative() {
        let a = Literal::f32_unsuffixed(-v);
        quote!(-#a)
    } else {
        let a = Literal::f32_unsuffixed(v);
        quote!(#a)
    }
}

fn f64_lit(v: f64) -> TokenStream {
    if v.is_nan() {
        quote!(f64::NAN)
    } else if v.is_infinite() {
        if v > 0.0 {
            quote!(f64::INFINITY)
        } else {
            quote!(f64::NEG_INFINITY)
        }
    } else if v.is_sign_negative() {
        let a = Literal::f64_unsuffixed(-v);
        quote!(-#a)
    } else {
        let a = Literal::f64_unsuffixed(v);
        quote!(#a)
    }
}

/// A primitive value; `in_array` makes `byte` a `u8`.
pub(crate) fn primitive_value(v: &ConstValue, p: Primitive, in_array: bool) -> TokenStream {
    match (p, v) {
        (Primitive::Boolean, ConstValue::Boolean(b)) => quote!(#b),
        (Primitive::Float, ConstValue::Float(f)) => f32_lit(*f),
        (Primitive::Float, ConstValue::Double(f)) => f32_lit(*f as f32),
        (Primitive::Double, ConstValue::Double(f)) => f64_lit(*f),
        (Primitive::Double, ConstValue::Float(f)) => f64_lit(f64::from(*f)),
        (Primitive::Float, v) => f32_lit(v.as_i64().unwrap_or(0) as f32),
        (Primitive::Double, v) => f64_lit(v.as_i64().unwrap_or(0) as f64),
        (Primitive::Byte, v) if in_array => {
            let b = v.as_i64().unwrap_or(0) as i8 as u8;
            let l = Literal::u8_unsuffixed(b);
            quote!(#l)
        }
        (Primitive::Byte, v) => int_lit(v.as_i64().unwrap_or(0), quote!(i8), i64::from(i8::MIN)),
        (Primitive::Char, v) => {
            let c = Literal::u64_unsuffixed(v.as_i64().unwrap_or(0).clamp(0, 0xffff) as u64);
            quote!(#c)
        }
        (Primitive::Int, v) => int_lit(v.as_i64().unwrap_or(0), quote!(i32), i64::from(i32::MIN)),
        (Primitive::Long, v) => int_lit(v.as_i64().unwrap_or(0), quote!(i64), i64::MIN),
        (Primitive::Boolean, v) => {
            let b = v.as_i64().unwrap_or(0) != 0;
            quote!(#b)
        }
    }
}

/// Whether a value holds a float near one of the constants clippy's
/// `approx_constant` knows (`PI`, `E`, `TAU`, `LN_2`...).
pub(crate) fn has_float(v: &ConstValue) -> bool {
    use std::f64::consts as c;
    const KNOWN: &[f64] = &[
        c::E,
        c::FRAC_1_PI,
        c::FRAC_1_SQRT_2,
        c::FRAC_2_PI,
        c::FRAC_2_SQRT_PI,
        c::FRAC_PI_2,
        c::FRAC_PI_3,
        c::FRAC_PI_4,
        c::FRAC_PI_6,
        c::FRAC_PI_8,
        c::LN_10,
        c::LN_2,
        c::LOG10_E,
        c::LOG2_E,
        c::LOG2_10,
        c::LOG10_2,
        c::PI,
        c::SQRT_2,
        c::TAU,
    ];
    let near = |x: f64| KNOWN.iter().any(|k| (x.abs() - k).abs() < 0.01);
    match v {
        ConstValue::Float(f) => near(f64::from(*f)),
        ConstValue::Double(f) => near(*f),
        ConstValue::Array(items) => items.iter().any(has_float),
        _ => false,
    }
}

impl Gen<'_> {
    /// A value of type `ty` as an expression (not a `const` item: strings
    /// are `String`s).
    pub fn value(&self, from: &[String], v: &ConstValue, ty: &Type) -> TokenStream {
        let inner = self.value_inner(from, v, ty);
        if ty.is_nullable() {
            let Std { some, boxed, .. } = self.std(from);
            if ty.is_heap_nullable() {
                quote!(#some(#boxed::new(#inner)))
            } else {
                quote!(#some(#inner))
            }
        } else {
            inner
        }
    }

    fn value_inner(&self, from: &[String], v: &ConstValue, ty: &Type) -> TokenStream {
        let Std {
            default, string, ..
        } = self.std(from);
        if ty.array.is_some() {
            return self.array_value(from, v, ty, array_elements_nullable(ty));
        }
        match (&ty.kind, v) {
            (TypeKind::List(Some(elem)), ConstValue::Array(items)) => {
                let some = &self.std(from).some;
                let items = items.iter().map(|i| {
                    let item = self.value(from, i, elem);
                    if list_elements_nullable(ty) {
                        quote!(#some(#item))
                    } else {
                        item
                    }
                });
                quote!(::std::vec![#(#items),*])
            }
            (TypeKind::String, ConstValue::String(s)) => {
                quote!(#string::from(#s))
            }
            (TypeKind::Primitive(p), v) => primitive_value(v, *p, false),
            (
                TypeKind::Defined {
                    id,
                    kind: DeclKind::Enum,
                    ..
                },
                ConstValue::Enumerator { name, .. },
            ) => {
                let p = self.path_to(from, *id);
                let n = ident(&rust_name(name));
                quote!(#p::#n)
            }
            _ => quote!(#default::default()),
        }
    }

    /// An array value, its innermost elements in `Some` when `some_leaf`
    /// (a `@nullable` array's elements: the row of a multi-dimensional
    /// array is no `Option`, only what the rows hold).
    fn array_value(
        &self,
        from: &[String],
        v: &ConstValue,
        ty: &Type,
        some_leaf: bool,
    ) -> TokenStream {
        let Std { default, some, .. } = self.std(from);
        let (Some(shape), Some(elem)) = (&ty.array, ty.element()) else {
            return quote!(#default::default());
        };
        let item = |i: &ConstValue| {
            if elem.array.is_some() {
                self.array_value(from, i, &elem, some_leaf)
            } else if some_leaf {
                let x = self.element_value(from, i, &elem);
                quote!(#some(#x))
            } else {
                self.element_value(from, i, &elem)
            }
        };
        let items: Vec<TokenStream> = match v {
            ConstValue::Array(items) => items.iter().map(item).collect(),
            other => vec![item(other)],
        };
        match shape {
            ArrayShape::Dynamic => quote!(::std::vec![#(#items),*]),
            ArrayShape::Fixed(_) => quote!([#(#items),*]),
        }
    }

    /// An element of an array value: `byte` elements are `u8`.
    fn element_value(&self, from: &[String], v: &ConstValue, elem: &Type) -> TokenStream {
        match (&elem.kind, &elem.array) {
            (TypeKind::Primitive(p), None) => primitive_value(v, *p, true),
            _ => self.value(from, v, elem),
        }
    }

    /// A `const` item's type and value (`&str` for strings).
    pub fn const_type_and_value(
        &self,
        from: &[String],
        v: &ConstValue,
        ty: &Type,
    ) -> (TokenStream, TokenStream) {
        match (&ty.kind, v) {
            (TypeKind::String, ConstValue::String(s)) if ty.array.is_none() => {
                (quote!(&str), quote!(#s))
            }
            _ => (self.owned(from, ty), self.value(from, v, ty)),
        }
    }
}
