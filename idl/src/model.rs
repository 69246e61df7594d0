//! The checked model: what a code generator walks.
//!
//! Every type declared in the loaded files (top-level and nested, plus the
//! `Tag` enum AOSP synthesizes for each union) is a [`TypeDecl`] in one arena,
//! addressed by [`TypeId`]. Types used in signatures are [`Type`]s with their
//! names resolved; constants and defaults are evaluated [`ConstValue`]s of the
//! declared type; enumerators have their values; methods have their
//! transaction codes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::ast::{Comments, Direction, Document};
use crate::diagnostic::Diagnostics;
use crate::source::{LineCol, Location, SourceMap};

pub use crate::constant::ConstValue;

/// `IBinder::FIRST_CALL_TRANSACTION`: the code of the method with id 0.
pub const FIRST_CALL_TRANSACTION: u32 = 0x0000_0001;
/// `IBinder::LAST_CALL_TRANSACTION`.
pub const LAST_CALL_TRANSACTION: u32 = 0x00ff_ffff;
/// Largest id a user may give a method (AOSP reserves the 100 ids below
/// `LAST_CALL_TRANSACTION` for meta methods).
pub const MAX_USER_METHOD_ID: u32 = LAST_CALL_TRANSACTION - FIRST_CALL_TRANSACTION - 99 - 1;
/// Method id of `int getInterfaceVersion()` in versioned interfaces.
pub const GET_INTERFACE_VERSION_ID: u32 = LAST_CALL_TRANSACTION - FIRST_CALL_TRANSACTION;
/// Method id of `String getInterfaceHash()` in versioned interfaces.
pub const GET_INTERFACE_HASH_ID: u32 = GET_INTERFACE_VERSION_ID - 1;

/// Identifies a declared type in a [`Model`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeId(pub(crate) u32);

impl TypeId {
    /// Position in [`Model::types`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The result of a successful check.
#[derive(Debug, Clone)]
pub struct Model {
    pub(crate) types: Vec<TypeDecl>,
    pub(crate) by_name: HashMap<String, TypeId>,
    pub(crate) sources: Arc<SourceMap>,
    pub(crate) warnings: Diagnostics,
    pub(crate) documents: Vec<Document>,
}

impl Model {
    /// Every declared type (imported ones included), parents before their
    /// nested types.
    pub fn types(&self) -> impl Iterator<Item = &TypeDecl> {
        self.types.iter()
    }

    /// The types declared in the session's input files (and their nested
    /// types): the ones to generate code for.
    pub fn input_types(&self) -> impl Iterator<Item = &TypeDecl> {
        self.types.iter().filter(|t| t.from_input)
    }

    /// The top-level types declared in input files.
    pub fn input_roots(&self) -> impl Iterator<Item = &TypeDecl> {
        self.types
            .iter()
            .filter(|t| t.from_input && t.parent.is_none())
    }

    /// The type with id `id`.
    ///
    /// # Panics
    ///
    /// Panics if `id` comes from another model.
    pub fn get(&self, id: TypeId) -> &TypeDecl {
        &self.types[id.index()]
    }

    /// Looks a type up by its fully qualified name (`a.b.Outer.Inner`).
    pub fn lookup(&self, qualified_name: &str) -> Option<&TypeDecl> {
        self.by_name.get(qualified_name).map(|&id| self.get(id))
    }

    /// The sources, for turning [`Location`]s into `file:line:column`.
    pub fn sources(&self) -> &SourceMap {
        &self.sources
    }

    /// The file path and line:column where a location starts.
    ///
    /// # Panics
    ///
    /// Panics if the location comes from another model.
    pub fn position(&self, location: Location) -> (&Path, LineCol) {
        let f = self.sources.get(location.file);
        (f.path(), f.line_col(location.span.start))
    }

    /// Warnings found while checking.
    pub fn warnings(&self) -> &Diagnostics {
        &self.warnings
    }

    /// The syntax trees of every loaded file (inputs first), for tools that
    /// need the source structure; [`ast::Document::file`](crate::ast::Document::file)
    /// says which file each one is.
    pub fn documents(&self) -> &[Document] {
        &self.documents
    }
}

/// What kind of declaration a type is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum DeclKind {
    /// `interface`
    Interface,
    /// `parcelable { ... }`
    Parcelable,
    /// `parcelable Foo;` (defined in another language)
    UnstructuredParcelable,
    /// `enum`
    Enum,
    /// `union`
    Union,
}

