//! The lexer: turns AIDL text into [`Token`]s and [`RawComment`]s.
//!
//! It follows AOSP's flex scanner (`aidl_language_l.ll`): longest match wins,
//! and on a tie the earlier rule (integer before float before hex) wins.
//! Integer literals may contain `_` separators and end in `u8`, `u32`, `u64`,
//! `l` or `L` (whether the combination is valid is decided when the literal
//! is parsed, as AOSP does).

use crate::source::Span;
use crate::token::{CommentKind, RawComment, Token, TokenKind};

/// A problem the lexer found, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexError {
    /// The offending bytes.
    pub span: Span,
    /// What is wrong.
    pub message: String,
}

/// Everything the lexer produces for one file.
#[derive(Clone, Debug, Default)]
pub struct Lexed {
    /// The tokens, always ending with [`TokenKind::Eof`].
    pub tokens: Vec<Token>,
    /// All comments, in source order; tokens refer to them by index.
    pub comments: Vec<RawComment>,
    /// Lexical errors (the offending characters produce no token).
    pub errors: Vec<LexError>,
}

/// Splits `text` into tokens and comments.
pub fn lex(text: &str) -> Lexed {
    let mut lx = Lexer {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        out: Lexed::default(),
        pending_comments_start: 0,
    };
    // A UTF-8 byte order mark is ignored.
    if text.starts_with('\u{feff}') {
        lx.pos = '\u{feff}'.len_utf8();
    }
    lx.run();
    lx.out
}

struct Lexer<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    out: Lexed,
    pending_comments_start: u32,
}

fn is_ident_start(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphabetic()
}

fn is_ident_continue(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphanumeric()
}

impl<'a> Lexer<'a> {
    fn peek(&self, off: usize) -> u8 {
        self.bytes.get(self.pos + off).copied().unwrap_or(0)
    }

    fn push(&mut self, kind: TokenKind, start: usize, end: usize) {
        let comments_end = u32::try_from(self.out.comments.len()).unwrap_or(u32::MAX);
        self.out.tokens.push(Token {
            kind,
            span: Span::new(start, end),
            comments_start: self.pending_comments_start,
            comments_end,
        });
        self.pending_comments_start = comments_end;
    }

    fn error(&mut self, start: usize, end: usize, message: impl Into<String>) {
        self.out.errors.push(LexError {
            span: Span::new(start, end),
            message: message.into(),
        });
    }

