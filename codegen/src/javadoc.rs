//! AIDL doc comments are Javadoc: HTML tags, `{@link ...}`, `@param[in]`,
//! bare URLs. rustdoc reads Markdown, where the same text means something
//! else (`[in]` is a link, `<T>` an unclosed tag, `<p>` opens a raw-HTML
//! block that swallows the lines after it), so it would warn on generated
//! code and render it wrong. This module rewrites a comment into Markdown
//! that renders as the author meant and passes rustdoc's lints.
//!
//! Code is left alone: fenced blocks, inline code spans, and `<pre>`
//! blocks (which become fenced `text` blocks).

/// Inline HTML that rustdoc renders as Javadoc does, kept as written.
const INLINE_TAGS: &[&str] = &[
    "b", "i", "em", "strong", "code", "tt", "sub", "sup", "u", "s", "br", "a", "var", "kbd",
];

/// Markdown for a Javadoc comment's text.
pub fn to_markdown(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut in_fence = false;
    let mut in_pre = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_fence = !in_fence;
            out.push(line.to_string());
            continue;
        }
        if in_fence {
            out.push(line.to_string());
            continue;
        }
        if !in_pre && trimmed.eq_ignore_ascii_case("<pre>") {
            in_pre = true;
            out.push("```text".into());
            continue;
        }
        if in_pre {
            if trimmed.eq_ignore_ascii_case("</pre>") {
                in_pre = false;
                out.push("```".into());
            } else {
                out.push(line.to_string());
            }
            continue;
        }
        let indent = &line[..line.len() - line.trim_start().len()];
        for (i, piece) in convert_line(line.trim_start()).split('\n').enumerate() {
            if i == 0 {
                out.push(format!("{indent}{piece}"));
            } else {
                out.push(piece.to_string());
            }
        }
    }
    if in_pre || in_fence {
        // an unclosed block would swallow whatever rustdoc adds after it
        out.push("```".into());
    }
    // tags turned into breaks leave runs of blank lines: one is enough
    let mut text = String::new();
    let mut blank = false;
    for l in &out {
        let is_blank = l.trim().is_empty();
        if !(is_blank && blank) {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(l);
        }
        blank = is_blank;
    }
    text
}

/// One line of prose; `\n` in the result starts a new line.
fn convert_line(line: &str) -> String {
    let mut out = String::new();
    // odd pieces are inside `code spans`
    for (i, piece) in line.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        if i % 2 == 1 {
            out.push_str(piece);
        } else {
            out.push_str(&convert_prose(piece));
        }
    }
    out
}

