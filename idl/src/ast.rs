//! The syntax tree of one `.aidl` file, as written (nothing resolved yet).
//!
//! Every node carries a [`Span`] (byte offsets into its file); a
//! [`SourceFile`](crate::source::SourceFile) turns them into `line:column`.

use crate::source::{FileId, Span};
pub use crate::token::CommentKind;

/// An identifier with its span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    /// The text.
    pub name: String,
    /// Where.
    pub span: Span,
}

/// A dotted name such as `android.os.IServiceManager` or `Outer.Inner`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QualifiedName {
    /// The parts between the dots (never empty).
    pub parts: Vec<Ident>,
    /// Where the whole name is.
    pub span: Span,
}

impl QualifiedName {
    /// The name with its dots, e.g. `a.b.C`.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for (i, p) in self.parts.iter().enumerate() {
            if i > 0 {
                s.push('.');
            }
            s.push_str(&p.name);
        }
        s
    }

    /// Whether the name has a single part.
    pub fn is_simple(&self) -> bool {
        self.parts.len() == 1
    }

    /// The last part.
    pub fn last(&self) -> &str {
        self.parts.last().map(|p| p.name.as_str()).unwrap_or("")
    }
}

/// A comment attached to the item that follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// Line or block comment.
    pub kind: CommentKind,
    /// The full text including `//`, `/*`, `*/`.
    pub text: String,
    /// Where.
    pub span: Span,
}

/// The comments that precede an item, in source order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comments(pub Vec<Comment>);

impl Comments {
    /// Whether there is no comment.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The comment that documents the item: as in AOSP, only the last comment
    /// before the item counts, and only if it is a block comment.
    pub fn doc_comment(&self) -> Option<&Comment> {
        self.0.last().filter(|c| c.kind == CommentKind::Block)
    }

    /// The javadoc `@deprecated` note, if the item is deprecated.
    /// `Some("")` when the tag has no text.
    pub fn deprecated(&self) -> Option<String> {
        crate::doc::find_deprecated(self)
    }

    /// The doc comment's text without comment markers (see
    /// [`doc::doc_text`](crate::doc::doc_text)).
    pub fn doc_text(&self) -> Option<String> {
        crate::doc::doc_text(self)
    }

    /// Whether the doc comment has an `@hide` tag.
    pub fn is_hidden(&self) -> bool {
        crate::doc::has_hide(self)
    }
}

/// A whole `.aidl` file.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// The file it was parsed from.
    pub file: FileId,
    /// Comments before the `package` line (the file header), or before the
    /// first import or declaration when there is no package.
    pub comments: Comments,
    /// `package a.b;`, if present.
    pub package: Option<QualifiedName>,
    /// `import a.b.C;` lines.
    pub imports: Vec<Import>,
    /// Top-level declarations.
    pub decls: Vec<Decl>,
}

impl Document {
    /// The package name, or `""`.
    pub fn package_name(&self) -> String {
        self.package.as_ref().map(|p| p.text()).unwrap_or_default()
    }
}

/// `import a.b.C;`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    /// The imported name.
    pub name: QualifiedName,
    /// Comments before the `import` keyword.
    pub comments: Comments,
    /// The whole line.
    pub span: Span,
}

/// An annotation such as `@nullable(heap=true)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Annotation {
    /// The name without `@`.
    pub name: Ident,
    /// The arguments, if parentheses were written.
    pub params: Option<AnnotationParams>,
    /// From `@` to the closing parenthesis.
    pub span: Span,
}

impl Annotation {
    /// The value of parameter `name` (`value` for the single-argument form).
    pub fn param(&self, name: &str) -> Option<&Expr> {
        match &self.params {
            Some(AnnotationParams::Single(e)) if name == "value" => Some(e),
            Some(AnnotationParams::Named(list)) => {
                list.iter().find(|(n, _)| n.name == name).map(|(_, e)| e)
            }
            _ => None,
        }
    }