    fn run(&mut self) {
        while self.pos < self.bytes.len() {
            let start = self.pos;
            let b = self.bytes[self.pos];
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => {
                    self.pos += 1;
                }
                b'/' if self.peek(1) == b'*' => self.block_comment(),
                b'/' if self.peek(1) == b'/' => {
                    let end = self.bytes[self.pos..]
                        .iter()
                        .position(|&c| c == b'\n')
                        .map(|p| self.pos + p)
                        .unwrap_or(self.bytes.len());
                    self.out.comments.push(RawComment {
                        kind: CommentKind::Line,
                        span: Span::new(start, end),
                    });
                    self.pos = end;
                }
                b'"' => self.string(),
                b'\'' => self.char_lit(),
                b'@' => {
                    if is_ident_start(self.peek(1)) {
                        self.pos += 1;
                        while is_ident_continue(self.peek(0)) {
                            self.pos += 1;
                        }
                        self.push(TokenKind::Annotation, start, self.pos);
                    } else {
                        self.pos += 1;
                        self.error(start, self.pos, "expected an annotation name after `@`");
                    }
                }
                b if is_ident_start(b) => {
                    while is_ident_continue(self.peek(0)) {
                        self.pos += 1;
                    }
                    let word = &self.text[start..self.pos];
                    let kind = TokenKind::keyword(word).unwrap_or(TokenKind::Ident);
                    self.push(kind, start, self.pos);
                }
                b'0'..=b'9' | b'.' => self.number_or_dot(),
                _ => self.punct(),
            }
        }
        let end = self.bytes.len();
        self.push(TokenKind::Eof, end, end);
    }

    fn block_comment(&mut self) {
        let start = self.pos;
        let body = &self.bytes[start + 2..];
        match body.windows(2).position(|w| w == b"*/") {
            Some(p) => {
                let end = start + 2 + p + 2;
                self.out.comments.push(RawComment {
                    kind: CommentKind::Block,
                    span: Span::new(start, end),
                });
                self.pos = end;
            }
            None => {
                self.error(start, start + 2, "unterminated block comment");
                self.pos = self.bytes.len();
            }
        }
    }

    fn string(&mut self) {
        let start = self.pos;
        let mut i = start + 1;
        while i < self.bytes.len() {
            match self.bytes[i] {
                b'"' => {
                    self.pos = i + 1;
                    self.push(TokenKind::StrLit, start, self.pos);
                    return;
                }
                b'\\' => {
                    // `\\.` in flex: the escaped character is any but newline
                    if self.bytes.get(i + 1).is_some_and(|&c| c != b'\n') {
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
                _ => i += 1,
            }
        }
        // flex's `[^"]` also matches a backslash: without a later closing
        // quote, the first quote after the opening one ends the literal
        if let Some(p) = self.bytes[start + 1..].iter().position(|&c| c == b'"') {
            self.pos = start + 1 + p + 1;
            self.push(TokenKind::StrLit, start, self.pos);
            return;
        }
        self.pos = start + 1;
        self.error(start, start + 1, "unterminated string literal");
    }

    fn char_lit(&mut self) {
        let start = self.pos;
        // `'.'`: one character other than a newline, between quotes
        let rest = &self.text[start + 1..];
        if let Some(c) = rest.chars().next() {
            if c != '\n' {
                let after = start + 1 + c.len_utf8();
                if self.bytes.get(after) == Some(&b'\'') {
                    self.pos = after + 1;
                    self.push(TokenKind::CharLit, start, self.pos);
                    return;
                }
            }
        }
        self.pos = start + 1;
        self.error(
            start,
            start + 1,
            "invalid character literal: a char literal is one character between single quotes",
        );
    }

    /// Length of `[0-9_]+(u8|u32|u64|[lL])*` at `at` (0 when it does not match).
    fn int_len(&self, at: usize) -> usize {
        let b = &self.bytes[at..];
        let mut n = 0;
        while n < b.len() && (b[n].is_ascii_digit() || b[n] == b'_') {
            n += 1;
        }
        if n == 0 || !b[0].is_ascii_digit() {
            return 0;
        }
        n + self.suffix_len(at + n)
    }

    fn suffix_len(&self, at: usize) -> usize {
        let b = &self.bytes[at.min(self.bytes.len())..];
        let mut n = 0;
        loop {
            let rest = &b[n..];
            if rest.starts_with(b"u8") {
                n += 2;
            } else if rest.starts_with(b"u32") || rest.starts_with(b"u64") {
                n += 3;
            } else if rest.first().is_some_and(|&c| c == b'l' || c == b'L') {
                n += 1;
            } else {
                return n;
            }
        }
    }

    /// Length of `0[xX][0-9a-fA-F_]+(u8|u32|u64|[lL])*` at `at`.
    fn hex_len(&self, at: usize) -> usize {
        let b = &self.bytes[at..];
        if b.len() < 3 || b[0] != b'0' || !(b[1] == b'x' || b[1] == b'X') {
            return 0;
        }
        let mut n = 2;
        while n < b.len() && (b[n].is_ascii_hexdigit() || b[n] == b'_') {
            n += 1;
        }
        if n == 2 {
            return 0;
        }
        n + self.suffix_len(at + n)
    }

    /// Length of `[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?f?` at `at`.
    fn float_len(&self, at: usize) -> usize {
        let b = &self.bytes[at..];
        let digits = |from: usize| -> usize {
            let mut n = from;
            while n < b.len() && b[n].is_ascii_digit() {
                n += 1;
            }
            n - from
        };
        // [0-9]*\.?[0-9]+ : the mantissa must end in a digit
        let lead = digits(0);
        let mut n;
        if b.get(lead) == Some(&b'.') {
            let frac = digits(lead + 1);
            if frac > 0 {
                n = lead + 1 + frac;
            } else if lead > 0 {
                n = lead;
            } else {
                return 0;
            }
        } else if lead > 0 {
            n = lead;
        } else {
            return 0;
        }
        if matches!(b.get(n), Some(b'e') | Some(b'E')) {
            let mut m = n + 1;
            if matches!(b.get(m), Some(b'+') | Some(b'-')) {
                m += 1;
            }
            let exp = digits(m);
            if exp > 0 {
                n = m + exp;
            }
        }
        if b.get(n) == Some(&b'f') {
            n += 1;
        }
        n
    }

    fn number_or_dot(&mut self) {
        let start = self.pos;
        let int = self.int_len(start);
        let float = self.float_len(start);
        let hex = self.hex_len(start);
        // longest match; ties go to the rule listed first (int, float, hex)
        let (kind, len) = [
            (TokenKind::IntLit, int),
            (TokenKind::FloatLit, float),
            (TokenKind::HexLit, hex),
        ]
        .into_iter()
        .fold((TokenKind::Dot, 0), |best, cand| {
            if cand.1 > best.1 {
                cand
            } else {
                best
            }
        });
        if len == 0 {
            // a lone '.'
            self.pos += 1;
            self.push(TokenKind::Dot, start, self.pos);
        } else {
            self.pos += len;
            self.push(kind, start, self.pos);
        }
    }

    fn punct(&mut self) {
        let start = self.pos;
        let b = self.bytes[start];
        let next = self.peek(1);
        let (kind, len) = match (b, next) {
            (b'<', b'<') => (TokenKind::Shl, 2),
            (b'>', b'>') => (TokenKind::Shr, 2),
            (b'<', b'=') => (TokenKind::Le, 2),
            (b'>', b'=') => (TokenKind::Ge, 2),
            (b'=', b'=') => (TokenKind::EqEq, 2),
            (b'!', b'=') => (TokenKind::Ne, 2),
            (b'&', b'&') => (TokenKind::AndAnd, 2),
            (b'|', b'|') => (TokenKind::OrOr, 2),
            (b'(', _) => (TokenKind::LParen, 1),
            (b')', _) => (TokenKind::RParen, 1),
            (b'{', _) => (TokenKind::LBrace, 1),
            (b'}', _) => (TokenKind::RBrace, 1),
            (b'[', _) => (TokenKind::LBracket, 1),
            (b']', _) => (TokenKind::RBracket, 1),
            (b'<', _) => (TokenKind::Lt, 1),
            (b'>', _) => (TokenKind::Gt, 1),
            (b';', _) => (TokenKind::Semi, 1),
            (b',', _) => (TokenKind::Comma, 1),
            (b'=', _) => (TokenKind::Eq, 1),
            (b':', _) => (TokenKind::Colon, 1),
            (b'+', _) => (TokenKind::Plus, 1),
            (b'-', _) => (TokenKind::Minus, 1),
            (b'*', _) => (TokenKind::Star, 1),
            (b'/', _) => (TokenKind::Slash, 1),
            (b'%', _) => (TokenKind::Percent, 1),
            (b'&', _) => (TokenKind::Amp, 1),
            (b'|', _) => (TokenKind::Pipe, 1),
            (b'^', _) => (TokenKind::Caret, 1),
            (b'!', _) => (TokenKind::Bang, 1),
            (b'~', _) => (TokenKind::Tilde, 1),
            (b'?', _) => (TokenKind::Question, 1),
            _ => {
                let c = self.text[start..].chars().next().unwrap_or('\u{fffd}');
                self.pos += c.len_utf8().max(1);
                let shown = if c.is_control() {
                    format!("{:?}", c)
                } else {
                    format!("`{c}`")
                };
                self.error(start, self.pos, format!("unrecognized character {shown}"));
                return;
            }
        };
        self.pos += len;
        self.push(kind, start, self.pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(TokenKind, String)> {
        let l = lex(text);
        l.tokens
            .iter()
            .map(|t| (t.kind, text[t.span.range()].to_string()))
            .collect()
    }

    #[test]
    fn numbers_follow_longest_match() {
        use TokenKind::*;
        let k = kinds("1 1L 1u8 0x1F 0xffu8 1.5 .5 1e3 5f 1_000 1. 0x");
        let got: Vec<_> = k.iter().map(|(k, s)| (*k, s.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (IntLit, "1"),
                (IntLit, "1L"),
                (IntLit, "1u8"),
                (HexLit, "0x1F"),
                (HexLit, "0xffu8"),
                (FloatLit, "1.5"),
                (FloatLit, ".5"),
                (FloatLit, "1e3"),
                (FloatLit, "5f"),
                (IntLit, "1_000"),
                (IntLit, "1"),
                (Dot, "."),
                (IntLit, "0"),
                (Ident, "x"),
                (Eof, ""),
            ]
        );
    }

    #[test]
    fn comments_attach_to_next_token() {
        let l = lex("/** doc */ // line\ninterface X");
        assert_eq!(l.comments.len(), 2);
        assert_eq!(l.tokens[0].comments_start, 0);
        assert_eq!(l.tokens[0].comments_end, 2);
        assert_eq!(l.tokens[1].comments_start, 2);
        assert_eq!(l.tokens[1].comments_end, 2);
    }

    #[test]
    fn shifts_and_generics() {
        use TokenKind::*;
        let got: Vec<_> = kinds("List<List<String>> a<<b")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            got,
            vec![Ident, Lt, Ident, Lt, Ident, Shr, Ident, Shl, Ident, Eof]
        );
    }

    #[test]
    fn errors_do_not_stop_lexing() {
        let l = lex("a # \"open\n 'xy' /* never");
        assert!(l.errors.len() >= 3, "{:?}", l.errors);
        assert_eq!(l.tokens.last().map(|t| t.kind), Some(TokenKind::Eof));
    }
}
