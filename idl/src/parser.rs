//! A recursive-descent parser for AIDL, following AOSP's grammar
//! (`aidl_language_y.yy`), with error recovery so that one run reports
//! several syntax errors.

use crate::ast::*;
use crate::constant::{is_valid_literal_char, parse_integral};
use crate::diagnostic::Diagnostic;
use crate::lexer::lex;
use crate::source::{FileId, Location, Span};
use crate::token::{RawComment, Token, TokenKind};

/// How deep expressions, types and nested declarations may nest before the
/// parser gives up (keeps hostile input from exhausting the stack).
const MAX_DEPTH: u32 = 128;

/// Parses one file. Always returns a document (possibly partial) and the
/// lexical and syntax errors found.
pub fn parse(file: FileId, text: &str) -> (Document, Vec<Diagnostic>) {
    parse_file(file, text, false)
}

/// Parses a preprocessed file (such as `framework.aidl`): declarations use
/// fully qualified names and there is no `package` line.
pub fn parse_preprocessed(file: FileId, text: &str) -> (Document, Vec<Diagnostic>) {
    parse_file(file, text, true)
}

fn parse_file(file: FileId, text: &str, preprocessed: bool) -> (Document, Vec<Diagnostic>) {
    let lexed = lex(text);
    let mut diags: Vec<Diagnostic> = lexed
        .errors
        .iter()
        .map(|e| Diagnostic::error(e.message.clone()).with_label(Location::new(file, e.span), ""))
        .collect();
    let mut p = Parser {
        text,
        file,
        tokens: lexed.tokens,
        comments: lexed.comments,
        pos: 0,
        diags: Vec::new(),
        preprocessed,
        depth: 0,
    };
    let doc = p.document();
    diags.append(&mut p.diags);
    (doc, diags)
}

/// Marker for "an error was reported; recover".
struct Fail;

type PResult<T> = Result<T, Fail>;

/// Which body a member list belongs to.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Body {
    Interface,
    Parcelable,
    Union,
}

struct Parser<'a> {
    text: &'a str,
    file: FileId,
    tokens: Vec<Token>,
    comments: Vec<RawComment>,
    pos: usize,
    diags: Vec<Diagnostic>,
    preprocessed: bool,
    depth: u32,
}

fn binary_op(kind: TokenKind) -> Option<BinaryOp> {
    Some(match kind {
        TokenKind::OrOr => BinaryOp::LogicalOr,
        TokenKind::AndAnd => BinaryOp::LogicalAnd,
        TokenKind::Pipe => BinaryOp::BitOr,
        TokenKind::Caret => BinaryOp::BitXor,
        TokenKind::Amp => BinaryOp::BitAnd,
        TokenKind::EqEq => BinaryOp::Eq,
        TokenKind::Ne => BinaryOp::Ne,
        TokenKind::Lt => BinaryOp::Lt,
        TokenKind::Gt => BinaryOp::Gt,
        TokenKind::Le => BinaryOp::Le,
        TokenKind::Ge => BinaryOp::Ge,
        TokenKind::Shl => BinaryOp::Shl,
        TokenKind::Shr => BinaryOp::Shr,
        TokenKind::Plus => BinaryOp::Add,
        TokenKind::Minus => BinaryOp::Sub,
        TokenKind::Star => BinaryOp::Mul,
        TokenKind::Slash => BinaryOp::Div,
        TokenKind::Percent => BinaryOp::Rem,
        _ => return None,
    })
}

fn is_decl_keyword(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Parcelable | TokenKind::Interface | TokenKind::Enum | TokenKind::Union
    )
}

impl<'a> Parser<'a> {
    // ----- token access -------------------------------------------------

    fn tok(&self) -> Token {
        self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn peek(&self) -> TokenKind {
        self.tok().kind
    }

    fn peek_at(&self, n: usize) -> TokenKind {
        let i = (self.pos + n).min(self.tokens.len() - 1);
        self.tokens[i].kind
    }

    fn at(&self, kind: TokenKind) -> bool {
        self.peek() == kind
    }

    fn bump(&mut self) -> Token {
        let t = self.tok();
        if t.kind != TokenKind::Eof {
            self.pos += 1;
        }
        t
    }

    fn eat(&mut self, kind: TokenKind) -> Option<Token> {
        if self.at(kind) {
            Some(self.bump())
        } else {
            None
        }
    }

    fn prev_span(&self) -> Span {
        if self.pos == 0 {
            self.tok().span
        } else {
            self.tokens[self.pos - 1].span
        }
    }

    fn text_of(&self, span: Span) -> &'a str {
        self.text.get(span.range()).unwrap_or("")
    }