/// A declared type.
#[derive(Debug, Clone)]
pub struct TypeDecl {
    /// Its id.
    pub id: TypeId,
    /// The simple name (`Inner`).
    pub name: String,
    /// The fully qualified name (`a.b.Outer.Inner`).
    pub qualified_name: String,
    /// The package (`a.b`), possibly empty.
    pub package: String,
    /// The enclosing type, for nested types.
    pub parent: Option<TypeId>,
    /// Nested types, in declaration order (a union's synthesized `Tag` last).
    pub nested: Vec<TypeId>,
    /// Where the name is declared.
    pub location: Location,
    /// Comments before the declaration.
    pub comments: Comments,
    /// Annotations on the declaration.
    pub annotations: Annotations,
    /// Kind-specific contents.
    pub kind: TypeDeclKind,
    /// Declared in one of the session's input files (not only imported).
    pub from_input: bool,
    /// Made up by the compiler (a union's `Tag` enum), not written by the user.
    pub synthesized: bool,
}

impl TypeDecl {
    /// The kind without its contents.
    pub fn decl_kind(&self) -> DeclKind {
        match &self.kind {
            TypeDeclKind::Interface(_) => DeclKind::Interface,
            TypeDeclKind::Parcelable(_) => DeclKind::Parcelable,
            TypeDeclKind::UnstructuredParcelable(_) => DeclKind::UnstructuredParcelable,
            TypeDeclKind::Enum(_) => DeclKind::Enum,
            TypeDeclKind::Union(_) => DeclKind::Union,
        }
    }

    /// The interface contents, if it is one.
    pub fn as_interface(&self) -> Option<&Interface> {
        match &self.kind {
            TypeDeclKind::Interface(i) => Some(i),
            _ => None,
        }
    }

    /// The structured parcelable contents, if it is one.
    pub fn as_parcelable(&self) -> Option<&Parcelable> {
        match &self.kind {
            TypeDeclKind::Parcelable(p) => Some(p),
            _ => None,
        }
    }

    /// The union contents, if it is one.
    pub fn as_union(&self) -> Option<&Union> {
        match &self.kind {
            TypeDeclKind::Union(u) => Some(u),
            _ => None,
        }
    }

    /// The enum contents, if it is one.
    pub fn as_enum(&self) -> Option<&Enum> {
        match &self.kind {
            TypeDeclKind::Enum(e) => Some(e),
            _ => None,
        }
    }

    /// The unstructured parcelable contents, if it is one.
    pub fn as_unstructured(&self) -> Option<&UnstructuredParcelable> {
        match &self.kind {
            TypeDeclKind::UnstructuredParcelable(p) => Some(p),
            _ => None,
        }
    }

    /// Constants declared in the type (interfaces, parcelables and unions).
    pub fn constants(&self) -> &[Constant] {
        match &self.kind {
            TypeDeclKind::Interface(i) => &i.constants,
            TypeDeclKind::Parcelable(p) => &p.constants,
            TypeDeclKind::Union(u) => &u.constants,
            _ => &[],
        }
    }

    /// Fields (parcelables and unions).
    pub fn fields(&self) -> &[Field] {
        match &self.kind {
            TypeDeclKind::Parcelable(p) => &p.fields,
            TypeDeclKind::Union(u) => &u.fields,
            _ => &[],
        }
    }

    /// Generic parameters (parcelables, unions, unstructured parcelables).
    pub fn type_params(&self) -> &[String] {
        match &self.kind {
            TypeDeclKind::Parcelable(p) => &p.type_params,
            TypeDeclKind::Union(u) => &u.type_params,
            TypeDeclKind::UnstructuredParcelable(u) => &u.type_params,
            _ => &[],
        }
    }

    /// The `@deprecated` note from the doc comment, if deprecated.
    pub fn deprecated(&self) -> Option<String> {
        self.comments.deprecated()
    }

    /// Whether the doc comment says `@hide`, or the type has `@Hide`.
    pub fn is_hidden(&self) -> bool {
        self.comments.is_hidden() || self.annotations.has("Hide")
    }
}

/// Kind-specific contents of a [`TypeDecl`].
#[derive(Debug, Clone)]
pub enum TypeDeclKind {
    /// An interface.
    Interface(Interface),
    /// A structured parcelable.
    Parcelable(Parcelable),
    /// An unstructured parcelable.
    UnstructuredParcelable(UnstructuredParcelable),
    /// An enum.
    Enum(Enum),
    /// A union.
    Union(Union),
}

