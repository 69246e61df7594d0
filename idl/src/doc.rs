//! Doc comments: stripping comment markers and reading javadoc tags
//! (`@deprecated`, `@hide`), following AOSP's `comments.cpp`.

use crate::ast::{Comment, Comments};
use crate::token::CommentKind;

/// The lines of a comment without `//`, `/*`, `*/` and the leading ` * `
/// of block comment lines; leading blank lines and trailing blank lines are
/// dropped, trailing spaces are trimmed.
pub fn comment_lines(c: &Comment) -> Vec<String> {
    match c.kind {
        CommentKind::Line => {
            let body = c.text.strip_prefix("//").unwrap_or(&c.text);
            vec![body.trim_end().to_string()]
        }
        CommentKind::Block => {
            let body = c.text.strip_prefix("/*").unwrap_or(&c.text);
            let body = body.strip_suffix("*/").unwrap_or(body);
            let mut lines = Vec::new();
            let mut found_first = false;
            for line in body.split('\n') {
                let trimmed_start = line.trim_start();
                let mut rest = trimmed_start;
                if let Some(r) = rest.strip_prefix('*') {
                    rest = r;
                }
                if let Some(r) = rest.strip_prefix(' ') {
                    rest = r;
                }
                let rest = rest.trim_end();
                if rest.is_empty() && !found_first {
                    continue;
                }
                found_first = true;
                lines.push(rest.to_string());
            }
            while lines.last().is_some_and(|l| l.trim().is_empty()) {
                lines.pop();
            }
            lines
        }
    }
}

/// The text of the doc comment (the last block comment before the item) with
/// comment markers removed, lines joined with `\n`. `/**` doc comments keep
/// a leading `*` stripped too.
pub fn doc_text(comments: &Comments) -> Option<String> {
    let c = comments.doc_comment()?;
    let mut c = c.clone();
    // "/** text */": drop the second '*' of the opening marker
    if let Some(rest) = c.text.strip_prefix("/**") {
        if !rest.starts_with('/') {
            c.text = format!("/*{rest}");
        }
    }
    Some(comment_lines(&c).join("\n"))
}

struct BlockTag {
    name: String,
    description: String,
}

fn block_tags(c: &Comment) -> Vec<BlockTag> {
    let mut tags = Vec::new();
    let mut tag = String::new();
    let mut paragraph: Vec<String> = Vec::new();
    let mut end_paragraph = |tag: &mut String, paragraph: &mut Vec<String>| {
        if !tag.is_empty() {
            tags.push(BlockTag {
                name: std::mem::take(tag),
                description: paragraph.join(" "),
            });
        }
        paragraph.clear();
    };
    for line in comment_lines(c) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(after_at) = trimmed.strip_prefix('@') {
            end_paragraph(&mut tag, &mut paragraph);
            let name_len = after_at
                .bytes()
                .take_while(|b| b.is_ascii_alphabetic())
                .count();
            tag = format!("@{}", &after_at[..name_len]);
            let mut rest = &after_at[name_len..];
            if let Some(r) = rest.strip_prefix(' ') {
                rest = r;
            }
            if !rest.is_empty() {
                paragraph.push(rest.to_string());
            }
        } else {
            paragraph.push(trimmed.to_string());
        }
    }
    end_paragraph(&mut tag, &mut paragraph);
    tags
}

/// The `@deprecated` note of the doc comment, if any (`Some("")` when the
/// tag has no text).
pub fn find_deprecated(comments: &Comments) -> Option<String> {
    let c = comments.doc_comment()?;
    block_tags(c)
        .into_iter()
        .find(|t| t.name == "@deprecated")
        .map(|t| t.description)
}

/// Whether the doc comment contains `@hide` (as a whole word).
pub fn has_hide(comments: &Comments) -> bool {
    let Some(c) = comments.doc_comment() else {
        return false;
    };
    let text = c.text.as_str();
    let mut from = 0;
    while let Some(p) = text[from..].find("@hide") {
        let end = from + p + "@hide".len();
        let next = text[end..].chars().next();
        if !next.is_some_and(|ch| ch.is_alphanumeric() || ch == '_') {
            return true;
        }
        from = end;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Span;

    fn block(text: &str) -> Comments {
        Comments(vec![Comment {
            kind: CommentKind::Block,
            text: text.to_string(),
            span: Span::default(),
        }])
    }

    #[test]
    fn deprecated_and_hide() {
        let c = block("/**\n * Does things.\n * @deprecated use\n *     other\n * @hide\n */");
        assert_eq!(find_deprecated(&c).as_deref(), Some("use other"));
        assert!(has_hide(&c));
        assert_eq!(
            doc_text(&c).as_deref(),
            Some("Does things.\n@deprecated use\n    other\n@hide")
        );
        let c = block("/** @hidden */");
        assert!(!has_hide(&c));
        assert_eq!(
            find_deprecated(&block("/** @deprecated */")).as_deref(),
            Some("")
        );
        let mut line = block("/** @deprecated */");
        line.0.push(Comment {
            kind: CommentKind::Line,
            text: "// x".into(),
            span: Span::default(),
        });
        assert_eq!(find_deprecated(&line), None);
    }
}