    fn loc(&self, span: Span) -> Location {
        Location::new(self.file, span)
    }

    fn describe_found(&self, t: Token) -> String {
        match t.kind {
            TokenKind::Eof => "end of file".to_string(),
            TokenKind::Ident
            | TokenKind::Annotation
            | TokenKind::IntLit
            | TokenKind::HexLit
            | TokenKind::FloatLit
            | TokenKind::CharLit => {
                let text = self.text_of(t.span);
                format!("{} `{}`", t.kind.describe(), text)
            }
            TokenKind::StrLit => "string literal".to_string(),
            k if k.is_identifier() || TokenKind::keyword(self.text_of(t.span)).is_some() => {
                format!("keyword `{}`", self.text_of(t.span))
            }
            k => k.describe().to_string(),
        }
    }

    /// Where to point at the current token: for the end of the file, right
    /// after the last token (as rustc does).
    fn here(&self) -> Span {
        let t = self.tok();
        if t.kind == TokenKind::Eof && self.pos > 0 {
            let p = self.prev_span();
            Span::new(p.end as usize, p.end as usize)
        } else {
            t.span
        }
    }

    fn error_expected(&mut self, expected: &str) -> Fail {
        let t = self.tok();
        let found = self.describe_found(t);
        self.diags.push(
            Diagnostic::error(format!("expected {expected}, found {found}"))
                .with_label(self.loc(self.here()), format!("expected {expected}")),
        );
        Fail
    }

    fn error_at(&mut self, span: Span, message: impl Into<String>, label: impl Into<String>) {
        let d = Diagnostic::error(message).with_label(self.loc(span), label);
        self.diags.push(d);
    }

