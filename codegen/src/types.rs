//! AIDL types as Rust types, and what the Rust backend refuses.
//!
//! | AIDL | owned Rust type | `in` argument |
//! |---|---|---|
//! | `boolean byte char int long float double` | `bool i8 u16 i32 i64 f32 f64` | by value |
//! | `String` | `String` | `&str` |
//! | `T[]`, `List<T>` | `Vec<T>` (`byte[]` is `Vec<u8>`) | `&[T]` |
//! | `T[N]` | `[T; N]` | `&[T; N]` |
//! | enum | its newtype | by value |
//! | parcelable, union | the struct or enum | `&T` |
//! | `IBinder` | `SpIBinder` | `&SpIBinder` |
//! | `ParcelFileDescriptor`, `FileDescriptor` | `ParcelFileDescriptor` | `&ParcelFileDescriptor` |
//! | `ParcelableHolder` (fields only) | `ParcelableHolder` | |
//! | interface `IFoo` | `Arc<dyn IFoo>` | `&Arc<dyn IFoo>` |
//! | `Map<String, V>` | `BTreeMap<String, V>` | `&BTreeMap<String, V>` |
//! | `@nullable T` | `Option<T>` | `Option<&T>` (`Option<&str>`, `Option<&[T]>`) |
//! | `@nullable T[]`, `@nullable List<T>` (`T` neither primitive nor enum) | `Option<Vec<Option<T>>>` | `Option<&[Option<T>]>` |
//!
//! The elements of a `@nullable` array or list may be null too, except
//! primitives and enums, as in AOSP's Rust backend (its
//! `UsesOptionInNullableVector`; the NDK's `@nullable String[]` is
//! `optional<vector<optional<string>>>`): `@nullable String[2]` is
//! `Option<[Option<String>; 2]>`.
//!
//! `out` and `inout` arguments are `&mut` the owned type. In parcelables and
//! unions, a non-`@nullable` `IBinder`, interface, `ParcelFileDescriptor` or
//! `FileDescriptor` is an `Option` too (it has no default), and writing `None` fails with
//! `UnexpectedNull`; `@nullable(heap=true)` is `Option<Box<T>>`.
//!
//! Those have no default as array elements either, so where an array must
//! start from a default its elements are `Option`s, as in AOSP's Rust
//! backend: a fixed-size array field (`IBinder[2]` is
//! `[Option<SpIBinder>; 2]`) and an `out` array argument
//! (`&mut [Option<SpIBinder>; 3]`, `&mut Vec<Option<SpIBinder>>`). An `in`
//! or `inout` argument and a return value keep plain elements
//! (`&[SpIBinder; 3]`, `[SpIBinder; 3]`).
//!
//! A typed `Map` is a `BTreeMap`, not a `HashMap`: it iterates in key order,
//! so the same map is always written as the same bytes (a `HashMap`'s order
//! changes from process to process), its `Debug` is stable, and the
//! generated structs keep deriving `PartialEq` without asking `Hash` of the
//! keys. The front end allows only `String` keys (AOSP's rule). An untyped
//! `Map` is refused: Rust has no untyped values.

use capbinder_idl::model::{ArrayShape, DeclKind, Primitive, Type, TypeKind};
use capbinder_idl::Diagnostic;
use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::gen::{no_rust_type, Gen, Std};
use crate::names::ident;

/// How an `in` argument is passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InForm {
    /// By value (primitives, enums).
    ByValue,
    /// `&str`, `&[T]`, `&T`.
    Borrowed,
    /// `Option<&str>`, `Option<&[T]>`: the owned `Option` is passed with
    /// `as_deref()`.
    NullableDeref,
    /// `Option<&T>`: the owned `Option` is passed with `as_ref()`.
    NullableRef,
}

/// How a field of a parcelable or union is held.
pub(crate) struct FieldRepr {
    /// The Rust type.
    pub ty: TokenStream,
    /// A non-`@nullable` binder, interface or fd held in an `Option`.
    pub non_null_option: bool,
}