    /// All parameters as `(name, value)` pairs; the single form is named `value`.
    pub fn param_list(&self) -> Vec<(&str, Span, &Expr)> {
        match &self.params {
            None => Vec::new(),
            Some(AnnotationParams::Single(e)) => vec![("value", e.span, e)],
            Some(AnnotationParams::Named(list)) => list
                .iter()
                .map(|(n, e)| (n.name.as_str(), n.span, e))
                .collect(),
        }
    }
}

/// What is inside an annotation's parentheses.
#[derive(Clone, Debug, PartialEq)]
pub enum AnnotationParams {
    /// `@A(expr)`: the expression is the parameter `value`.
    Single(Expr),
    /// `@A(x=1, y="s")`; `@A()` gives an empty list.
    Named(Vec<(Ident, Expr)>),
}

/// A top-level or nested type declaration.
#[derive(Clone, Debug, PartialEq)]
pub struct Decl {
    /// Annotations before the keyword.
    pub annotations: Vec<Annotation>,
    /// Comments before the declaration (including before its annotations).
    pub comments: Comments,
    /// The declared name; more than one part only for unstructured
    /// parcelables and in preprocessed files.
    pub name: QualifiedName,
    /// What kind of declaration.
    pub kind: DeclKind,
    /// From the first annotation or keyword to the closing `}` or `;`.
    pub span: Span,
}

impl Decl {
    /// The members of an interface, parcelable or union (empty for the others).
    pub fn members(&self) -> &[Member] {
        match &self.kind {
            DeclKind::Interface(i) => i.members.as_deref().unwrap_or(&[]),
            DeclKind::Parcelable(p) | DeclKind::Union(p) => &p.members,
            DeclKind::UnstructuredParcelable(_) | DeclKind::Enum(_) => &[],
        }
    }

    /// The nested type declarations.
    pub fn nested(&self) -> impl Iterator<Item = &Decl> {
        self.members().iter().filter_map(|m| match m {
            Member::Decl(d) => Some(&**d),
            _ => None,
        })
    }

    /// The generic parameters (`<T, U>`), if any.
    pub fn type_params(&self) -> &[TypeParam] {
        match &self.kind {
            DeclKind::Parcelable(p) | DeclKind::Union(p) => &p.type_params,
            DeclKind::UnstructuredParcelable(u) => &u.type_params,
            _ => &[],
        }
    }

    /// `interface`, `parcelable`, `enum` or `union`.
    pub fn keyword(&self) -> &'static str {
        match &self.kind {
            DeclKind::Interface(_) => "interface",
            DeclKind::Parcelable(_) | DeclKind::UnstructuredParcelable(_) => "parcelable",
            DeclKind::Enum(_) => "enum",
            DeclKind::Union(_) => "union",
        }
    }
}

/// The kinds of declaration.
#[derive(Clone, Debug, PartialEq)]
pub enum DeclKind {
    /// `interface I { ... }`, `oneway interface I { ... }` or `interface I;`.
    Interface(InterfaceDecl),
    /// `parcelable P { ... }` (a structured parcelable).
    Parcelable(ParcelableDecl),
    /// `parcelable P;` or `parcelable P cpp_header "p.h";` (defined elsewhere).
    UnstructuredParcelable(UnstructuredParcelableDecl),
    /// `enum E { ... }`.
    Enum(EnumDecl),
    /// `union U { ... }` (same shape as a parcelable).
    Union(ParcelableDecl),
}

/// Body of an interface.
#[derive(Clone, Debug, PartialEq)]
pub struct InterfaceDecl {
    /// Span of `oneway` when the interface is `oneway interface`.
    pub oneway: Option<Span>,
    /// The members; `None` for the forward declaration `interface I;`.
    pub members: Option<Vec<Member>>,
}

/// Body of a structured parcelable or a union.
#[derive(Clone, Debug, PartialEq)]
pub struct ParcelableDecl {
    /// Generic parameters (`parcelable P<T> { ... }`).
    pub type_params: Vec<TypeParam>,
    /// Fields, constants and nested types.
    pub members: Vec<Member>,
}