    fn expect(&mut self, kind: TokenKind) -> PResult<Token> {
        match self.eat(kind) {
            Some(t) => Ok(t),
            None => Err(self.error_expected(kind.describe())),
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let span = self.tok().span;
            self.error_at(span, "nesting is too deep", "the parser gives up here");
            // unwind everything: skip to the end
            self.pos = self.tokens.len() - 1;
            self.depth -= 1;
            return Err(Fail);
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// The comments attached to tokens `from..=to`.
    fn comments_between(&self, from: usize, to: usize) -> Comments {
        let last = self.tokens.len() - 1;
        let (from, to) = (from.min(last), to.min(last));
        let start = self.tokens[from].comments_start as usize;
        let end = self.tokens[to.max(from)].comments_end as usize;
        Comments(
            self.comments
                .get(start..end.max(start))
                .unwrap_or(&[])
                .iter()
                .map(|c| Comment {
                    kind: c.kind,
                    text: self.text_of(c.span).to_string(),
                    span: c.span,
                })
                .collect(),
        )
    }

    // ----- recovery -----------------------------------------------------

    /// Skips the rest of a broken member: up to and including `;`, or up to
    /// (not including) the `}` that closes the enclosing body.
    fn recover_member(&mut self) {
        let mut depth = 0u32;
        loop {
            match self.peek() {
                TokenKind::Eof => return,
                TokenKind::Semi if depth == 0 => {
                    self.bump();
                    return;
                }
                TokenKind::LBrace => depth += 1,
                TokenKind::RBrace => {
                    if depth == 0 {
                        return;
                    }
                    depth -= 1;
                    if depth == 0 {
                        self.bump();
                        // a nested body just closed: the member ends here
                        return;
                    }
                }
                _ => {}
            }
            self.bump();
        }
    }

    /// Skips to the next top-level declaration.
    fn recover_top(&mut self, start: usize) {
        let mut depth = 0u32;
        loop {
            let k = self.peek();
            if k == TokenKind::Eof {
                return;
            }
            if depth == 0
                && self.pos > start
                && (is_decl_keyword(k)
                    || k == TokenKind::Oneway
                    || k == TokenKind::Annotation
                    || k == TokenKind::Import)
            {
                return;
            }
            match k {
                TokenKind::LBrace => depth += 1,
                TokenKind::RBrace => {
                    if depth <= 1 {
                        self.bump();
                        return;
                    }
                    depth -= 1;
                }
                _ => {}
            }
            self.bump();
        }
    }

    // ----- document -----------------------------------------------------

    fn document(&mut self) -> Document {
        let comments = if matches!(self.peek(), TokenKind::Package | TokenKind::Import) {
            self.comments_between(self.pos, self.pos)
        } else {
            Comments::default()
        };
        let mut package = None;
        if let Some(kw) = self.eat(TokenKind::Package) {
            match self.qualified_name() {
                Ok(name) => {
                    if self.preprocessed {
                        self.error_at(
                            kw.span.to(name.span),
                            "a preprocessed file can't declare a package",
                            "",
                        );
                    }
                    package = Some(name);
                    if self.expect(TokenKind::Semi).is_err() {
                        self.recover_member();
                    }
                }
                Err(Fail) => self.recover_member(),
            }
        }
        let mut imports = Vec::new();
        let mut decls = Vec::new();
        loop {
            match self.peek() {
                TokenKind::Eof => break,
                TokenKind::Import => {
                    let is_late = !decls.is_empty();
                    let start = self.pos;
                    match self.import() {
                        Ok(i) => {
                            if is_late {
                                self.error_at(
                                    i.span,
                                    "imports must come before the declarations",
                                    "move this line up",
                                );
                            }
                            imports.push(i);
                        }
                        Err(Fail) => {
                            if self.pos == start {
                                self.bump();
                            }
                            self.recover_member();
                        }
                    }
                }
                TokenKind::Package => {
                    let span = self.tok().span;
                    self.error_at(
                        span,
                        "the `package` line must come first and only once",
                        "unexpected `package`",
                    );
                    self.bump();
                    self.recover_member();
                }
                _ => {
                    let start = self.pos;
                    match self.decl() {
                        Ok(d) => decls.push(d),
                        Err(Fail) => self.recover_top(start),
                    }
                }
            }
        }
        if decls.is_empty() && self.diags.is_empty() {
            self.error_expected("a declaration (`parcelable`, `interface`, `enum` or `union`)");
        }
        Document {
            file: self.file,
            comments,
            package,
            imports,
            decls,
        }
    }

    fn import(&mut self) -> PResult<Import> {
        let start = self.pos;
        let kw = self.expect(TokenKind::Import)?;
        let name = self.qualified_name()?;
        self.expect(TokenKind::Semi)?;
        Ok(Import {
            name,
            comments: self.comments_between(start, start),
            span: kw.span.to(self.prev_span()),
        })
    }

    // ----- names --------------------------------------------------------

    fn ident(&mut self) -> PResult<Ident> {
        let t = self.tok();
        if t.kind.is_identifier() {
            self.bump();
            Ok(Ident {
                name: self.text_of(t.span).to_string(),
                span: t.span,
            })
        } else {
            Err(self.error_expected("identifier"))
        }
    }

    fn qualified_name(&mut self) -> PResult<QualifiedName> {
        let first = self.ident()?;
        let mut span = first.span;
        let mut parts = vec![first];
        while self.at(TokenKind::Dot) {
            self.bump();
            let p = self.ident()?;
            span = span.to(p.span);
            parts.push(p);
        }
        Ok(QualifiedName { parts, span })
    }

    // ----- annotations --------------------------------------------------

    fn annotations(&mut self) -> PResult<Vec<Annotation>> {
        let mut out = Vec::new();
        while self.at(TokenKind::Annotation) {
            out.push(self.annotation()?);
        }
        Ok(out)
    }

    fn annotation(&mut self) -> PResult<Annotation> {
        let t = self.bump();
        let full = self.text_of(t.span);
        let name = Ident {
            name: full.get(1..).unwrap_or("").to_string(),
            span: Span::new(t.span.start as usize + 1, t.span.end as usize),
        };
        let mut params = None;
        if self.eat(TokenKind::LParen).is_some() {
            if self.eat(TokenKind::RParen).is_some() {
                params = Some(AnnotationParams::Named(Vec::new()));
            } else if self.peek().is_identifier() && self.peek_at(1) == TokenKind::Eq {
                let mut list: Vec<(Ident, Expr)> = Vec::new();
                loop {
                    let pname = self.ident()?;
                    self.expect(TokenKind::Eq)?;
                    let value = self.expr()?;
                    if list.iter().any(|(n, _)| n.name == pname.name) {
                        self.error_at(
                            pname.span,
                            format!("parameter `{}` is given more than once", pname.name),
                            "redefined here",
                        );
                    } else {
                        list.push((pname, value));
                    }
                    if self.eat(TokenKind::Comma).is_none() {
                        break;
                    }
                }
                self.expect(TokenKind::RParen)?;
                params = Some(AnnotationParams::Named(list));
            } else {
                let value = self.expr()?;
                self.expect(TokenKind::RParen)?;
                params = Some(AnnotationParams::Single(value));
            }
        }
        Ok(Annotation {
            name,
            params,
            span: t.span.to(self.prev_span()),
        })
    }

    // ----- declarations -------------------------------------------------

    fn decl(&mut self) -> PResult<Decl> {
        let start = self.pos;
        let annotations = self.annotations()?;
        self.decl_after_annotations(start, annotations)
    }

    fn check_simple_type_name(&mut self, name: &QualifiedName) {
        if !self.preprocessed && !name.is_simple() {
            self.error_at(
                name.span,
                "type name can't be qualified; use `package`",
                "qualified name",
            );
        }
    }

    fn decl_after_annotations(
        &mut self,
        start: usize,
        annotations: Vec<Annotation>,
    ) -> PResult<Decl> {
        self.enter()?;
        let r = self.decl_inner(start, annotations);
        self.leave();
        r
    }

    fn decl_inner(&mut self, start: usize, annotations: Vec<Annotation>) -> PResult<Decl> {
        let keyword_pos = self.pos;
        let (name, kind) = match self.peek() {
            TokenKind::Parcelable => {
                self.bump();
                let name = self.qualified_name()?;
                let type_params = self.type_params()?;
                if self.at(TokenKind::LBrace) {
                    self.check_simple_type_name(&name);
                    let members = self.body(Body::Parcelable)?;
                    (
                        name,
                        DeclKind::Parcelable(ParcelableDecl {
                            type_params,
                            members,
                        }),
                    )
                } else {
                    let mut u = UnstructuredParcelableDecl {
                        type_params,
                        cpp_header: None,
                        ndk_header: None,
                        rust_type: None,
                    };
                    loop {
                        let which = self.peek();
                        if !matches!(
                            which,
                            TokenKind::CppHeader | TokenKind::NdkHeader | TokenKind::RustType
                        ) {
                            break;
                        }
                        self.bump();
                        let s = self.expect_str()?;
                        match which {
                            TokenKind::CppHeader => u.cpp_header = Some(s),
                            TokenKind::NdkHeader => u.ndk_header = Some(s),
                            _ => u.rust_type = Some(s),
                        }
                    }
                    if !self.at(TokenKind::Semi) {
                        return Err(self.error_expected(
                            "`{`, `;`, `cpp_header`, `ndk_header` or `rust_type`",
                        ));
                    }
                    self.bump();
                    (name, DeclKind::UnstructuredParcelable(u))
                }
            }
            TokenKind::Interface | TokenKind::Oneway => {
                let oneway = self.eat(TokenKind::Oneway).map(|t| t.span);
                self.expect(TokenKind::Interface)?;
                let name = self.qualified_name()?;
                self.check_simple_type_name(&name);
                let members = if oneway.is_none() && self.eat(TokenKind::Semi).is_some() {
                    None
                } else {
                    Some(self.body(Body::Interface)?)
                };
                (name, DeclKind::Interface(InterfaceDecl { oneway, members }))
            }
            TokenKind::Enum => {
                self.bump();
                let name = self.qualified_name()?;
                self.check_simple_type_name(&name);
                let enumerators = self.enum_body()?;
                (name, DeclKind::Enum(EnumDecl { enumerators }))
            }
            TokenKind::Union => {
                self.bump();
                let name = self.qualified_name()?;
                self.check_simple_type_name(&name);
                let type_params = self.type_params()?;
                let members = self.body(Body::Union)?;
                (
                    name,
                    DeclKind::Union(ParcelableDecl {
                        type_params,
                        members,
                    }),
                )
            }
            _ => return Err(self.error_expected("`parcelable`, `interface`, `enum` or `union`")),
        };
        Ok(Decl {
            annotations,
            comments: self.comments_between(start, keyword_pos),
            name,
            kind,
            span: self.tokens[start].span.to(self.prev_span()),
        })
    }

    fn expect_str(&mut self) -> PResult<StrLit> {
        let t = self.tok();
        if t.kind != TokenKind::StrLit {
            return Err(self.error_expected("string literal"));
        }
        self.bump();
        let raw = self.text_of(t.span);
        let value = raw
            .get(1..raw.len().saturating_sub(1))
            .unwrap_or("")
            .to_string();
        Ok(StrLit {
            value,
            span: t.span,
        })
    }

    fn type_params(&mut self) -> PResult<Vec<TypeParam>> {
        let mut out = Vec::new();
        if self.eat(TokenKind::Lt).is_none() {
            return Ok(out);
        }
        loop {
            let annotations = self.annotations()?;
            let name = self.ident()?;
            out.push(TypeParam { annotations, name });
            if self.eat(TokenKind::Comma).is_none() {
                break;
            }
        }
        self.close_angle()?;
        Ok(out)
    }

    fn body(&mut self, body: Body) -> PResult<Vec<Member>> {
        let open = self.expect(TokenKind::LBrace)?;
        let mut members = Vec::new();
        while !self.at(TokenKind::RBrace) && !self.at(TokenKind::Eof) {
            let before = self.pos;
            match self.member(body) {
                Ok(Some(m)) => members.push(m),
                Ok(None) => {}
                Err(Fail) => {
                    if self.depth >= MAX_DEPTH || self.at(TokenKind::Eof) {
                        break;
                    }
                    if self.pos == before && !self.at(TokenKind::RBrace) {
                        self.bump();
                    }
                    self.recover_member();
                }
            }
        }
        if self.eat(TokenKind::RBrace).is_none() {
            let t = self.tok();
            let found = self.describe_found(t);
            self.diags.push(
                Diagnostic::error(format!("expected `}}`, found {found}"))
                    .with_label(self.loc(self.here()), "expected `}`")
                    .with_secondary(self.loc(open.span), "unclosed brace"),
            );
            return Err(Fail);
        }
        Ok(members)
    }

    fn member(&mut self, body: Body) -> PResult<Option<Member>> {
        let start = self.pos;
        let annotations = self.annotations()?;
        match self.peek() {
            TokenKind::Const => self
                .const_decl(start, annotations)
                .map(|c| Some(Member::Const(c))),
            k if is_decl_keyword(k) => self
                .decl_after_annotations(start, annotations)
                .map(|d| Some(Member::Decl(Box::new(d)))),
            TokenKind::Oneway if self.peek_at(1) == TokenKind::Interface => self
                .decl_after_annotations(start, annotations)
                .map(|d| Some(Member::Decl(Box::new(d)))),
            TokenKind::Oneway => {
                let oneway = self.bump().span;
                let ty = self.type_spec(annotations)?;
                let name = self.ident()?;
                let m = self.method_rest(start, Some(oneway), ty, name)?;
                Ok(self.check_member_place(body, Member::Method(m)))
            }
            TokenKind::Semi => {
                let span = self.bump().span;
                self.error_at(span, "unexpected `;`", "remove this semicolon");
                Ok(None)
            }
            _ => {
                let ty = self.type_spec(annotations)?;
                let name = self.ident()?;
                if self.at(TokenKind::LParen) {
                    let m = self.method_rest(start, None, ty, name)?;
                    Ok(self.check_member_place(body, Member::Method(m)))
                } else if self.at(TokenKind::Eq) || self.at(TokenKind::Semi) {
                    let default = if self.eat(TokenKind::Eq).is_some() {
                        Some(self.expr()?)
                    } else {
                        None
                    };
                    self.expect(TokenKind::Semi)?;
                    let f = Field {
                        comments: self.comments_between(start, start),
                        ty,
                        name,
                        default,
                        span: self.tokens[start].span.to(self.prev_span()),
                    };
                    Ok(self.check_member_place(body, Member::Field(f)))
                } else {
                    Err(self.error_expected("`(`, `=` or `;`"))
                }
            }
        }
    }

    /// Reports methods outside interfaces and fields inside interfaces.
    fn check_member_place(&mut self, body: Body, m: Member) -> Option<Member> {
        match (&m, body) {
            (Member::Method(method), Body::Parcelable | Body::Union) => {
                let what = if body == Body::Union {
                    "a union"
                } else {
                    "a parcelable"
                };
                self.error_at(
                    method.name.span,
                    format!("methods are only allowed in interfaces, not in {what}"),
                    "method declared here",
                );
                None
            }
            (Member::Field(f), Body::Interface) => {
                self.error_at(
                    f.name.span,
                    "interfaces can't have fields",
                    "field declared here",
                );
                if let Some(d) = self.diags.last_mut() {
                    d.help
                        .push("to declare a constant, write `const` before the type".into());
                }
                None
            }
            _ => Some(m),
        }
    }

    fn const_decl(&mut self, start: usize, annotations: Vec<Annotation>) -> PResult<ConstDecl> {
        self.expect(TokenKind::Const)?;
        let ty = self.type_spec(annotations)?;
        let name = self.ident()?;
        self.expect(TokenKind::Eq)?;
        let value = self.expr()?;
        self.expect(TokenKind::Semi)?;
        Ok(ConstDecl {
            comments: self.comments_between(start, start),
            ty,
            name,
            value,
            span: self.tokens[start].span.to(self.prev_span()),
        })
    }

    fn method_rest(
        &mut self,
        start: usize,
        oneway: Option<Span>,
        return_type: TypeSpec,
        name: Ident,
    ) -> PResult<Method> {
        self.expect(TokenKind::LParen)?;
        let mut args = Vec::new();
        if !self.at(TokenKind::RParen) {
            loop {
                args.push(self.arg()?);
                if self.eat(TokenKind::Comma).is_none() {
                    break;
                }
            }
        }
        self.expect(TokenKind::RParen)?;
        let mut id = None;
        if self.eat(TokenKind::Eq).is_some() {
            let t = self.tok();
            if t.kind != TokenKind::IntLit {
                return Err(self.error_expected("a method id (a decimal integer)"));
            }
            self.bump();
            let text = self.text_of(t.span);
            let value = if text.bytes().all(|b| b.is_ascii_digit()) {
                text.parse::<i32>().ok()
            } else {
                None
            };
            if value.is_none() {
                self.error_at(
                    t.span,
                    format!("could not parse method id `{text}` as an `int`"),
                    "not a valid id",
                );
            }
            id = Some(MethodId {
                value,
                span: t.span,
            });
        }
        self.expect(TokenKind::Semi)?;
        Ok(Method {
            comments: self.comments_between(start, start),
            oneway,
            return_type,
            name,
            args,
            id,
            span: self.tokens[start].span.to(self.prev_span()),
        })
    }

    fn arg(&mut self) -> PResult<Arg> {
        let start_span = self.tok().span;
        let direction = match self.peek() {
            TokenKind::In => Some((Direction::In, self.bump().span)),
            TokenKind::Out => Some((Direction::Out, self.bump().span)),
            TokenKind::Inout => Some((Direction::InOut, self.bump().span)),
            _ => None,
        };
        let annotations = self.annotations()?;
        if direction.is_none()
            && matches!(
                self.peek(),
                TokenKind::In | TokenKind::Out | TokenKind::Inout
            )
        {
            let t = self.tok();
            let dir = self.text_of(t.span).to_string();
            self.diags.push(
                Diagnostic::error(format!(
                    "the direction `{dir}` must come before the parameter's annotations"
                ))
                .with_label(self.loc(t.span), "direction after annotations")
                .with_help(format!("write `{dir} @annotation Type name`")),
            );
            return Err(Fail);
        }
        let ty = self.type_spec(annotations)?;
        let name = self.ident()?;
        Ok(Arg {
            direction,
            span: start_span.to(name.span),
            ty,
            name,
        })
    }

    fn enum_body(&mut self) -> PResult<Vec<Enumerator>> {
        let open = self.expect(TokenKind::LBrace)?;
        let mut out = Vec::new();
        loop {
            if self.at(TokenKind::RBrace) {
                break;
            }
            let start = self.pos;
            let name = match self.ident() {
                Ok(n) => n,
                Err(Fail) => {
                    self.skip_enumerator();
                    if self.eat(TokenKind::Comma).is_some() {
                        continue;
                    }
                    break;
                }
            };
            let value = if self.eat(TokenKind::Eq).is_some() {
                match self.expr() {
                    Ok(e) => Some(e),
                    Err(Fail) => {
                        self.skip_enumerator();
                        None
                    }
                }
            } else {
                None
            };
            let span = name
                .span
                .to(value.as_ref().map(|v| v.span).unwrap_or(name.span));
            out.push(Enumerator {
                comments: self.comments_between(start, start),
                name,
                value,
                span,
            });
            if self.eat(TokenKind::Comma).is_none() {
                break;
            }
        }
        if self.eat(TokenKind::RBrace).is_none() {
            let t = self.tok();
            let found = self.describe_found(t);
            self.diags.push(
                Diagnostic::error(format!("expected `,` or `}}`, found {found}"))
                    .with_label(self.loc(self.here()), "expected `,` or `}`")
                    .with_secondary(self.loc(open.span), "enum body starts here"),
            );
            return Err(Fail);
        }
        if out.is_empty() {
            self.error_at(
                open.span.to(self.prev_span()),
                "an enum must have at least one enumerator",
                "empty enum",
            );
        }
        Ok(out)
    }

    fn skip_enumerator(&mut self) {
        let mut depth = 0u32;
        loop {
            match self.peek() {
                TokenKind::Eof => return,
                TokenKind::Comma if depth == 0 => return,
                TokenKind::RBrace if depth == 0 => return,
                TokenKind::LBrace | TokenKind::LParen => depth += 1,
                TokenKind::RBrace | TokenKind::RParen => depth = depth.saturating_sub(1),
                _ => {}
            }
            self.bump();
        }
    }

    // ----- types --------------------------------------------------------

    fn type_spec(&mut self, mut annotations: Vec<Annotation>) -> PResult<TypeSpec> {
        self.enter()?;
        let r = (|| {
            annotations.extend(self.annotations()?);
            let name = self.qualified_name()?;
            let mut args = None;
            if self.eat(TokenKind::Lt).is_some() {
                let mut list = Vec::new();
                loop {
                    let t = self.type_spec(Vec::new())?;
                    if let Some(a) = t.annotations.first() {
                        let span = a.span;
                        self.error_at(
                            span,
                            "annotations on type arguments are not supported",
                            "annotate the whole type instead",
                        );
                    }
                    list.push(t);
                    if self.eat(TokenKind::Comma).is_none() {
                        break;
                    }
                }
                self.close_angle()?;
                args = Some(list);
            }
            let mut array: Option<ArraySpec> = None;
            while self.at(TokenKind::LBracket) {
                let open = self.bump();
                if let Some(close) = self.eat(TokenKind::RBracket) {
                    if array.is_some() {
                        self.error_at(
                            open.span.to(close.span),
                            "multi-dimensional arrays must be fixed size",
                            "second dimension",
                        );
                    } else {
                        array = Some(ArraySpec::Dynamic(open.span.to(close.span)));
                    }
                } else {
                    let dim = self.expr()?;
                    let close = self.expect(TokenKind::RBracket)?;
                    match &mut array {
                        None => array = Some(ArraySpec::Fixed(vec![dim])),
                        Some(ArraySpec::Fixed(dims)) => dims.push(dim),
                        Some(ArraySpec::Dynamic(_)) => self.error_at(
                            open.span.to(close.span),
                            "multi-dimensional arrays must be fixed size",
                            "second dimension",
                        ),
                    }
                }
            }
            if self.at(TokenKind::Lt) {
                let span = self.tok().span;
                self.error_at(
                    span,
                    "type arguments must come before array brackets (`T<A>[]`) and only once",
                    "unexpected `<`",
                );
                return Err(Fail);
            }
            Ok(TypeSpec {
                annotations,
                span: name.span.to(self.prev_span()),
                name,
                args,
                array,
            })
        })();
        self.leave();
        r
    }

    /// Expects `>`, splitting a `>>` token in two (`List<List<T>>`).
    fn close_angle(&mut self) -> PResult<()> {
        match self.peek() {
            TokenKind::Gt => {
                self.bump();
                Ok(())
            }
            TokenKind::Shr => {
                let t = &mut self.tokens[self.pos];
                t.kind = TokenKind::Gt;
                t.span.start += 1;
                t.comments_start = t.comments_end;
                Ok(())
            }
            _ => Err(self.error_expected("`>`")),
        }
    }

    // ----- expressions --------------------------------------------------

    fn expr(&mut self) -> PResult<Expr> {
        let e = self.binary_expr(1)?;
        if self.at(TokenKind::Question) {
            let span = self.tok().span;
            self.diags.push(
                Diagnostic::error("the conditional operator `?:` is not part of AIDL")
                    .with_label(self.loc(span), "not supported in constant expressions"),
            );
            return Err(Fail);
        }
        Ok(e)
    }

    fn binary_expr(&mut self, min_prec: u8) -> PResult<Expr> {
        self.enter()?;
        let r = (|| {
            let mut lhs = self.unary_expr()?;
            while let Some(op) = binary_op(self.peek()) {
                let prec = op.precedence();
                if prec < min_prec {
                    break;
                }
                self.bump();
                let rhs = self.binary_expr(prec + 1)?;
                let span = lhs.span.to(rhs.span);
                lhs = Expr {
                    kind: ExprKind::Binary {
                        op,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    },
                    span,
                };
            }
            Ok(lhs)
        })();
        self.leave();
        r
    }

    fn unary_expr(&mut self) -> PResult<Expr> {
        let op = match self.peek() {
            TokenKind::Plus => UnaryOp::Plus,
            TokenKind::Minus => UnaryOp::Minus,
            TokenKind::Bang => UnaryOp::Not,
            TokenKind::Tilde => UnaryOp::BitNot,
            _ => return self.primary_expr(),
        };
        let t = self.bump();
        self.enter()?;
        let operand = self.unary_expr();
        self.leave();
        let operand = operand?;
        Ok(Expr {
            span: t.span.to(operand.span),
            kind: ExprKind::Unary {
                op,
                operand: Box::new(operand),
            },
        })
    }

    fn primary_expr(&mut self) -> PResult<Expr> {
        let t = self.tok();
        let text = self.text_of(t.span);
        let kind = match t.kind {
            TokenKind::True => {
                self.bump();
                ExprKind::Bool(true)
            }
            TokenKind::False => {
                self.bump();
                ExprKind::Bool(false)
            }
            TokenKind::IntLit | TokenKind::HexLit => {
                self.bump();
                match parse_integral(text) {
                    Some((value, kind)) => ExprKind::Int { value, kind },
                    None => {
                        let what = if t.kind == TokenKind::HexLit {
                            "hex literal"
                        } else {
                            "integer literal"
                        };
                        self.error_at(
                            t.span,
                            format!("could not parse {what} `{text}`"),
                            "invalid literal",
                        );
                        ExprKind::Error
                    }
                }
            }
            TokenKind::FloatLit => {
                self.bump();
                ExprKind::Float(text.to_string())
            }
            TokenKind::CharLit => {
                self.bump();
                let c = text
                    .get(1..text.len().saturating_sub(1))
                    .and_then(|s| s.chars().next());
                match c {
                    Some(c) if is_valid_literal_char(c) => ExprKind::Char(c),
                    other => {
                        let shown = other
                            .map(|c| c.escape_default().to_string())
                            .unwrap_or_default();
                        self.error_at(
                            t.span,
                            format!("invalid character literal `{shown}`"),
                            "only printable ASCII characters other than `\\` are allowed",
                        );
                        ExprKind::Error
                    }
                }
            }
            TokenKind::StrLit => {
                self.bump();
                let content = text.get(1..text.len().saturating_sub(1)).unwrap_or("");
                if let Some((i, c)) = content
                    .char_indices()
                    .find(|(_, c)| !is_valid_literal_char(*c))
                {
                    let at = t.span.start as usize + 1 + i;
                    self.diags.push(
                        Diagnostic::error(format!(
                            "invalid character `{}` at index {i} in string constant",
                            c.escape_default()
                        ))
                        .with_label(self.loc(Span::new(at, at + c.len_utf8())), "not allowed")
                        .with_note(
                            "AIDL string constants may only hold printable ASCII characters other than `\\`",
                        ),
                    );
                }
                ExprKind::String(content.to_string())
            }
            k if k.is_identifier() => {
                let name = self.qualified_name()?;
                return Ok(Expr {
                    span: name.span,
                    kind: ExprKind::Ref(name),
                });
            }
            TokenKind::LBrace => {
                self.bump();
                let mut items = Vec::new();
                while !self.at(TokenKind::RBrace) {
                    items.push(self.expr()?);
                    if self.eat(TokenKind::Comma).is_none() {
                        break;
                    }
                }
                self.expect(TokenKind::RBrace)?;
                ExprKind::Array(items)
            }
            TokenKind::LParen => {
                self.bump();
                let inner = self.expr()?;
                self.expect(TokenKind::RParen)?;
                return Ok(Expr {
                    kind: inner.kind,
                    span: t.span.to(self.prev_span()),
                });
            }
            _ => return Err(self.error_expected("an expression")),
        };
        Ok(Expr {
            kind,
            span: t.span.to(self.prev_span()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Document {
        let (doc, diags) = parse(FileId(0), text);
        assert!(diags.is_empty(), "{diags:#?}");
        doc
    }

    #[test]
    fn parses_interface_with_everything() {
        let doc = parse_ok(
            "package a.b;\nimport c.D;\n/** doc */\n@VintfStability\ninterface IFoo {\n  const int X = 1 << 3;\n  oneway void f(in int[] a, out List<String> b) = 3;\n  @nullable D g(inout D d);\n  parcelable Inner { int x = 1; }\n}\n",
        );
        assert_eq!(doc.package_name(), "a.b");
        assert_eq!(doc.imports.len(), 1);
        let d = &doc.decls[0];
        assert_eq!(d.name.text(), "IFoo");
        assert_eq!(
            d.comments.doc_comment().map(|c| c.text.as_str()),
            Some("/** doc */")
        );
        assert_eq!(d.members().len(), 4);
        match &d.members()[1] {
            Member::Method(m) => {
                assert!(m.oneway.is_some());
                assert_eq!(m.id.as_ref().and_then(|i| i.value), Some(3));
                assert_eq!(m.args.len(), 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nested_generics_split_shift() {
        let doc = parse_ok("parcelable P { List<List<String>> a; Map<String, List<String>> b; }");
        match &doc.decls[0].members()[0] {
            Member::Field(f) => {
                let args = f.ty.args.as_ref().unwrap();
                assert_eq!(args[0].name.text(), "List");
                assert_eq!(args[0].args.as_ref().unwrap()[0].name.text(), "String");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn precedence() {
        let doc = parse_ok("interface I { const int X = 1 | 2 ^ 3 & 4 == 5 < 6 << 7 + 8 * -9; }");
        let Member::Const(c) = &doc.decls[0].members()[0] else {
            panic!()
        };
        // the top operator is `|`
        assert!(matches!(
            c.value.kind,
            ExprKind::Binary {
                op: BinaryOp::BitOr,
                ..
            }
        ));
    }

    #[test]
    fn recovers_and_reports_several_errors() {
        let (doc, diags) = parse(
            FileId(0),
            "interface I { void f(; int g(); void h() }\nparcelable P { int x }\n",
        );
        assert!(diags.len() >= 2, "{diags:#?}");
        assert_eq!(doc.decls.len(), 2);
    }
}
