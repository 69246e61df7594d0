//! The annotations AIDL knows, what they may annotate and what parameters
//! they take (AOSP's `AidlAnnotation::AllSchemas`, Android 16, plus the
//! older `@Hide` and `@Enforce` so that older trees still check).

/// Where an annotation is written.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// On an `interface` declaration.
    Interface,
    /// On an `enum` declaration.
    Enum,
    /// On a structured `parcelable` declaration.
    StructuredParcelable,
    /// On a `union` declaration.
    Union,
    /// On an unstructured `parcelable Foo;` declaration.
    UnstructuredParcelable,
    /// On a constant.
    Const,
    /// On a field.
    Field,
    /// On a method.
    Method,
    /// On a type (return type, parameter type, field or constant type).
    Type,
}

impl Target {
    fn bit(self) -> u16 {
        match self {
            Target::Interface => 1 << 0,
            Target::Enum => 1 << 1,
            Target::StructuredParcelable => 1 << 2,
            Target::Union => 1 << 3,
            Target::UnstructuredParcelable => 1 << 4,
            Target::Const => 1 << 5,
            Target::Field => 1 << 6,
            Target::Method => 1 << 7,
            Target::Type => 1 << 8,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Target::Interface => "interface",
            Target::Enum => "enum",
            Target::StructuredParcelable => "parcelable definition",
            Target::Union => "union",
            Target::UnstructuredParcelable => "parcelable declaration",
            Target::Const => "constant",
            Target::Field => "field",
            Target::Method => "method",
            Target::Type => "type",
        }
    }

    const ALL: [Target; 9] = [
        Target::Interface,
        Target::Enum,
        Target::StructuredParcelable,
        Target::Union,
        Target::UnstructuredParcelable,
        Target::Const,
        Target::Field,
        Target::Method,
        Target::Type,
    ];
}

/// A set of [`Target`]s.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Targets(u16);

impl Targets {
    /// The set holding `targets`.
    pub fn of(targets: &[Target]) -> Targets {
        Targets(targets.iter().fold(0, |acc, t| acc | t.bit()))
    }

    /// Whether `self` and `other` share a target.
    pub fn intersects(self, other: Targets) -> bool {
        self.0 & other.0 != 0
    }

    /// The targets, described for messages (`interface, method`).
    pub fn describe(self) -> String {
        Target::ALL
            .iter()
            .filter(|t| self.0 & t.bit() != 0)
            .map(|t| t.describe())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

const TYPE_DECLS: u16 = 0b1_1111;
const MEMBERS: u16 = (1 << 5) | (1 << 6) | (1 << 7);
const ALL: u16 = 0b1_1111_1111;

/// The type of an annotation parameter.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ParamType {
    /// `String`
    String,
    /// `String[]`
    StringArray,
    /// `boolean`
    Boolean,
    /// `int`
    Int,
    /// `long`
    Long,
}

impl ParamType {
    /// The AIDL spelling.
    pub fn name(self) -> &'static str {
        match self {
            ParamType::String => "String",
            ParamType::StringArray => "String[]",
            ParamType::Boolean => "boolean",
            ParamType::Int => "int",
            ParamType::Long => "long",
        }
    }
}

/// One parameter of an annotation.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub ty: ParamType,
    /// Whether it must be given.
    pub required: bool,
}

/// What an annotation may annotate and which parameters it takes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Schema {
    /// The name without `@`.
    pub name: &'static str,
    /// Where it may be written.
    pub targets: Targets,
    /// Its parameters.
    pub params: &'static [Param],
    /// Whether it may be written more than once on the same item.
    pub repeatable: bool,
}

const fn p(name: &'static str, ty: ParamType) -> Param {
    Param {
        name,
        ty,
        required: false,
    }
}

const fn req(name: &'static str, ty: ParamType) -> Param {
    Param {
        name,
        ty,
        required: true,
    }
}

const fn schema(name: &'static str, targets: u16, params: &'static [Param]) -> Schema {
    Schema {
        name,
        targets: Targets(targets),
        params,
        repeatable: false,
    }
}

use ParamType as T;

