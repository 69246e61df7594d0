//! Rust names for AIDL names: case conversion, keyword escaping, and the
//! checks rustc's naming lints make (so that generated code allows a lint
//! only where a name as written needs it).

use proc_macro2::{Ident, Span};

/// Rust keywords (strict and reserved, every edition): used as raw
/// identifiers (`r#type`).
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use",
    "virtual", "where", "while", "yield",
];

/// Keywords that cannot be raw identifiers: they get a trailing `_`.
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate", "_"];

/// The Rust spelling of a name: raw for keywords, `name_` for the few
/// that cannot be raw. `name` is an AIDL identifier (ASCII).
pub fn rust_name(name: &str) -> String {
    if NOT_RAW.contains(&name) {
        format!("{name}_")
    } else if KEYWORDS.contains(&name) {
        format!("r#{name}")
    } else {
        name.to_string()
    }
}

/// An identifier token for a name produced by [`rust_name`].
pub fn ident(name: &str) -> Ident {
    match name.strip_prefix("r#") {
        Some(raw) => Ident::new_raw(raw, Span::call_site()),
        None => Ident::new(name, Span::call_site()),
    }
}

/// `getFooBar` → `get_foo_bar`, `HTTPServer` → `http_server`,
/// `IFoo` → `i_foo`; underscores and digits stay.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                let prev = chars[i - 1];
                let next = chars.get(i + 1).copied();
                let boundary = prev.is_ascii_lowercase()
                    || prev.is_ascii_digit()
                    || (prev.is_ascii_uppercase() && next.is_some_and(|n| n.is_ascii_lowercase()));
                if boundary && !out.ends_with('_') {
                    out.push('_');
                }
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `get_foo` → `GET_FOO`, `getFoo` → `GET_FOO`.
pub fn upper_snake_case(name: &str) -> String {
    snake_case(name).to_ascii_uppercase()
}

/// `intValue` → `IntValue`, `int_value` → `IntValue`, `URL` → `URL`.
pub fn upper_camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper_next = true;
    let leading = name.len() - name.trim_start_matches('_').len();
    out.push_str(&name[..leading]);
    for c in name[leading..].chars() {
        if c == '_' {
            upper_next = true;
            continue;
        }
        if upper_next {
            out.push(c.to_ascii_uppercase());
            upper_next = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether rustc's `non_camel_case_types` accepts the name.
pub fn is_camel_case(name: &str) -> bool {
    let name = name.trim_matches('_');
    if name.is_empty() {
        return true;
    }
    let first = name.chars().next().unwrap_or('A');
    if first.is_ascii_lowercase() || name.contains("__") {
        return false;
    }
    let chars: Vec<char> = name.chars().collect();
    !chars.windows(2).any(|w| {
        let has_case = |c: char| c.is_ascii_alphabetic();
        (has_case(w[0]) && w[1] == '_') || (has_case(w[1]) && w[0] == '_')
    })
}

/// Whether rustc's `non_upper_case_globals` accepts the name.
pub fn is_upper_case(name: &str) -> bool {
    !name.chars().any(|c| c.is_ascii_lowercase())
}

/// Whether rustc's `non_snake_case` accepts the name.
pub fn is_snake_case(name: &str) -> bool {
    !name.chars().any(|c| c.is_ascii_uppercase()) && !name.trim_matches('_').contains("__")
}

/// Whether clippy's `upper_case_acronyms` (default mode) would flag the
/// name: fully upper case, longer than one letter.
pub fn is_acronym(name: &str) -> bool {
    let letters = name.chars().filter(|c| c.is_ascii_alphabetic()).count();
    letters > 1 && is_upper_case(name) && !name.contains('_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_splits_words_and_acronyms() {
        assert_eq!(snake_case("getFooBar"), "get_foo_bar");
        assert_eq!(snake_case("HTTPServer"), "http_server");
        assert_eq!(snake_case("IFoo"), "i_foo");
        assert_eq!(snake_case("foo2Bar"), "foo2_bar");
        assert_eq!(snake_case("already_snake"), "already_snake");
        assert_eq!(snake_case("_x"), "_x");
        assert_eq!(snake_case("A"), "a");
        assert_eq!(snake_case("repeat_Int"), "repeat_int");
        assert_eq!(upper_snake_case("repeatString"), "REPEAT_STRING");
    }

    #[test]
    fn camel_case_for_variants() {
        assert_eq!(upper_camel_case("intValue"), "IntValue");
        assert_eq!(upper_camel_case("int_value"), "IntValue");
        assert_eq!(upper_camel_case("a"), "A");
        assert_eq!(upper_camel_case("URL"), "URL");
    }

    #[test]
    fn keywords_become_raw_or_get_an_underscore() {
        assert_eq!(rust_name("type"), "r#type");
        assert_eq!(rust_name("self"), "self_");
        assert_eq!(rust_name("Self"), "Self_");
        assert_eq!(rust_name("value"), "value");
        assert_eq!(ident("r#match").to_string(), "r#match");
    }

    #[test]
    fn lint_predicates_follow_rustc() {
        assert!(is_camel_case("IFoo"));
        assert!(!is_camel_case("foo"));
        assert!(!is_camel_case("Foo_Bar"));
        assert!(is_upper_case("FOO_BAR1"));
        assert!(!is_upper_case("kFoo"));
        assert!(is_snake_case("foo_bar"));
        assert!(!is_snake_case("fooBar"));
        assert!(is_acronym("URL"));
        assert!(!is_acronym("Url"));
    }
}