/// An interface.
#[derive(Debug, Clone)]
pub struct Interface {
    /// Declared `oneway interface`: every method is oneway.
    pub oneway: bool,
    /// The interface descriptor: `@Descriptor(value=...)` or the qualified name.
    pub descriptor: String,
    /// Methods in declaration order.
    pub methods: Vec<Method>,
    /// Constants in declaration order.
    pub constants: Vec<Constant>,
    /// Declared without a body (`interface IFoo;`).
    pub forward_declaration: bool,
}

/// A method of an interface.
#[derive(Debug, Clone)]
pub struct Method {
    /// The name.
    pub name: String,
    /// The return type (`void` included). Method annotations such as
    /// `@PropagateAllowBlocking` are on the return type, as in AOSP.
    pub return_type: Type,
    /// The parameters.
    pub args: Vec<Argument>,
    /// Oneway (declared so, or in a oneway interface).
    pub oneway: bool,
    /// The AOSP method id: explicit (`= N`) or the position among the methods.
    pub id: u32,
    /// Whether the id was written.
    pub explicit_id: bool,
    /// The binder transaction code: `FIRST_CALL_TRANSACTION + id`.
    pub transaction_code: u32,
    /// Comments before the method.
    pub comments: Comments,
    /// Where the name is.
    pub location: Location,
}

impl Method {
    /// The method's annotations (those of its return type).
    pub fn annotations(&self) -> &Annotations {
        &self.return_type.annotations
    }

    /// The `@deprecated` note, if any.
    pub fn deprecated(&self) -> Option<String> {
        self.comments.deprecated()
    }

    /// AOSP's signature string: `name(int, String[])`.
    pub fn signature(&self) -> String {
        let args: Vec<String> = self.args.iter().map(|a| a.ty.signature()).collect();
        format!("{}({})", self.name, args.join(", "))
    }
}

/// A method parameter.
#[derive(Debug, Clone)]
pub struct Argument {
    /// The name.
    pub name: String,
    /// The direction (`in` when not written).
    pub direction: Direction,
    /// Whether the direction was written.
    pub direction_explicit: bool,
    /// The type.
    pub ty: Type,
    /// Where the name is.
    pub location: Location,
}

/// A constant of an interface, parcelable or union.
#[derive(Debug, Clone)]
pub struct Constant {
    /// The name.
    pub name: String,
    /// The declared type (`String`, `byte`, `int`, `long`, `float` or `double`).
    pub ty: Type,
    /// The value, of the declared type.
    pub value: ConstValue,
    /// Comments before it.
    pub comments: Comments,
    /// Where the name is.
    pub location: Location,
}

/// A structured parcelable.
#[derive(Debug, Clone)]
pub struct Parcelable {
    /// Generic parameters.
    pub type_params: Vec<String>,
    /// Fields in declaration order.
    pub fields: Vec<Field>,
    /// Constants.
    pub constants: Vec<Constant>,
}

/// A field of a parcelable or union.
#[derive(Debug, Clone)]
pub struct Field {
    /// The name.
    pub name: String,
    /// The type (with the field's annotations).
    pub ty: Type,
    /// The default value: the written one, or AOSP's implicit default for
    /// primitives (`false`, `0`, `'\0'`, `0.0`); `None` for other types
    /// without an initializer.
    pub default: Option<ConstValue>,
    /// Whether the default was written.
    pub default_explicit: bool,
    /// Comments before it.
    pub comments: Comments,
    /// Where the name is.
    pub location: Location,
}

impl Field {
    /// The `@deprecated` note, if any.
    pub fn deprecated(&self) -> Option<String> {
        self.comments.deprecated()
    }
}

/// A union.
#[derive(Debug, Clone)]
pub struct Union {
    /// Generic parameters.
    pub type_params: Vec<String>,
    /// The alternatives; the first is the default.
    pub fields: Vec<Field>,
    /// Constants.
    pub constants: Vec<Constant>,
    /// The synthesized nested `Tag` enum (one enumerator per field).
    pub tag: TypeId,
}

/// An enum.
#[derive(Debug, Clone)]
pub struct Enum {
    /// `byte` (the default), `int` or `long`.
    pub backing: Primitive,
    /// The enumerators with their values.
    pub enumerators: Vec<Enumerator>,
}