/// Every annotation AIDL accepts.
pub static SCHEMAS: &[Schema] = &[
    schema("nullable", 1 << 8, &[p("heap", T::Boolean)]),
    schema("utf8InCpp", 1 << 8, &[]),
    schema("SensitiveData", 1 << 0, &[]),
    schema("VintfStability", TYPE_DECLS, &[]),
    schema(
        "UnsupportedAppUsage",
        TYPE_DECLS | MEMBERS,
        &[
            p("expectedSignature", T::String),
            p("implicitMember", T::String),
            p("maxTargetSdk", T::Int),
            p("publicAlternatives", T::String),
            p("trackingBug", T::Long),
            p("overrideSourcePosition", T::String),
        ],
    ),
    schema("JavaOnlyStableParcelable", 1 << 4, &[]),
    schema("NdkOnlyStableParcelable", 1 << 4, &[]),
    schema("RustOnlyStableParcelable", 1 << 4, &[]),
    schema("Backing", 1 << 1, &[req("type", T::String)]),
    Schema {
        name: "JavaPassthrough",
        targets: Targets(ALL),
        params: &[req("annotation", T::String)],
        repeatable: true,
    },
    schema(
        "JavaDerive",
        (1 << 2) | (1 << 3) | (1 << 1),
        &[p("toString", T::Boolean), p("equals", T::Boolean)],
    ),
    schema("JavaDefault", 1 << 0, &[]),
    schema("JavaDelegator", 1 << 0, &[]),
    schema("JavaOnlyImmutable", (1 << 2) | (1 << 3) | (1 << 4), &[]),
    schema("JavaSuppressLint", ALL, &[req("value", T::StringArray)]),
    schema("FixedSize", (1 << 2) | (1 << 3), &[]),
    schema("Descriptor", 1 << 0, &[req("value", T::String)]),
    schema(
        "RustDerive",
        (1 << 2) | (1 << 3),
        &[
            p("Copy", T::Boolean),
            p("Clone", T::Boolean),
            p("PartialOrd", T::Boolean),
            p("Ord", T::Boolean),
            p("PartialEq", T::Boolean),
            p("Eq", T::Boolean),
            p("Hash", T::Boolean),
        ],
    ),
    schema(
        "SuppressWarnings",
        TYPE_DECLS | MEMBERS,
        &[req("value", T::StringArray)],
    ),
    schema(
        "EnforcePermission",
        (1 << 0) | (1 << 7),
        &[
            p("value", T::String),
            p("anyOf", T::StringArray),
            p("allOf", T::StringArray),
        ],
    ),
    schema("PermissionManuallyEnforced", (1 << 0) | (1 << 7), &[]),
    schema("RequiresNoPermission", (1 << 0) | (1 << 7), &[]),
    schema("PropagateAllowBlocking", 1 << 7, &[]),
    // Android 12's @Hide and Android 13's @Enforce, accepted for older trees.
    schema("Hide", TYPE_DECLS | MEMBERS, &[]),
    // `@Enforce` first took `condition="..."`; AOSP then switched it to the
    // unnamed `@Enforce("...")` (`value`) before replacing it with
    // `@EnforcePermission`. Trees of both times exist, so either is taken
    // (exactly one, checked with the annotation).
    schema(
        "Enforce",
        (1 << 0) | (1 << 7),
        &[p("condition", T::String), p("value", T::String)],
    ),
];

/// The schema of annotation `name` (case-sensitive, without `@`).
pub fn lookup(name: &str) -> Option<&'static Schema> {
    SCHEMAS.iter().find(|s| s.name == name)
}

/// The names of all annotations, for "must be one of" messages.
pub fn all_names() -> String {
    SCHEMAS
        .iter()
        .map(|s| format!("@{}", s.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the annotation is one of the permission annotations.
pub fn is_permission(name: &str) -> bool {
    matches!(
        name,
        "EnforcePermission" | "PermissionManuallyEnforced" | "RequiresNoPermission" | "Enforce"
    )
}

impl Schema {
    /// The parameter called `name`.
    pub fn param(&self, name: &str) -> Option<&'static Param> {
        self.params.iter().find(|p| p.name == name)
    }
}