fn convert_prose(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some((replacement, len)) = inline_tag(rest) {
            out.push_str(&replacement);
            rest = &rest[len..];
            continue;
        }
        if let Some((replacement, len)) = html_tag(rest) {
            out.push_str(&replacement);
            rest = &rest[len..];
            continue;
        }
        if let Some(len) = markdown_link(rest) {
            out.push_str(&rest[..len]);
            rest = &rest[len..];
            continue;
        }
        if rest.starts_with("http://") || rest.starts_with("https://") {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == '`')
                .unwrap_or(rest.len());
            let url = rest[..end].trim_end_matches(['.', ',', ';', ':', ')', '\'', '"']);
            out.push('<');
            out.push_str(url);
            out.push('>');
            rest = &rest[url.len()..];
            continue;
        }
        match c {
            '[' => out.push_str("\\["),
            ']' => out.push_str("\\]"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// A Markdown link `[text](target)` or autolink `<http...>` at the start
/// of `s`, which the author meant as one: its length.
fn markdown_link(s: &str) -> Option<usize> {
    if s.starts_with("<http://") || s.starts_with("<https://") {
        let end = s.find('>')?;
        return (!s[..end].contains(char::is_whitespace)).then_some(end + 1);
    }
    let text = s.strip_prefix('[')?;
    let close = text.find(']')?;
    let target = text[close + 1..].strip_prefix('(')?;
    let end = target.find(')')?;
    if target[..end].contains(char::is_whitespace) {
        return None;
    }
    Some(1 + close + 2 + end + 1)
}

/// `{@link X}`, `{@linkplain X label}`, `{@code x}` and friends at the start
/// of `s`: the replacement and how many bytes it replaces.
fn inline_tag(s: &str) -> Option<(String, usize)> {
    let body = s.strip_prefix("{@")?;
    let end = body.find('}')?;
    let inner = &body[..end];
    let (tag, arg) = inner.split_once(char::is_whitespace).unwrap_or((inner, ""));
    let arg = arg.trim();
    let text = match tag {
        "link" | "linkplain" | "code" | "literal" | "value" => arg,
        _ => return None,
    };
    if text.is_empty() || text.contains('`') {
        return None;
    }
    // a link's label, if any, is what the reader sees
    let shown = match tag {
        "link" | "linkplain" => match text.split_once(char::is_whitespace) {
            Some((_, label)) => label.trim(),
            None => text,
        },
        _ => text,
    };
    Some((format!("`{shown}`"), 2 + end + 1))
}

/// An HTML tag at the start of `s`: inline tags stay, paragraph and list
/// tags become Markdown structure, anything else is not claimed (its `<`
/// is escaped by the caller).
fn html_tag(s: &str) -> Option<(String, usize)> {
    let body = s.strip_prefix('<')?;
    if !body.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/') {
        // `a < b`: a comparison, not a tag
        return None;
    }
    let end = body.find('>')?;
    let inner = body[..end].trim_end_matches('/').trim();
    let (closing, inner) = match inner.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (false, inner),
    };
    let name_len = inner
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(inner.len());
    if name_len == 0 || (name_len < inner.len() && !inner[name_len..].starts_with(' ')) {
        return None;
    }
    let name = inner[..name_len].to_ascii_lowercase();
    let len = 1 + end + 1;
    let replacement = match name.as_str() {
        "p" if closing => String::new(),
        "p" => "\n\n".into(),
        "ul" | "ol" | "li" | "dl" if closing => "\n".into(),
        "ul" | "ol" | "dl" => "\n".into(),
        "li" => "\n- ".into(),
        "dt" | "dd" if closing => String::new(),
        "dt" | "dd" => "\n".into(),
        n if INLINE_TAGS.contains(&n) => s[..len].to_string(),
        _ => return None,
    };
    Some((replacement, len))
}

#[cfg(test)]
mod tests {
    use super::to_markdown;

    #[test]
    fn brackets_and_generics_are_text_not_links_or_tags() {
        assert_eq!(
            to_markdown("@param[in] key uses Map<String, int> and a < b > c."),
            "@param\\[in\\] key uses Map&lt;String, int&gt; and a &lt; b &gt; c."
        );
    }

    #[test]
    fn javadoc_inline_tags_become_code() {
        assert_eq!(
            to_markdown("See {@link IFoo#bar} and {@code x < y}."),
            "See `IFoo#bar` and `x < y`."
        );
        assert_eq!(to_markdown("{@link Foo the foo}"), "`the foo`");
    }

    #[test]
    fn paragraphs_and_lists_become_markdown() {
        assert_eq!(to_markdown("One.<p>Two."), "One.\n\nTwo.");
        assert_eq!(
            to_markdown("Items:<ul><li>a</li><li>b</li></ul>"),
            "Items:\n\n- a\n\n- b\n"
        );
    }

    #[test]
    fn inline_html_and_code_stay_as_written() {
        assert_eq!(to_markdown("<b>x</b> `a[0] <T>`"), "<b>x</b> `a[0] <T>`");
        assert_eq!(to_markdown("```\na[0] <T>\n```"), "```\na[0] <T>\n```");
        assert_eq!(
            to_markdown("<pre>\n  v[i] = <x>;\n</pre>"),
            "```text\n  v[i] = <x>;\n```"
        );
    }

    #[test]
    fn bare_urls_become_links() {
        assert_eq!(
            to_markdown("@see https://example.com/x_y."),
            "@see <https://example.com/x_y>."
        );
    }

    #[test]
    fn markdown_the_author_wrote_stays() {
        let md = "A [link](https://example.com), <https://example.com/a>, *em* and x_y.";
        assert_eq!(to_markdown(md), md);
    }
}
