//! Attributes generated items carry: doc comments copied from the `.aidl`,
//! `#[deprecated]`, and the lint allowances a name as written, or a type
//! as AIDL nests it, needs.

use capbinder_idl::ast::Comments;
use proc_macro2::TokenStream;
use quote::quote;

use crate::names::{is_acronym, is_camel_case, is_upper_case};

/// `#[doc]` lines for a doc comment: its Javadoc rewritten as Markdown
/// (see [`crate::javadoc`]), then made safe by [`doc_lines`].
pub fn docs(comments: &Comments) -> TokenStream {
    match comments.doc_text() {
        Some(text) => doc_lines(&crate::javadoc::to_markdown(&text)),
        None => TokenStream::new(),
    }
}

/// `#[doc]` lines for a Markdown text, made safe for rustdoc: indentation
/// is capped at three spaces (four would start a code block that rustdoc
/// runs as a test), tabs become spaces, and fenced blocks without a
/// language are marked `text` (AIDL comments hold Java or C++, not Rust).
pub fn doc_lines(text: &str) -> TokenStream {
    let mut in_fence = false;
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            let mut l = sanitize_line(l);
            if l.trim_start().starts_with("```") {
                if !in_fence && l.trim_start().trim_start_matches('`').trim().is_empty() {
                    // an opening fence without a language: not Rust
                    l = format!("{}text", l.trim_end());
                }
                in_fence = !in_fence;
            }
            l
        })
        .collect();
    if lines.iter().all(|l| l.trim().is_empty()) {
        return TokenStream::new();
    }
    let mut out = TokenStream::new();
    for l in lines {
        let l = if l.is_empty() { l } else { format!(" {l}") };
        out.extend(quote!(#[doc = #l]));
    }
    out
}

fn sanitize_line(line: &str) -> String {
    let line = line.replace('\t', "    ");
    let body = line.trim_start();
    let indent = (line.len() - body.len()).min(3);
    let body = body.trim_end();
    format!("{}{body}", " ".repeat(indent))
}

/// `#[deprecated(note = ...)]` for an `@deprecated` doc tag.
pub fn deprecated(comments: &Comments) -> TokenStream {
    match comments.deprecated() {
        None => TokenStream::new(),
        Some(note) if note.trim().is_empty() => quote!(#[deprecated]),
        Some(note) => {
            let note = note.trim().to_string();
            quote!(#[deprecated(note = #note)])
        }
    }
}

/// Allowances for a type's name.
pub fn type_name_allows(name: &str) -> TokenStream {
    let mut out = TokenStream::new();
    if !is_camel_case(name) {
        out.extend(quote!(#[allow(non_camel_case_types)]));
    }
    if is_acronym(name) {
        out.extend(quote!(#[allow(clippy::upper_case_acronyms)]));
    }
    out
}

/// Allowance for a constant's name.
pub fn const_name_allows(name: &str) -> TokenStream {
    if is_upper_case(name) {
        TokenStream::new()
    } else {
        quote!(#[allow(non_upper_case_globals)])
    }
}

/// The score past which clippy's `type_complexity` fires (its default
/// `type-complexity-threshold`).
const COMPLEXITY_THRESHOLD: u64 = 250;

/// clippy's `type_complexity` score of a type, by clippy's own rule: a
/// named type, slice, tuple or array scores ten times how deeply it is
/// nested and nests what it holds one deeper; a trait object scores twenty
/// times its depth (fifty, and nests, with higher-ranked lifetimes); a
/// function pointer fifty times, and nests; a reference, a pointer or `_`
/// one.
fn complexity(ty: &syn::Type, nest: u64) -> u64 {
    use syn::{GenericArgument, PathArguments, ReturnType, Type, TypeParamBound};
    let path_args = |path: &syn::Path, nest: u64| -> u64 {
        let mut score = 0;
        for seg in &path.segments {
            match &seg.arguments {
                PathArguments::AngleBracketed(a) => {
                    for arg in &a.args {
                        match arg {
                            GenericArgument::Type(t) => score += complexity(t, nest),
                            GenericArgument::AssocType(a) => score += complexity(&a.ty, nest),
                            _ => {}
                        }
                    }
                }
                PathArguments::Parenthesized(p) => {
                    score += p.inputs.iter().map(|t| complexity(t, nest)).sum::<u64>();
                    if let ReturnType::Type(_, t) = &p.output {
                        score += complexity(t, nest);
                    }
                }
                PathArguments::None => {}
            }
        }
        score
    };
    match ty {
        Type::Path(p) => {
            let qself = p.qself.as_ref().map_or(0, |q| complexity(&q.ty, nest + 1));
            10 * nest + qself + path_args(&p.path, nest + 1)
        }
        Type::Slice(s) => 10 * nest + complexity(&s.elem, nest + 1),
        Type::Array(a) => 10 * nest + complexity(&a.elem, nest + 1),
        Type::Tuple(t) => 10 * nest + t.elems.iter().map(|e| complexity(e, nest + 1)).sum::<u64>(),
        Type::Reference(r) => 1 + complexity(&r.elem, nest),
        Type::Ptr(p) => 1 + complexity(&p.elem, nest),
        Type::Infer(_) => 1,
        Type::Paren(p) => complexity(&p.elem, nest),
        Type::Group(g) => complexity(&g.elem, nest),
        Type::BareFn(f) if f.abi.is_none() => {
            let inputs: u64 = f.inputs.iter().map(|a| complexity(&a.ty, nest + 1)).sum();
            let output = match &f.output {
                ReturnType::Type(_, t) => complexity(t, nest + 1),
                ReturnType::Default => 0,
            };
            50 * nest + inputs + output
        }
        Type::TraitObject(t) => {
            let traits = t.bounds.iter().filter_map(|b| match b {
                TypeParamBound::Trait(t) => Some(t),
                _ => None,
            });
            let higher_ranked = traits.clone().any(|t| t.lifetimes.is_some());
            let (score, inner) = if higher_ranked {
                (50 * nest, nest + 1)
            } else {
                (20 * nest, nest)
            };
            score + traits.map(|t| path_args(&t.path, inner)).sum::<u64>()
        }
        _ => 0,
    }
}

/// `#[allow(clippy::type_complexity)]` for an item that declares one of
/// `types` (a field, a variant, a method's parameters and return type)
/// when clippy would call it very complex: AIDL nests freely (a nullable
/// matrix of interfaces is `Option<[[Option<Arc<dyn I>>; 2]; 2]>`), and a
/// generated file must lint clean however its `.aidl` nests.
pub fn complexity_allows<'a>(types: impl IntoIterator<Item = &'a TokenStream>) -> TokenStream {
    let complex = types.into_iter().any(|t| {
        syn::parse2::<syn::Type>(t.clone())
            .is_ok_and(|ty| complexity(&ty, 1) > COMPLEXITY_THRESHOLD)
    });
    if complex {
        quote!(#[allow(clippy::type_complexity)])
    } else {
        TokenStream::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(ty: TokenStream) -> u64 {
        complexity(&syn::parse2(ty).unwrap(), 1)
    }

    #[test]
    fn complexity_scores_as_clippy_scores() {
        // Worked by hand with clippy's rule (see `complexity`).
        assert_eq!(score(quote!(Vec<u8>)), 10 + 20);
        assert_eq!(score(quote!(&mut Vec<u8>)), 1 + 10 + 20);
        assert_eq!(score(quote!((u8, [u8; 4]))), 10 + 20 + 20 + 30);
        // The one an AOSP test interface hit: 10 + 20 + 30 + 40 + 50 + 120.
        let matrix = quote!(Option<[[Option<::std::sync::Arc<dyn IEmpty>>; 2]; 2]>);
        assert_eq!(score(matrix.clone()), 270);
        assert!(complexity_allows([&quote!(Option<Vec<String>>)]).is_empty());
        assert_eq!(
            complexity_allows([&quote!(u8), &matrix]).to_string(),
            quote!(#[allow(clippy::type_complexity)]).to_string()
        );
    }

    #[test]
    fn indentation_never_makes_a_code_block() {
        assert_eq!(sanitize_line("        x = 1;"), "   x = 1;");
        assert_eq!(sanitize_line("  - item"), "  - item");
        let d = doc_lines("a\n```\ncode\n```\n```java\nx\n```").to_string();
        assert_eq!(d.matches("```text").count(), 1, "{d}");
    }
}
