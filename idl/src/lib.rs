//! capbinder-idl: the AIDL front end of capbinder.
//!
//! It reads `.aidl` files with AOSP's grammar and rules and produces a
//! checked [`Model`] that a code generator walks, or rustc-style
//! [`Diagnostics`]:
//!
//! * [`lexer`] and [`parser`] turn text into an [`ast::Document`], keeping
//!   comments (doc comments are attached to the item they precede) and byte
//!   spans for every node;
//! * [`Session`] loads input files, finds imports in include roots, and
//!   checks everything ([`check`](Session::check));
//! * [`model`] is the result: resolved types, evaluated constants, enum
//!   values, transaction codes;
//! * [`diagnostic`] renders errors as `error: ...` / ` --> file:line:col`
//!   with the source line underlined, through `annotate-snippets`.
//!
//! ```
//! let mut s = capbinder_idl::Session::new();
//! s.add_source("p/E.aidl", "package p; @Backing(type=\"int\") enum E { A = 1 << 4, B }");
//! let model = s.check().unwrap();
//! let e = model.lookup("p.E").unwrap().as_enum().unwrap();
//! assert_eq!(e.enumerators[1].value, 17);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod annotation;
pub mod api;
pub mod ast;
mod check;
pub mod constant;
pub mod diagnostic;
pub mod doc;
pub mod lexer;
pub mod lint;
pub mod model;
pub mod parser;
mod resolve;
pub mod session;
pub mod source;
pub mod stability;
pub mod token;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use model::Model;
pub use session::Session;
pub use source::{FileId, LineCol, Location, SourceMap, Span};
pub use stability::Stability;

use std::sync::Arc;

/// Parses one file's text without resolving anything: the syntax tree, or
/// the syntax errors. `name` is how diagnostics name the file.
pub fn parse_file(name: &str, text: &str) -> Result<ast::Document, Diagnostics> {
    let mut sources = SourceMap::new();
    let file = sources.add(name.into(), name.to_string(), text.to_string());
    let (doc, diags) = parser::parse(file, sources.get(file).text());
    if diags.is_empty() {
        Ok(doc)
    } else {
        Err(Diagnostics::new(diags, Arc::new(sources)))
    }
}