fn primitive(p: Primitive, in_array: bool) -> TokenStream {
    match p {
        Primitive::Boolean => quote!(bool),
        Primitive::Byte if in_array => quote!(u8),
        Primitive::Byte => quote!(i8),
        Primitive::Char => quote!(u16),
        Primitive::Int => quote!(i32),
        Primitive::Long => quote!(i64),
        Primitive::Float => quote!(f32),
        Primitive::Double => quote!(f64),
    }
}

/// Whether the type (without array) is a binder, an interface or an fd:
/// something without a default value.
pub(crate) fn is_object(ty: &Type) -> bool {
    ty.array.is_none() && is_object_kind(&ty.kind)
}

/// Whether `kind` can be null as an element of a `@nullable` array or list:
/// everything but primitives and enums.
fn nullable_element_kind(kind: &TypeKind) -> bool {
    !matches!(
        kind,
        TypeKind::Primitive(_)
            | TypeKind::Defined {
                kind: DeclKind::Enum,
                ..
            }
    )
}

/// Whether the elements of this array are `Option`s (see the module docs).
/// Of a multi-dimensional array, only the innermost elements are.
pub(crate) fn array_elements_nullable(ty: &Type) -> bool {
    ty.array.is_some() && ty.is_nullable() && nullable_element_kind(&ty.kind)
}

/// Whether the elements of this list are made `Option`s: a `@nullable`
/// list of a kind that can be null, whose element is not `@nullable`
/// itself (then it is an `Option` already).
pub(crate) fn list_elements_nullable(ty: &Type) -> bool {
    match &ty.kind {
        TypeKind::List(Some(elem)) => {
            ty.array.is_none()
                && ty.is_nullable()
                && elem.array.is_none()
                && !elem.is_nullable()
                && nullable_element_kind(&elem.kind)
        }
        _ => false,
    }
}

/// Whether `ty` is an array of binders, interfaces or fds, whose elements
/// have no default.
fn is_object_array(ty: &Type) -> bool {
    ty.array.is_some() && is_object_kind(&ty.kind)
}

/// Whether the type itself (arrays aside) is a binder, an interface or an fd.
fn is_object_kind(kind: &TypeKind) -> bool {
    matches!(
        kind,
        TypeKind::IBinder
            | TypeKind::ParcelFileDescriptor
            | TypeKind::FileDescriptor
            | TypeKind::Defined {
                kind: DeclKind::Interface,
                ..
            }
    )
}