/// An enumerator.
#[derive(Debug, Clone)]
pub struct Enumerator {
    /// The name.
    pub name: String,
    /// The value, within the backing type's range.
    pub value: i64,
    /// Whether the value was written (else previous + 1, or 0 for the first).
    pub explicit: bool,
    /// Comments before it.
    pub comments: Comments,
    /// Where the name is.
    pub location: Location,
}

/// A parcelable defined in another language.
#[derive(Debug, Clone)]
pub struct UnstructuredParcelable {
    /// Generic parameters.
    pub type_params: Vec<String>,
    /// `cpp_header "..."`.
    pub cpp_header: Option<String>,
    /// `ndk_header "..."`.
    pub ndk_header: Option<String>,
    /// `rust_type "..."`.
    pub rust_type: Option<String>,
}

/// Primitive types.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Primitive {
    /// `boolean`
    Boolean,
    /// `byte` (signed 8-bit)
    Byte,
    /// `char` (UTF-16 code unit)
    Char,
    /// `int`
    Int,
    /// `long`
    Long,
    /// `float`
    Float,
    /// `double`
    Double,
}

impl Primitive {
    /// The AIDL spelling.
    pub fn name(self) -> &'static str {
        match self {
            Primitive::Boolean => "boolean",
            Primitive::Byte => "byte",
            Primitive::Char => "char",
            Primitive::Int => "int",
            Primitive::Long => "long",
            Primitive::Float => "float",
            Primitive::Double => "double",
        }
    }
}

/// A resolved type as used in a signature, field or constant.
#[derive(Debug, Clone)]
pub struct Type {
    /// What type.
    pub kind: TypeKind,
    /// Array suffix, if any.
    pub array: Option<ArrayShape>,
    /// Annotations written on the type (for fields, methods and constants
    /// these are the member's annotations).
    pub annotations: Annotations,
    /// Where the type is written.
    pub location: Location,
}

impl Type {
    /// Whether it has `@nullable`.
    pub fn is_nullable(&self) -> bool {
        self.annotations.has("nullable")
    }

    /// Whether it has `@nullable(heap=true)`.
    pub fn is_heap_nullable(&self) -> bool {
        self.annotations
            .get("nullable")
            .and_then(|a| a.param("heap"))
            .is_some_and(|v| v == &ConstValue::Boolean(true))
    }

    /// Whether it has `@utf8InCpp`.
    pub fn is_utf8_in_cpp(&self) -> bool {
        self.annotations.has("utf8InCpp")
    }

    /// Whether it is an array (`T[]` or `T[N]...`).
    pub fn is_array(&self) -> bool {
        self.array.is_some()
    }

    /// Whether it is an enum (not an array of one).
    pub fn is_enum(&self) -> bool {
        !self.is_array()
            && matches!(
                self.kind,
                TypeKind::Defined {
                    kind: DeclKind::Enum,
                    ..
                }
            )
    }

    /// The element type of an array (one dimension removed), or `None`.
    pub fn element(&self) -> Option<Type> {
        let mut t = self.clone();
        match &mut t.array {
            None => return None,
            Some(ArrayShape::Fixed(dims)) if dims.len() > 1 => {
                dims.remove(0);
            }
            Some(_) => t.array = None,
        }
        t.annotations = Annotations::default();
        Some(t)
    }

    /// The type name as AOSP writes it in signatures: `List<String>`, `int[3]`,
    /// `a.b.Foo[]`.
    pub fn signature(&self) -> String {
        let mut s = self.kind.signature();
        match &self.array {
            None => {}
            Some(ArrayShape::Dynamic) => s.push_str("[]"),
            Some(ArrayShape::Fixed(dims)) => {
                for d in dims {
                    s.push_str(&format!("[{d}]"));
                }
            }
        }
        s
    }
}