/// An unstructured parcelable declaration.
#[derive(Clone, Debug, PartialEq)]
pub struct UnstructuredParcelableDecl {
    /// Generic parameters.
    pub type_params: Vec<TypeParam>,
    /// `cpp_header "..."` (the string without quotes).
    pub cpp_header: Option<StrLit>,
    /// `ndk_header "..."`.
    pub ndk_header: Option<StrLit>,
    /// `rust_type "..."`.
    pub rust_type: Option<StrLit>,
}

/// A string literal's content (between the quotes, as written).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrLit {
    /// The content.
    pub value: String,
    /// Where, including the quotes.
    pub span: Span,
}

/// A generic parameter of a parcelable or union.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeParam {
    /// Annotations written before the name.
    pub annotations: Vec<Annotation>,
    /// The name.
    pub name: Ident,
}

/// Body of an enum.
#[derive(Clone, Debug, PartialEq)]
pub struct EnumDecl {
    /// The enumerators, in order.
    pub enumerators: Vec<Enumerator>,
}

/// One enumerator: `NAME` or `NAME = expr`.
#[derive(Clone, Debug, PartialEq)]
pub struct Enumerator {
    /// Comments before it.
    pub comments: Comments,
    /// The name.
    pub name: Ident,
    /// The explicit value, if any.
    pub value: Option<Expr>,
    /// From the name to the end of the value.
    pub span: Span,
}

/// A member of an interface, parcelable or union.
#[derive(Clone, Debug, PartialEq)]
pub enum Member {
    /// A method (interfaces only).
    Method(Method),
    /// A constant.
    Const(ConstDecl),
    /// A field (parcelables and unions only).
    Field(Field),
    /// A nested type.
    Decl(Box<Decl>),
}

/// `[oneway] Type name(args) [= id];`
#[derive(Clone, Debug, PartialEq)]
pub struct Method {
    /// Comments before the method.
    pub comments: Comments,
    /// Span of `oneway`, if written on the method.
    pub oneway: Option<Span>,
    /// The return type; method annotations are the return type's annotations,
    /// as in AOSP.
    pub return_type: TypeSpec,
    /// The name.
    pub name: Ident,
    /// The parameters.
    pub args: Vec<Arg>,
    /// `= N`: the transaction id as written (text) and its span.
    pub id: Option<MethodId>,
    /// From the first token to the `;`.
    pub span: Span,
}

/// An explicit method id (`= N`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodId {
    /// The parsed value, or `None` if it is not a valid `int`.
    pub value: Option<i32>,
    /// Where the number is.
    pub span: Span,
}

/// Parameter direction.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// `in`: the caller sends it.
    In,
    /// `out`: the callee fills it in.
    Out,
    /// `inout`: both.
    InOut,
}

impl Direction {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
            Direction::InOut => "inout",
        }
    }
}

/// A method parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    /// The direction as written, with its span.
    pub direction: Option<(Direction, Span)>,
    /// The type.
    pub ty: TypeSpec,
    /// The name.
    pub name: Ident,
    /// From the direction (or type) to the name.
    pub span: Span,
}

/// `const Type NAME = expr;`
#[derive(Clone, Debug, PartialEq)]
pub struct ConstDecl {
    /// Comments before it.
    pub comments: Comments,
    /// The type; annotations before `const` are attached to it, as in AOSP.
    pub ty: TypeSpec,
    /// The name.
    pub name: Ident,
    /// The value.
    pub value: Expr,
    /// From the first token to the `;`.
    pub span: Span,
}

/// `Type name [= expr];` in a parcelable or union.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// Comments before it.
    pub comments: Comments,
    /// The type (with the field's annotations).
    pub ty: TypeSpec,
    /// The name.
    pub name: Ident,
    /// The default value.
    pub default: Option<Expr>,
    /// From the first token to the `;`.
    pub span: Span,
}

