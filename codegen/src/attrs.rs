//! Attributes generated items carry: doc comments copied from the `.aidl`,
//! `#[deprecated]`, and the lint allowances a name as written needs.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indentation_never_makes_a_code_block() {
        assert_eq!(sanitize_line("        x = 1;"), "   x = 1;");
        assert_eq!(sanitize_line("  - item"), "  - item");
        let d = doc_lines("a\n```\ncode\n```\n```java\nx\n```").to_string();
        assert_eq!(d.matches("```text").count(), 1, "{d}");
    }
}