/// The type itself, without array suffix or annotations.
#[derive(Debug, Clone)]
pub enum TypeKind {
    /// `void` (method returns only).
    Void,
    /// A primitive.
    Primitive(Primitive),
    /// `String`
    String,
    /// `CharSequence` (Java backend only in AOSP)
    CharSequence,
    /// `IBinder`
    IBinder,
    /// `FileDescriptor`
    FileDescriptor,
    /// `ParcelFileDescriptor`
    ParcelFileDescriptor,
    /// `ParcelableHolder`
    ParcelableHolder,
    /// `List` or `List<T>` (`java.util.List` too).
    List(Option<Box<Type>>),
    /// `Map` or `Map<K, V>` (`java.util.Map` too).
    Map(Option<Box<(Type, Type)>>),
    /// A declared type, with generic arguments if any.
    Defined {
        /// The declaration.
        id: TypeId,
        /// Its fully qualified name.
        qualified_name: String,
        /// Its kind.
        kind: DeclKind,
        /// Generic arguments.
        args: Vec<Type>,
    },
    /// A generic parameter of the enclosing parcelable (`T`).
    TypeParameter(String),
}

impl TypeKind {
    /// AOSP's signature of the type (fully qualified for declared types).
    pub fn signature(&self) -> String {
        match self {
            TypeKind::Void => "void".into(),
            TypeKind::Primitive(p) => p.name().into(),
            TypeKind::String => "String".into(),
            TypeKind::CharSequence => "CharSequence".into(),
            TypeKind::IBinder => "IBinder".into(),
            TypeKind::FileDescriptor => "FileDescriptor".into(),
            TypeKind::ParcelFileDescriptor => "ParcelFileDescriptor".into(),
            TypeKind::ParcelableHolder => "ParcelableHolder".into(),
            TypeKind::List(None) => "List".into(),
            TypeKind::List(Some(t)) => format!("List<{}>", t.signature()),
            TypeKind::Map(None) => "Map".into(),
            TypeKind::Map(Some(kv)) => format!("Map<{},{}>", kv.0.signature(), kv.1.signature()),
            TypeKind::Defined {
                qualified_name,
                args,
                ..
            } => {
                if args.is_empty() {
                    qualified_name.clone()
                } else {
                    let a: Vec<String> = args.iter().map(|t| t.signature()).collect();
                    format!("{qualified_name}<{}>", a.join(","))
                }
            }
            TypeKind::TypeParameter(n) => n.clone(),
        }
    }

    /// The primitive, if it is one.
    pub fn primitive(&self) -> Option<Primitive> {
        match self {
            TypeKind::Primitive(p) => Some(*p),
            _ => None,
        }
    }

    /// The declared type's id, if it is one.
    pub fn defined(&self) -> Option<TypeId> {
        match self {
            TypeKind::Defined { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// Array suffix of a type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArrayShape {
    /// `T[]`
    Dynamic,
    /// `T[N]`, `T[N][M]`, ... with the evaluated dimensions.
    Fixed(Vec<u32>),
}

/// The annotations on a declaration or type, in source order.
#[derive(Debug, Clone, Default)]
pub struct Annotations(pub Vec<Annotation>);

impl Annotations {
    /// The first annotation called `name` (without `@`).
    pub fn get(&self, name: &str) -> Option<&Annotation> {
        self.0.iter().find(|a| a.name == name)
    }

    /// All annotations called `name` (some, like `@JavaPassthrough`, repeat).
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Annotation> + 'a {
        self.0.iter().filter(move |a| a.name == name)
    }

    /// Whether there is an annotation called `name`.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over the annotations.
    pub fn iter(&self) -> std::slice::Iter<'_, Annotation> {
        self.0.iter()
    }
}

/// One annotation with its evaluated parameters.
#[derive(Debug, Clone)]
pub struct Annotation {
    /// The name without `@` (`nullable`, `Backing`, ...).
    pub name: String,
    /// Parameters with values of the schema's types, in source order;
    /// `@A(x)` gives the parameter `value`.
    pub params: Vec<(String, ConstValue)>,
    /// Where the annotation is.
    pub location: Location,
}

impl Annotation {
    /// The value of a parameter.
    pub fn param(&self, name: &str) -> Option<&ConstValue> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// A `String` parameter.
    pub fn param_str(&self, name: &str) -> Option<&str> {
        self.param(name).and_then(|v| v.as_str())
    }

    /// A `boolean` parameter (`false` when absent).
    pub fn param_bool(&self, name: &str) -> bool {
        matches!(self.param(name), Some(ConstValue::Boolean(true)))
    }

    /// A `String[]` parameter as strings.
    pub fn param_str_list(&self, name: &str) -> Vec<&str> {
        match self.param(name) {
            Some(ConstValue::Array(items)) => items.iter().filter_map(|v| v.as_str()).collect(),
            _ => Vec::new(),
        }
    }
}