impl Gen<'_> {
    /// Reports what the Rust backend cannot generate in `ty` (used as
    /// `what`); returns whether the type is usable.
    pub fn check_type(&self, ty: &Type, what: &str) -> bool {
        let refuse = |msg: String, help: &str| {
            self.error(
                Diagnostic::error(msg)
                    .with_label(ty.location, format!("{what} of this type"))
                    .with_help(help.to_string()),
            );
            false
        };
        let ok = match &ty.kind {
            TypeKind::Map(None) => refuse(
                "the Rust backend needs the key and value types of a `Map`: Rust has no untyped values"
                    .into(),
                "write `Map<String, V>`",
            ),
            TypeKind::CharSequence => {
                refuse("`CharSequence` is a Java-only type".into(), "use `String`")
            }
            TypeKind::List(None) => refuse(
                "the Rust backend needs the element type of a `List`".into(),
                "write `List<T>`",
            ),
            // a generic parcelable's parameter, or arguments of one used:
            // Rust generics (the arguments checked as types of their own)
            TypeKind::TypeParameter(_) => true,
            TypeKind::Defined { id, args, .. }
                if args.is_empty() && !self.decl(*id).type_params().is_empty() =>
            {
                refuse(
                    format!(
                        "`{}` is generic: the Rust backend needs its type arguments",
                        self.decl(*id).name
                    ),
                    "write them, as in `Pair<String, int>`",
                )
            }
            TypeKind::Defined { id, kind, args, .. } if !args.is_empty() => {
                let args_ok = args.iter().fold(true, |ok, a| {
                    // A generic parcelable is `Parcelable + Default` in
                    // each parameter (as in AOSP's Rust backend), and a
                    // binder, interface or fd has no default value: the
                    // generated code would not compile. (Type arguments
                    // take no annotations, so it cannot be `@nullable`.)
                    let has_default = !is_object(a);
                    if !has_default {
                        self.error(
                            Diagnostic::error(format!(
                                "`{}` cannot be a generic argument in Rust: a generic parcelable needs a default value of each argument, and a binder, an interface or a file descriptor has none",
                                a.kind.signature()
                            ))
                            .with_label(a.location, "this argument")
                            .with_help(
                                "hold it in a parcelable of its own (a `@nullable` field of it) and pass that as the argument".to_string(),
                            ),
                        );
                    }
                    self.check_type(a, "a generic argument") & has_default & ok
                });
                // the type itself, as without arguments
                let base_ok = match kind {
                    DeclKind::Union => refuse(
                        "the Rust backend does not support generic unions".into(),
                        "declare a union with concrete field types",
                    ),
                    DeclKind::UnstructuredParcelable => {
                        let t = self.decl(*id);
                        let has_rust =
                            t.as_unstructured().is_some_and(|u| u.rust_type.is_some());
                        if !has_rust {
                            self.error(no_rust_type(t, ty.location, &format!("{what} of this type")));
                        }
                        has_rust
                    }
                    _ => true,
                };
                args_ok & base_ok
            }
            TypeKind::Defined {
                id,
                kind: DeclKind::UnstructuredParcelable,
                ..
            } => {
                let t = self.decl(*id);
                let has_rust = t.as_unstructured().is_some_and(|u| u.rust_type.is_some());
                if !has_rust {
                    self.error(no_rust_type(
                        t,
                        ty.location,
                        &format!("{what} of this type"),
                    ));
                }
                has_rust
            }
            TypeKind::List(Some(elem)) => self.check_type(elem, what),
            // both, so that each refused part gets its diagnostic
            TypeKind::Map(Some(kv)) => self.check_type(&kv.0, what) & self.check_type(&kv.1, what),
            _ => true,
        };
        if !ok {
            return false;
        }
        true
    }

    /// The Rust type without `@nullable`.
    pub fn base(&self, from: &[String], ty: &Type) -> TokenStream {
        self.base_with(from, ty, array_elements_nullable(ty))
    }

    /// [`base`](Self::base), the innermost elements of an array in an
    /// `Option` when `option_elements`.
    fn base_with(&self, from: &[String], ty: &Type, option_elements: bool) -> TokenStream {
        let scalar = self.element(from, ty, option_elements);
        match &ty.array {
            None => scalar,
            Some(ArrayShape::Dynamic) => {
                let vec = &self.std(from).vec;
                quote!(#vec<#scalar>)
            }
            Some(ArrayShape::Fixed(dims)) => dims.iter().rev().fold(scalar, |acc, d| {
                let n = Literal::usize_unsuffixed(*d as usize);
                quote!([#acc; #n])
            }),
        }
    }

    /// The type itself, or for an array its innermost element (`byte` is
    /// `u8` there), in an `Option` when `option_elements`.
    fn element(&self, from: &[String], ty: &Type, option_elements: bool) -> TokenStream {
        let rt = &self.rt;
        let std = self.std(from);
        let vec = &std.vec;
        let in_array = ty.array.is_some();
        let scalar = match &ty.kind {
            TypeKind::Primitive(p) => primitive(*p, in_array),
            TypeKind::String => std.string.clone(),
            TypeKind::IBinder => quote!(#rt::SpIBinder),
            // AOSP's Rust backend has no raw `FileDescriptor`; here it is the
            // runtime's owned descriptor, as `ParcelFileDescriptor` is
            TypeKind::ParcelFileDescriptor | TypeKind::FileDescriptor => {
                quote!(#rt::ParcelFileDescriptor)
            }
            TypeKind::ParcelableHolder => quote!(#rt::ParcelableHolder),
            TypeKind::List(Some(elem)) => {
                let e = self.list_element(from, ty, elem);
                quote!(#vec<#e>)
            }
            TypeKind::Map(Some(kv)) => {
                let k = self.owned(from, &kv.0);
                let v = self.owned(from, &kv.1);
                quote!(::std::collections::BTreeMap<#k, #v>)
            }
            TypeKind::Defined {
                id,
                kind: DeclKind::Interface,
                ..
            } => {
                let p = self.path_to(from, *id);
                quote!(::std::sync::Arc<dyn #p>)
            }
            TypeKind::Defined { id, args, .. } if !args.is_empty() => {
                let p = self.path_to(from, *id);
                let args = args.iter().map(|a| self.owned(from, a));
                quote!(#p<#(#args),*>)
            }
            TypeKind::Defined { id, .. } => self.path_to(from, *id),
            TypeKind::TypeParameter(p) => {
                let p = ident(p);
                quote!(#p)
            }
            _ => quote!(()),
        };
        if option_elements && in_array {
            let option = &std.option;
            quote!(#option<#scalar>)
        } else {
            scalar
        }
    }

    /// The element type of the list `ty` whose element is `elem`.
    fn list_element(&self, from: &[String], ty: &Type, elem: &Type) -> TokenStream {
        let e = self.owned(from, elem);
        if list_elements_nullable(ty) {
            let option = &self.std(from).option;
            quote!(#option<#e>)
        } else {
            e
        }
    }

    /// The owned Rust type: `Option<T>` for `@nullable`.
    pub fn owned(&self, from: &[String], ty: &Type) -> TokenStream {
        self.nullable(from, ty, self.base(from, ty))
    }

    /// `base` in an `Option` for `@nullable`.
    fn nullable(&self, from: &[String], ty: &Type, base: TokenStream) -> TokenStream {
        if ty.is_nullable() {
            let option = &self.std(from).option;
            quote!(#option<#base>)
        } else {
            base
        }
    }

    /// The owned type of an `out` argument, which the stub starts from its
    /// default: an array of binders, interfaces or fds holds `Option`s.
    pub fn out_owned(&self, from: &[String], ty: &Type) -> TokenStream {
        let base = self.base_with(from, ty, array_elements_nullable(ty) || is_object_array(ty));
        self.nullable(from, ty, base)
    }

    /// The type of a parcelable's or union's field.
    pub fn field(&self, from: &[String], ty: &Type) -> FieldRepr {
        let base = self.base(from, ty);
        let Std { option, boxed, .. } = self.std(from);
        if ty.is_nullable() {
            let inner = if ty.is_heap_nullable() {
                quote!(#boxed<#base>)
            } else {
                base
            };
            return FieldRepr {
                ty: quote!(#option<#inner>),
                non_null_option: false,
            };
        }
        if is_object(ty) {
            return FieldRepr {
                ty: quote!(#option<#base>),
                non_null_option: true,
            };
        }
        if matches!(ty.array, Some(ArrayShape::Fixed(_))) && is_object_kind(&ty.kind) {
            // a fixed-size array field starts from its default
            return FieldRepr {
                ty: self.base_with(from, ty, true),
                non_null_option: false,
            };
        }
        FieldRepr {
            ty: base,
            non_null_option: false,
        }
    }

    /// An `in` argument's type and how it is passed.
    pub fn in_arg(&self, from: &[String], ty: &Type) -> (TokenStream, InForm) {
        let by_value = ty.array.is_none()
            && matches!(
                ty.kind,
                TypeKind::Primitive(_)
                    | TypeKind::Defined {
                        kind: DeclKind::Enum,
                        ..
                    }
            );
        if by_value {
            return (self.owned(from, ty), InForm::ByValue);
        }
        let (borrowed, deref) = match (&ty.kind, &ty.array) {
            (TypeKind::String, None) => (quote!(&str), true),
            (_, Some(ArrayShape::Dynamic)) => {
                let elem = self.element(from, ty, array_elements_nullable(ty));
                (quote!(&[#elem]), true)
            }
            (TypeKind::List(Some(elem)), None) => {
                let e = self.list_element(from, ty, elem);
                (quote!(&[#e]), true)
            }
            _ => {
                let b = self.base(from, ty);
                (quote!(&#b), false)
            }
        };
        if ty.is_nullable() {
            let form = if deref {
                InForm::NullableDeref
            } else {
                InForm::NullableRef
            };
            let option = &self.std(from).option;
            (quote!(#option<#borrowed>), form)
        } else {
            (borrowed, InForm::Borrowed)
        }
    }
}
