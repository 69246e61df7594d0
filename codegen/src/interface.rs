//! Interfaces: per AIDL interface `IFoo`,
//!
//! * `trait IFoo`: one method per AIDL method, returning
//!   `capbinder::Result<T>`, plus `as_binder()` (provided);
//! * `BpFoo`: the proxy, over an object reference (a local object made by
//!   `BnFoo` is called directly, a remote one through transactions);
//! * `BnFoo`: the stub, a `capbinder::Binder` that dispatches incoming
//!   transactions to an implementation;
//! * `IFooDefault`: AIDL's `Default`, every method answers
//!   `UnknownTransaction`;
//! * `impl capbinder::Interface for dyn IFoo`, so `Arc<dyn IFoo>` travels
//!   as an argument;
//! * module `i_foo`: `DESCRIPTOR`, `transactions::*` codes, the
//!   interface's constants and nested types.

use capbinder_idl::ast::Direction;
use capbinder_idl::model::{
    Argument, Interface, Method, Primitive, TypeDecl, TypeKind, FIRST_CALL_TRANSACTION,
    GET_INTERFACE_HASH_ID, GET_INTERFACE_VERSION_ID,
};
use capbinder_idl::Diagnostic;
use proc_macro2::{Ident, Literal, TokenStream};
use quote::quote;

use crate::attrs::{complexity_allows, deprecated, doc_lines, docs, type_name_allows};
use crate::gen::{companion_name, Gen, Std};
use crate::names::{ident, rust_name, snake_case, upper_snake_case};
use crate::types::InForm;

/// Names the generated code uses that a method may not take.
const RESERVED_METHODS: &[&str] = &["as_binder"];

/// One argument, prepared.
struct Arg<'a> {
    aidl: &'a Argument,
    name: Ident,
    /// The parameter's type in the trait.
    ty: TokenStream,
    /// The owned type (what the stub reads into).
    owned: TokenStream,
    form: InForm,
}

/// A meta method (`getInterfaceVersion`, `getInterfaceHash`): its pieces.
struct Meta {
    const_name: &'static str,
    trait_method: TokenStream,
    proxy_method: TokenStream,
    arm: TokenStream,
    code: TokenStream,
    constant: TokenStream,
    proxy_field: TokenStream,
    proxy_init: TokenStream,
}

/// One method, prepared.
struct Prepared<'a> {
    /// The module the interface's items are in.
    from: Vec<String>,
    m: &'a Method,
    name: Ident,
    code: Ident,
    args: Vec<Arg<'a>>,
    ret: TokenStream,
    void: bool,
    attrs: TokenStream,
}

/// The `Bp`/`Bn` name: `IFoo` → `Foo`, `Foo` → `Foo`.
pub(crate) fn stem(name: &str) -> &str {
    let b = name.as_bytes();
    if b.len() > 1 && b[0] == b'I' && b[1].is_ascii_uppercase() {
        &name[1..]
    } else {
        name
    }
}