/// A type as written: `@nullable List<String>`, `int[3][4]`, `a.b.C`.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeSpec {
    /// Annotations written before the type name.
    pub annotations: Vec<Annotation>,
    /// The type name.
    pub name: QualifiedName,
    /// Generic arguments (`<...>`), if written.
    pub args: Option<Vec<TypeSpec>>,
    /// Array suffix, if any.
    pub array: Option<ArraySpec>,
    /// From the name to the end of the last suffix (annotations excluded).
    pub span: Span,
}

/// An array suffix.
#[derive(Clone, Debug, PartialEq)]
pub enum ArraySpec {
    /// `T[]`.
    Dynamic(Span),
    /// `T[N]`, `T[N][M]`, ...: one expression per dimension.
    Fixed(Vec<Expr>),
}

/// A constant expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where.
    pub span: Span,
}

impl Expr {
    /// Whether the expression is a literal (not an operation or a reference);
    /// AOSP suggests `u8`/`u32` suffixes only for literals.
    pub fn is_literal(&self) -> bool {
        !matches!(
            self.kind,
            ExprKind::Unary { .. } | ExprKind::Binary { .. } | ExprKind::Ref(_)
        )
    }
}

/// Width of an integer literal, decided as AOSP does (by value and suffix).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IntKind {
    /// 8-bit (`u8` suffix, or a small decimal literal).
    Int8,
    /// 32-bit.
    Int32,
    /// 64-bit (`L` suffix, or a large value).
    Int64,
}

/// The kinds of constant expression.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// `true` / `false`.
    Bool(bool),
    /// An integer literal, already parsed.
    Int {
        /// The value (already wrapped for hex and `u8`/`u32` literals).
        value: i64,
        /// Its width.
        kind: IntKind,
    },
    /// A float literal as written (`1.5f`, `2e3`).
    Float(String),
    /// A character literal.
    Char(char),
    /// A string literal's content.
    String(String),
    /// A reference to a constant or enumerator: `NAME`, `Type.NAME`, `a.b.Type.NAME`.
    Ref(QualifiedName),
    /// `{a, b, c}`.
    Array(Vec<Expr>),
    /// `-x`, `+x`, `!x`, `~x`.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        operand: Box<Expr>,
    },
    /// `a op b`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// Placeholder for an expression that failed to parse.
    Error,
}

/// Unary operators.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `!`
    Not,
    /// `~`
    BitNot,
}

impl UnaryOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            UnaryOp::Plus => "+",
            UnaryOp::Minus => "-",
            UnaryOp::Not => "!",
            UnaryOp::BitNot => "~",
        }
    }
}

/// Binary operators, with C precedence.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `||`
    LogicalOr,
    /// `&&`
    LogicalAnd,
    /// `|`
    BitOr,
    /// `^`
    BitXor,
    /// `&`
    BitAnd,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `<<`
    Shl,
    /// `>>`
    Shr,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}

impl BinaryOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::LogicalOr => "||",
            BinaryOp::LogicalAnd => "&&",
            BinaryOp::BitOr => "|",
            BinaryOp::BitXor => "^",
            BinaryOp::BitAnd => "&",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Gt => ">",
            BinaryOp::Le => "<=",
            BinaryOp::Ge => ">=",
            BinaryOp::Shl => "<<",
            BinaryOp::Shr => ">>",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }

    /// Binding strength: higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::LogicalOr => 1,
            BinaryOp::LogicalAnd => 2,
            BinaryOp::BitOr => 3,
            BinaryOp::BitXor => 4,
            BinaryOp::BitAnd => 5,
            BinaryOp::Eq | BinaryOp::Ne => 6,
            BinaryOp::Lt | BinaryOp::Gt | BinaryOp::Le | BinaryOp::Ge => 7,
            BinaryOp::Shl | BinaryOp::Shr => 8,
            BinaryOp::Add | BinaryOp::Sub => 9,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 10,
        }
    }
}
