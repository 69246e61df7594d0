//! Tokens and comments produced by the [lexer](crate::lexer).

use std::fmt;

use crate::source::Span;

/// The kind of a token. Keywords follow AOSP's `aidl_language_l.ll`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// An identifier such as `IFoo` or `int` (type names are identifiers).
    Ident,
    /// `@name` (the span covers the `@`).
    Annotation,
    /// A decimal integer literal, with optional `_` separators and suffixes.
    IntLit,
    /// A hexadecimal integer literal (`0x...`).
    HexLit,
    /// A floating-point literal (`1.5`, `2e3`, `1.0f`).
    FloatLit,
    /// A character literal `'c'`.
    CharLit,
    /// A string literal `"..."`.
    StrLit,
    /// `package`
    Package,
    /// `import`
    Import,
    /// `parcelable`
    Parcelable,
    /// `interface`
    Interface,
    /// `oneway`
    Oneway,
    /// `enum`
    Enum,
    /// `union`
    Union,
    /// `const`
    Const,
    /// `in`
    In,
    /// `out`
    Out,
    /// `inout`
    Inout,
    /// `true`
    True,
    /// `false`
    False,
    /// `cpp_header` (also usable as an identifier)
    CppHeader,
    /// `ndk_header` (also usable as an identifier)
    NdkHeader,
    /// `rust_type` (also usable as an identifier)
    RustType,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `;`
    Semi,
    /// `,`
    Comma,
    /// `.`
    Dot,
    /// `=`
    Eq,
    /// `:`
    Colon,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Star,
    /// `/`
    Slash,
    /// `%`
    Percent,
    /// `&`
    Amp,
    /// `|`
    Pipe,
    /// `^`
    Caret,
    /// `<<`
    Shl,
    /// `>>`
    Shr,
    /// `&&`
    AndAnd,
    /// `||`
    OrOr,
    /// `!`
    Bang,
    /// `~`
    Tilde,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `==`
    EqEq,
    /// `!=`
    Ne,
    /// `?` (not part of AIDL; lexed to give a precise error)
    Question,
    /// End of input.
    Eof,
}

impl TokenKind {
    /// The keyword for an identifier-shaped word, if it is one.
    pub fn keyword(word: &str) -> Option<TokenKind> {
        Some(match word {
            "package" => TokenKind::Package,
            "import" => TokenKind::Import,
            "parcelable" => TokenKind::Parcelable,
            "interface" => TokenKind::Interface,
            "oneway" => TokenKind::Oneway,
            "enum" => TokenKind::Enum,
            "union" => TokenKind::Union,
            "const" => TokenKind::Const,
            "in" => TokenKind::In,
            "out" => TokenKind::Out,
            "inout" => TokenKind::Inout,
            "true" => TokenKind::True,
            "false" => TokenKind::False,
            "cpp_header" => TokenKind::CppHeader,
            "ndk_header" => TokenKind::NdkHeader,
            "rust_type" => TokenKind::RustType,
            _ => return None,
        })
    }

    /// Whether the token can stand where an identifier is expected
    /// (`cpp_header`, `ndk_header` and `rust_type` can, as in AOSP).
    pub fn is_identifier(self) -> bool {
        matches!(
            self,
            TokenKind::Ident | TokenKind::CppHeader | TokenKind::NdkHeader | TokenKind::RustType
        )
    }

    /// How the token is shown in "expected ..., found ..." messages.
    pub fn describe(self) -> &'static str {
        match self {
            TokenKind::Ident => "identifier",
            TokenKind::Annotation => "annotation",
            TokenKind::IntLit => "integer literal",
            TokenKind::HexLit => "hex literal",
            TokenKind::FloatLit => "float literal",
            TokenKind::CharLit => "char literal",
            TokenKind::StrLit => "string literal",
            TokenKind::Package => "`package`",
            TokenKind::Import => "`import`",
            TokenKind::Parcelable => "`parcelable`",
            TokenKind::Interface => "`interface`",
            TokenKind::Oneway => "`oneway`",
            TokenKind::Enum => "`enum`",
            TokenKind::Union => "`union`",
            TokenKind::Const => "`const`",
            TokenKind::In => "`in`",
            TokenKind::Out => "`out`",
            TokenKind::Inout => "`inout`",
            TokenKind::True => "`true`",
            TokenKind::False => "`false`",
            TokenKind::CppHeader => "`cpp_header`",
            TokenKind::NdkHeader => "`ndk_header`",
            TokenKind::RustType => "`rust_type`",
            TokenKind::LParen => "`(`",
            TokenKind::RParen => "`)`",
            TokenKind::LBrace => "`{`",
            TokenKind::RBrace => "`}`",
            TokenKind::LBracket => "`[`",
            TokenKind::RBracket => "`]`",
            TokenKind::Lt => "`<`",
            TokenKind::Gt => "`>`",
            TokenKind::Semi => "`;`",
            TokenKind::Comma => "`,`",
            TokenKind::Dot => "`.`",
            TokenKind::Eq => "`=`",
            TokenKind::Colon => "`:`",
            TokenKind::Plus => "`+`",
            TokenKind::Minus => "`-`",
            TokenKind::Star => "`*`",
            TokenKind::Slash => "`/`",
            TokenKind::Percent => "`%`",
            TokenKind::Amp => "`&`",
            TokenKind::Pipe => "`|`",
            TokenKind::Caret => "`^`",
            TokenKind::Shl => "`<<`",
            TokenKind::Shr => "`>>`",
            TokenKind::AndAnd => "`&&`",
            TokenKind::OrOr => "`||`",
            TokenKind::Bang => "`!`",
            TokenKind::Tilde => "`~`",
            TokenKind::Le => "`<=`",
            TokenKind::Ge => "`>=`",
            TokenKind::EqEq => "`==`",
            TokenKind::Ne => "`!=`",
            TokenKind::Question => "`?`",
            TokenKind::Eof => "end of file",
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// One token: its kind, its bytes, and the comments that precede it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// Where it is.
    pub span: Span,
    /// Index of the first comment between the previous token and this one.
    pub comments_start: u32,
    /// Index one past the last such comment.
    pub comments_end: u32,
}

/// Line (`// ...`) or block (`/* ... */`) comment.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum CommentKind {
    /// `// ...` up to the end of the line.
    Line,
    /// `/* ... */`, including doc comments `/** ... */`.
    Block,
}

/// A comment in the source, kept so that it can be attached to the item it precedes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RawComment {
    /// Line or block.
    pub kind: CommentKind,
    /// Where (including the comment markers).
    pub span: Span,
}