impl Gen<'_> {
    /// The interface's items and the contents of its module.
    pub(crate) fn interface_items(
        &self,
        t: &TypeDecl,
        i: &Interface,
    ) -> (TokenStream, TokenStream) {
        let from = self.module_of(t.id);
        let inner_from = self.companion_module(t.id);
        let scope = from.join("::");
        let rt = &self.rt;
        let Std {
            option,
            some,
            none,
            ok,
            err,
            send,
            sync,
            partial_eq,
            ..
        } = self.std(&from);
        let trait_name = rust_name(&t.name);
        let tr = ident(&trait_name);
        let bp_name = format!("Bp{}", stem(&t.name));
        let bn_name = format!("Bn{}", stem(&t.name));
        let default_name = format!("{}Default", t.name);
        for (n, what) in [
            (&bp_name, "proxy"),
            (&bn_name, "stub"),
            (&default_name, "default implementation"),
        ] {
            self.claim(
                &scope,
                n,
                &format!("the {what} of `{}`", t.qualified_name),
                t.location,
            );
        }
        let bp = ident(&bp_name);
        let bn = ident(&bn_name);
        let dflt = ident(&default_name);
        let module = ident(&companion_name(t));
        let descriptor = i.descriptor.as_str();

        // methods
        let method_scope = format!("{scope}::{}.methods", t.name);
        let code_scope = format!("{scope}::{}.transactions", t.name);
        // AOSP's @SensitiveData: every call is marked (binder's
        // TF_CLEAR_BUF), so the mediator zeroes its bytes, and those of
        // its reply, in the receiver's buffer once freed.
        let sensitive = t.annotations.has("SensitiveData");
        let mut methods = Vec::new();
        for m in &i.methods {
            if let Some(p) = self.prepare(&from, m, &method_scope, &code_scope) {
                methods.push(p);
            }
        }

        let mut trait_methods = TokenStream::new();
        let mut proxy_methods = TokenStream::new();
        let mut default_methods = TokenStream::new();
        let mut arms = TokenStream::new();
        let mut codes = TokenStream::new();
        let mut meta_consts = TokenStream::new();
        let mut proxy_fields = TokenStream::new();
        let mut proxy_inits = TokenStream::new();
        let meta = self.meta_methods(t, &from, &module, &method_scope, &code_scope);
        for m in &meta {
            trait_methods.extend(m.trait_method.clone());
            proxy_methods.extend(m.proxy_method.clone());
            arms.extend(m.arm.clone());
            codes.extend(m.code.clone());
            meta_consts.extend(m.constant.clone());
            proxy_fields.extend(m.proxy_field.clone());
            proxy_inits.extend(m.proxy_init.clone());
        }
        for p in &methods {
            trait_methods.extend(self.trait_method(p));
            proxy_methods.extend(self.proxy_method(p, &module, sensitive));
            default_methods.extend(self.default_method(p, &t.name));
            arms.extend(self.dispatch_arm(p, &module));
            let code = &p.code;
            let value = Literal::u32_unsuffixed(p.m.transaction_code);
            let doc = format!(
                " `{}`: `FIRST_CALL_TRANSACTION + {}`.",
                p.m.signature(),
                p.m.id
            );
            codes.extend(quote! {
                #[doc = #doc]
                pub const #code: u32 = #value;
            });
        }

        // constants, in the interface's module
        let mut consts = TokenStream::new();
        let const_scope = format!("{}.values", inner_from.join("::"));
        self.claim(
            &const_scope,
            "DESCRIPTOR",
            "the generated `DESCRIPTOR`",
            t.location,
        );
        for m in &meta {
            self.claim(
                &const_scope,
                m.const_name,
                &format!("the generated `{}`", m.const_name),
                t.location,
            );
        }
        for c in &i.constants {
            if !self.check_type(&c.ty, "a constant") {
                continue;
            }
            self.claim(
                &const_scope,
                &rust_name(&c.name),
                &format!("constant `{}`", c.name),
                c.location,
            );
            consts.extend(self.const_item(&inner_from, c));
        }
        self.claim(
            &inner_from.join("::"),
            "transactions",
            "the generated module `transactions`",
            t.location,
        );

        let doc = docs(&t.comments);
        let dep = deprecated(&t.comments);
        let allows = type_name_allows(&t.name);
        let allow_dep = self.allow_deprecated();
        let about = format!(" The interface descriptor is `{descriptor}`.");
        let trait_doc = if doc.is_empty() {
            doc_lines(&format!(
                "AIDL interface `{}`.\n\n{}",
                t.qualified_name,
                about.trim()
            ))
        } else {
            quote!(#doc #[doc = ""] #[doc = #about])
        };
        let bp_doc = format!(
            " A proxy for [`{trait_name}`]: calls an object through its reference (a local object made by [`{bn_name}`] directly, a remote one through transactions)."
        );
        let bn_doc = format!(
            " The stub for [`{trait_name}`]: the local object that dispatches incoming transactions to an implementation."
        );
        let default_doc = format!(
            " AIDL's `Default` for [`{trait_name}`]: every method fails with `UnknownTransaction`, as an object that does not know the method would."
        );
        let as_binder_doc = format!(
            " The object behind this interface: the reference a proxy calls, or the local object [`{bn_name}::new_interface`] made. `None` for a plain implementation, which is wrapped in a new local object each time it is sent."
        );
        let bp_fmt = format!("{bp_name}({{}} {{:?}})");
        let dyn_fmt = format!("dyn {}({{:?}})", t.name);
        let dyn_plain = format!("dyn {}(plain implementation)", t.name);
        let on_transact_body = if arms.is_empty() {
            quote! {
                #err(#rt::interface::unknown_transaction(#module::DESCRIPTOR, _aidl_code))
            }
        } else {
            quote! {
                match _aidl_code {
                    #arms
                    _ => #err(#rt::interface::unknown_transaction(#module::DESCRIPTOR, _aidl_code)),
                }
            }
        };

        let items = quote! {
            #trait_doc
            #allow_dep
            #dep
            #allows
            pub trait #tr: #send + #sync {
                #trait_methods
                #[doc = #as_binder_doc]
                fn as_binder(&self) -> #option<#rt::SpIBinder> {
                    #none
                }
            }

            #[doc = #bp_doc]
            #allow_dep
            #[derive(Clone)]
            pub struct #bp {
                remote: #rt::interface::Remote,
                local: #option<::std::sync::Arc<dyn #tr>>,
                #proxy_fields
            }

            #allow_dep
            impl #bp {
                /// A proxy for `binder`. A remote object's descriptor is
                /// checked before the first two-way call.
                pub fn new(binder: #rt::SpIBinder) -> #bp {
                    let local = binder.local_as::<#bn>().map(|stub| stub.0.clone());
                    #bp {
                        remote: #rt::interface::Remote::new(binder, #module::DESCRIPTOR),
                        local,
                        #proxy_inits
                    }
                }
            }

            #allow_dep
            impl ::core::fmt::Debug for #bp {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    let place = if self.local.is_some() { "local" } else { "remote" };
                    write!(f, #bp_fmt, place, self.remote.binder())
                }
            }

            #allow_dep
            impl #tr for #bp {
                #proxy_methods
                fn as_binder(&self) -> #option<#rt::SpIBinder> {
                    #some(self.remote.binder().clone())
                }
            }

            #[doc = #bn_doc]
            #allow_dep
            pub struct #bn(::std::sync::Arc<dyn #tr>);

            #allow_dep
            impl #bn {
                /// A stub for an implementation.
                pub fn new(implementation: impl #tr + 'static) -> #bn {
                    #bn(::std::sync::Arc::new(implementation))
                }
                /// A stub for a shared implementation.
                pub fn from_arc(implementation: ::std::sync::Arc<dyn #tr>) -> #bn {
                    #bn(implementation)
                }
                /// A new local object for an implementation, to send or register.
                pub fn new_binder(implementation: impl #tr + 'static) -> #rt::SpIBinder {
                    #rt::new_binder(#bn::new(implementation))
                }
                /// A new local object for an implementation, as the interface: it
                /// keeps one identity however often it is sent.
                pub fn new_interface(implementation: impl #tr + 'static) -> ::std::sync::Arc<dyn #tr> {
                    ::std::sync::Arc::new(#bp::new(#bn::new_binder(implementation)))
                }
                /// The implementation.
                pub fn implementation(&self) -> &::std::sync::Arc<dyn #tr> {
                    &self.0
                }
            }

            #allow_dep
            impl #rt::Binder for #bn {
                fn descriptor(&self) -> &str {
                    #module::DESCRIPTOR
                }
                fn on_transact(
                    &self,
                    _aidl_code: u32,
                    _aidl_data: &mut #rt::Parcel,
                    _aidl_reply: &mut #rt::Parcel,
                ) -> #rt::Result<()> {
                    #on_transact_body
                }
            }

            #[doc = #default_doc]
            #allow_dep
            #[derive(Clone, Copy, Debug, Default)]
            pub struct #dflt;

            #allow_dep
            impl #tr for #dflt {
                #default_methods
            }

            #allow_dep
            impl #rt::Interface for dyn #tr {
                const DESCRIPTOR: &'static str = #module::DESCRIPTOR;
                fn from_binder(binder: #rt::SpIBinder) -> #rt::Result<::std::sync::Arc<Self>> {
                    #rt::interface::check_local(&binder, #module::DESCRIPTOR)?;
                    #ok(::std::sync::Arc::new(#bp::new(binder)))
                }
                fn to_binder(this: &::std::sync::Arc<Self>) -> #rt::SpIBinder {
                    this.as_binder()
                        .unwrap_or_else(|| #rt::new_binder(#bn(this.clone())))
                }
            }

            #allow_dep
            impl ::core::fmt::Debug for dyn #tr {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    match self.as_binder() {
                        #some(b) => write!(f, #dyn_fmt, b),
                        #none => f.write_str(#dyn_plain),
                    }
                }
            }

            /// Equal when both are the same object.
            #allow_dep
            impl #partial_eq for dyn #tr {
                fn eq(&self, other: &Self) -> bool {
                    match (self.as_binder(), other.as_binder()) {
                        (#some(a), #some(b)) => a == b,
                        _ => ::core::ptr::addr_eq(self, other),
                    }
                }
            }
        };
        let companion = quote! {
            /// The interface descriptor.
            pub const DESCRIPTOR: &str = #descriptor;
            #meta_consts
            /// Transaction codes, as AIDL assigns them.
            pub mod transactions {
                #codes
            }
            #consts
        };
        (items, companion)
    }

    /// `getInterfaceVersion()` and `getInterfaceHash()`, the methods AOSP
    /// adds to every interface of a versioned run (`--version`, `--hash`),
    /// with AOSP's ids (`kGetInterfaceVersionId`, `kGetInterfaceHashId`).
    /// The trait answers them from `VERSION` and `HASH` (so a stub answers
    /// what it was generated with), and the proxy asks the object once and
    /// keeps the answer, as AOSP's proxies do. An object generated without
    /// them answers `UnknownTransaction`, which the proxy returns, as
    /// AOSP's Rust backend does (its C++ backend reports `-1` and `"-1"`).
    fn meta_methods(
        &self,
        t: &TypeDecl,
        from: &[String],
        module: &Ident,
        method_scope: &str,
        code_scope: &str,
    ) -> Vec<Meta> {
        let rt = &self.rt;
        let Std {
            some, ok, string, ..
        } = self.std(from);
        let mut out = Vec::new();
        let mut add = |aidl: &str,
                       rust: &str,
                       code_name: &'static str,
                       const_name: &'static str,
                       id: u32,
                       ty: TokenStream,
                       value: TokenStream,
                       answer: TokenStream,
                       copy: bool| {
            self.claim(
                method_scope,
                rust,
                &format!("the generated `{aidl}()`"),
                t.location,
            );
            self.claim(
                code_scope,
                code_name,
                &format!("the generated `{aidl}()`"),
                t.location,
            );
            let name = ident(rust);
            let code = ident(code_name);
            let cname = ident(const_name);
            // `version` or `hash`
            let what = &rust["get_interface_".len()..];
            let cache = ident(&format!("cached_{what}"));
            let code_value = Literal::u32_unsuffixed(FIRST_CALL_TRANSACTION + id);
            let code_doc = format!(" `{aidl}()`: `FIRST_CALL_TRANSACTION + {id}`.");
            let trait_doc = format!(
                " AIDL's `{aidl}()`: what this side was generated with, [`{module}::{const_name}`]; a proxy asks the object, once."
            );
            let const_doc = format!(
                " The interface's {what} as generated (AOSP's `--{what}`): what `{aidl}()` answers."
            );
            // `i32` is `Copy`: cloning it would draw clippy's `clone_on_copy`
            let (known, kept) = if copy {
                (
                    quote!(*_aidl_known),
                    quote!(*self.#cache.get_or_init(|| _aidl_ret)),
                )
            } else {
                (
                    quote!(_aidl_known.clone()),
                    quote!(self.#cache.get_or_init(|| _aidl_ret).clone()),
                )
            };
            out.push(Meta {
                const_name,
                trait_method: quote! {
                    #[doc = #trait_doc]
                    fn #name(&self) -> #rt::Result<#ty> {
                        #ok(#answer)
                    }
                },
                proxy_method: quote! {
                    fn #name(&self) -> #rt::Result<#ty> {
                        if let #some(_aidl_local) = &self.local {
                            return _aidl_local.#name();
                        }
                        if let #some(_aidl_known) = self.#cache.get() {
                            return #ok(#known);
                        }
                        let mut _aidl_reply = self
                            .remote
                            .call(#module::transactions::#code, #rt::Parcel::new())?;
                        let _aidl_ret: #ty = #rt::Parcelable::read_from(&mut _aidl_reply)?;
                        #ok(#kept)
                    }
                },
                arm: quote! {
                    #module::transactions::#code => {
                        let _aidl_ret = self.0.#name()?;
                        #rt::Parcelable::write_to(&_aidl_ret, _aidl_reply)?;
                        #ok(())
                    }
                },
                code: quote! {
                    #[doc = #code_doc]
                    pub const #code: u32 = #code_value;
                },
                constant: quote! {
                    #[doc = #const_doc]
                    pub const #cname: #value;
                },
                proxy_field: quote!(#cache: ::std::sync::OnceLock<#ty>,),
                proxy_init: quote!(#cache: ::std::sync::OnceLock::new(),),
            });
        };
        if let Some(v) = self.version {
            let lit = Literal::i32_unsuffixed(i32::try_from(v).unwrap_or(i32::MAX));
            add(
                "getInterfaceVersion",
                "get_interface_version",
                "GET_INTERFACE_VERSION",
                "VERSION",
                GET_INTERFACE_VERSION_ID,
                quote!(i32),
                quote!(i32 = #lit),
                quote!(#module::VERSION),
                true,
            );
        }
        if let Some(h) = &self.hash {
            let lit = h.as_str();
            add(
                "getInterfaceHash",
                "get_interface_hash",
                "GET_INTERFACE_HASH",
                "HASH",
                GET_INTERFACE_HASH_ID,
                quote!(#string),
                quote!(&str = #lit),
                quote!(#string::from(#module::HASH)),
                false,
            );
        }
        out
    }

    fn prepare<'a>(
        &self,
        from: &[String],
        m: &'a Method,
        method_scope: &str,
        code_scope: &str,
    ) -> Option<Prepared<'a>> {
        let mut ok = true;
        let rn = rust_name(&snake_case(&m.name));
        if RESERVED_METHODS.contains(&rn.as_str()) {
            self.error(
                Diagnostic::error(format!(
                    "method `{}` becomes `{rn}` in Rust, which the generated trait already has",
                    m.name
                ))
                .with_label(m.location, "reserved in the Rust backend")
                .with_help("rename the method"),
            );
            ok = false;
        }
        self.claim(
            method_scope,
            &rn,
            &format!("method `{}`", m.name),
            m.location,
        );
        let code_name = upper_snake_case(&m.name);
        self.claim(
            code_scope,
            &code_name,
            &format!("method `{}`", m.name),
            m.location,
        );
        let param_scope = format!("{method_scope}.{}", m.name);
        let mut args = Vec::new();
        for a in &m.args {
            ok &= self.check_type(&a.ty, "a parameter");
            let an = rust_name(&snake_case(&a.name));
            if an.starts_with("_aidl") {
                self.error(
                    Diagnostic::error(format!(
                        "parameter `{}` uses the prefix `_aidl` that generated code keeps for itself",
                        a.name
                    ))
                    .with_label(a.location, "reserved prefix")
                    .with_help("rename the parameter"),
                );
                ok = false;
            }
            self.claim(
                &param_scope,
                &an,
                &format!("parameter `{}`", a.name),
                a.location,
            );
            let owned = match a.direction {
                Direction::Out => self.out_owned(from, &a.ty),
                _ => self.owned(from, &a.ty),
            };
            let (ty, form) = match a.direction {
                Direction::In => self.in_arg(from, &a.ty),
                Direction::Out | Direction::InOut => (quote!(&mut #owned), InForm::Borrowed),
            };
            args.push(Arg {
                aidl: a,
                name: ident(&an),
                ty,
                owned,
                form,
            });
        }
        let void = matches!(m.return_type.kind, TypeKind::Void);
        if !void {
            ok &= self.check_type(&m.return_type, "a return value");
        }
        if !ok {
            return None;
        }
        let ret = if void {
            quote!(())
        } else {
            self.owned(from, &m.return_type)
        };
        let mut attrs = TokenStream::new();
        if m.args.len() > 7 {
            attrs.extend(quote!(#[allow(clippy::too_many_arguments)]));
        }
        if rn.starts_with("from_") || rn.starts_with("into_") {
            attrs.extend(quote!(#[allow(clippy::wrong_self_convention)]));
        }
        let rt = &self.rt;
        let result = quote!(#rt::Result<#ret>);
        attrs.extend(complexity_allows(
            args.iter().map(|a| &a.ty).chain([&result]),
        ));
        Some(Prepared {
            from: from.to_vec(),
            m,
            name: ident(&rn),
            code: ident(&code_name),
            args,
            ret,
            void,
            attrs,
        })
    }

    fn trait_method(&self, p: &Prepared<'_>) -> TokenStream {
        let rt = &self.rt;
        let name = &p.name;
        let ret = &p.ret;
        let params = p.args.iter().map(|a| {
            let n = &a.name;
            let t = &a.ty;
            quote!(#n: #t)
        });
        let mut doc = docs(&p.m.comments);
        if p.m.oneway {
            let note = " Oneway: returns as soon as the call is sent.";
            if doc.is_empty() {
                doc = quote!(#[doc = #note]);
            } else {
                doc.extend(quote!(#[doc = ""] #[doc = #note]));
            }
        }
        let dep = deprecated(&p.m.comments);
        let attrs = &p.attrs;
        quote! {
            #doc
            #dep
            #attrs
            fn #name(&self, #(#params),*) -> #rt::Result<#ret>;
        }
    }

    fn default_method(&self, p: &Prepared<'_>, iface: &str) -> TokenStream {
        let rt = &self.rt;
        let err = &self.std(&p.from).err;
        let name = &p.name;
        let ret = &p.ret;
        let params = p.args.iter().map(|a| {
            let t = &a.ty;
            quote!(_: #t)
        });
        let what = format!("{iface}.{}", p.m.name);
        let attrs = &p.attrs;
        quote! {
            #attrs
            fn #name(&self, #(#params),*) -> #rt::Result<#ret> {
                #err(#rt::interface::not_implemented(#what))
            }
        }
    }

    fn proxy_method(&self, p: &Prepared<'_>, module: &Ident, sensitive: bool) -> TokenStream {
        let rt = &self.rt;
        let Std { some, ok, .. } = self.std(&p.from);
        let name = &p.name;
        let ret = &p.ret;
        let code = &p.code;
        let params = p.args.iter().map(|a| {
            let n = &a.name;
            let t = &a.ty;
            quote!(#n: #t)
        });
        let names: Vec<&Ident> = p.args.iter().map(|a| &a.name).collect();
        let mut writes = TokenStream::new();
        for a in &p.args {
            let n = &a.name;
            let w = match (a.aidl.direction, a.form) {
                (Direction::Out, _) => continue,
                (Direction::InOut, _) => quote!(#rt::Parcelable::write_to(&*#n, &mut _aidl_data)?;),
                (_, InForm::ByValue) => quote!(#rt::Parcelable::write_to(&#n, &mut _aidl_data)?;),
                (_, InForm::Borrowed) => quote!(#rt::Parcelable::write_to(#n, &mut _aidl_data)?;),
                (_, InForm::NullableDeref | InForm::NullableRef) => {
                    quote!(#rt::parcelable::write_option(#n, &mut _aidl_data)?;)
                }
            };
            writes.extend(w);
        }
        // Arguments are written straight into the thread's send area,
        // where the mediator copies them from (no parcel buffer first).
        let data_decl = if sensitive {
            let new = if writes.is_empty() {
                quote!(new)
            } else {
                quote!(in_send_area)
            };
            quote! {
                let mut _aidl_data = #rt::Parcel::#new();
                _aidl_data.mark_sensitive();
            }
        } else if writes.is_empty() {
            quote!(let _aidl_data = #rt::Parcel::new();)
        } else {
            quote!(let mut _aidl_data = #rt::Parcel::in_send_area();)
        };
        let outs: Vec<&Arg<'_>> = p
            .args
            .iter()
            .filter(|a| a.aidl.direction != Direction::In)
            .collect();
        let body = if p.m.oneway {
            quote! {
                self.remote.call_oneway(#module::transactions::#code, _aidl_data)
            }
        } else if p.void && outs.is_empty() {
            quote! {
                self.remote.call(#module::transactions::#code, _aidl_data)?;
                #ok(())
            }
        } else {
            let ret_read = if p.void {
                TokenStream::new()
            } else {
                quote!(let _aidl_ret: #ret = #rt::Parcelable::read_from(&mut _aidl_reply)?;)
            };
            let out_reads = outs.iter().map(|a| {
                let n = &a.name;
                quote!(*#n = #rt::Parcelable::read_from(&mut _aidl_reply)?;)
            });
            let result = if p.void {
                quote!(())
            } else {
                quote!(_aidl_ret)
            };
            quote! {
                let mut _aidl_reply = self.remote.call(#module::transactions::#code, _aidl_data)?;
                #ret_read
                #(#out_reads)*
                #ok(#result)
            }
        };
        let attrs = &p.attrs;
        quote! {
            #attrs
            fn #name(&self, #(#params),*) -> #rt::Result<#ret> {
                if let #some(_aidl_local) = &self.local {
                    return _aidl_local.#name(#(#names),*);
                }
                #data_decl
                #writes
                #body
            }
        }
    }

    fn dispatch_arm(&self, p: &Prepared<'_>, module: &Ident) -> TokenStream {
        let rt = &self.rt;
        let Std { ok, default, .. } = self.std(&p.from);
        let name = &p.name;
        let code = &p.code;
        // the last argument read from the parcel, if it is a plain
        // `in byte[]`, is passed borrowed from the parcel (no copy)
        let last_read = p
            .args
            .iter()
            .rposition(|a| a.aidl.direction != Direction::Out);
        let mut reads = TokenStream::new();
        let mut passes = Vec::new();
        for (i, a) in p.args.iter().enumerate() {
            let n = &a.name;
            let owned = &a.owned;
            // clippy looks at a `let`'s type too.
            reads.extend(complexity_allows([owned]));
            match a.aidl.direction {
                Direction::Out => {
                    reads.extend(quote!(let mut #n: #owned = #default::default();));
                    passes.push(quote!(&mut #n));
                }
                Direction::InOut => {
                    reads.extend(
                        quote!(let mut #n: #owned = #rt::Parcelable::read_from(_aidl_data)?;),
                    );
                    passes.push(quote!(&mut #n));
                }
                Direction::In => {
                    let is_bytes = a.form == InForm::Borrowed
                        && matches!(a.aidl.ty.kind, TypeKind::Primitive(Primitive::Byte))
                        && matches!(
                            a.aidl.ty.array,
                            Some(capbinder_idl::model::ArrayShape::Dynamic)
                        );
                    if is_bytes && Some(i) == last_read {
                        reads.extend(quote!(let #n = _aidl_data.read_bytes()?;));
                        passes.push(quote!(#n));
                        continue;
                    }
                    reads.extend(quote!(let #n: #owned = #rt::Parcelable::read_from(_aidl_data)?;));
                    passes.push(match a.form {
                        InForm::ByValue => quote!(#n),
                        InForm::Borrowed => quote!(&#n),
                        InForm::NullableDeref => quote!(#n.as_deref()),
                        InForm::NullableRef => quote!(#n.as_ref()),
                    });
                }
            }
        }
        let call = quote!(self.0.#name(#(#passes),*)?);
        let outs = p
            .args
            .iter()
            .filter(|a| a.aidl.direction != Direction::In)
            .map(|a| {
                let n = &a.name;
                quote!(#rt::Parcelable::write_to(&#n, _aidl_reply)?;)
            });
        let has_outs = p.args.iter().any(|a| a.aidl.direction != Direction::In);
        // Results go straight into the send area, once the implementation
        // (which may make calls of its own) has returned.
        let to_area = quote!(_aidl_reply.move_to_send_area(););
        let reply = if p.m.oneway {
            quote! {
                #call;
            }
        } else if p.void {
            let to_area = has_outs.then_some(to_area);
            quote! {
                #call;
                #to_area
                #(#outs)*
            }
        } else {
            quote! {
                let _aidl_ret = #call;
                #to_area
                #rt::Parcelable::write_to(&_aidl_ret, _aidl_reply)?;
                #(#outs)*
            }
        };
        quote! {
            #module::transactions::#code => {
                #reads
                #reply
                #ok(())
            }
        }
    }
}
