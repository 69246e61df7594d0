//! Constant expressions: literal parsing and overflow-checked evaluation with
//! AOSP's typing rules (`aidl_const_expressions.cpp`).
//!
//! The rules, briefly:
//!
//! * A decimal literal is `int8` if it fits, else `int32`, else `int64`;
//!   `L` makes it `int64`, `u8` a wrapped `int8` (`255u8 == -1`), `u32` a
//!   wrapped `int32`. A hex literal is at least `int32` and wraps:
//!   `0xffffffff` is the `int32` -1, `0xffffffffff` an `int64`.
//! * Binary arithmetic promotes both operands to at least `int32` (then to
//!   the wider of the two) and computes with overflow checks; overflow,
//!   division by zero and shifting a negative value or too far are errors.
//!   A negative shift count shifts the other way.
//! * Comparisons and `&&`, `||` give booleans; unary operators keep the
//!   operand's width (`-(-128)` as an `int8` overflows).
//! * Strings concatenate with `+`; floats only take unary `+`/`-`.
//! * A value is then checked against the declared type: it must fit.

use crate::ast::{BinaryOp, IntKind, UnaryOp};
use crate::model::TypeId;

/// A typed constant value, as a code generator needs it.
#[derive(Clone, Debug, PartialEq)]
pub enum ConstValue {
    /// `boolean`
    Boolean(bool),
    /// `byte`
    Byte(i8),
    /// `char` (always ASCII in valid AIDL)
    Char(char),
    /// `int`
    Int(i32),
    /// `long`
    Long(i64),
    /// `float`
    Float(f32),
    /// `double`
    Double(f64),
    /// `String`
    String(String),
    /// An array value `{...}` (also for fixed-size arrays).
    Array(Vec<ConstValue>),
    /// An enumerator of an enum type.
    Enumerator {
        /// The enum.
        enum_type: TypeId,
        /// The enumerator's name.
        name: String,
        /// Its value (in the enum's backing type).
        value: i64,
    },
}

impl ConstValue {
    /// The value as an integer, for integral, boolean, char and enum values.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            ConstValue::Boolean(b) => Some(i64::from(*b)),
            ConstValue::Byte(v) => Some(i64::from(*v)),
            ConstValue::Char(c) => Some(i64::from(u32::from(*c))),
            ConstValue::Int(v) => Some(i64::from(*v)),
            ConstValue::Long(v) => Some(*v),
            ConstValue::Enumerator { value, .. } => Some(*value),
            _ => None,
        }
    }

    /// The string, for `String` values.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ConstValue::String(s) => Some(s),
            _ => None,
        }
    }
}

/// AIDL's spelling of a value (`1`, `2L`, `"s"`, `'c'`, `{1, 2}`, the
/// enumerator's name), for messages.
impl std::fmt::Display for ConstValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConstValue::Boolean(b) => write!(f, "{b}"),
            ConstValue::Byte(v) => write!(f, "{v}"),
            ConstValue::Char(c) => write!(f, "{c:?}"),
            ConstValue::Int(v) => write!(f, "{v}"),
            ConstValue::Long(v) => write!(f, "{v}L"),
            ConstValue::Float(v) => write!(f, "{v:?}f"),
            ConstValue::Double(v) => write!(f, "{v:?}"),
            ConstValue::String(s) => write!(f, "{s:?}"),
            ConstValue::Array(items) => {
                f.write_str("{")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("}")
            }
            ConstValue::Enumerator { name, .. } => f.write_str(name),
        }
    }
}

/// The value of an expression before it is fitted to a declared type
/// (AOSP's "final type" and "final value").
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Bool(bool),
    Int(IntKind, i64),
    Char(char),
    Str(String),
    /// `text` is the literal as written (with sign and `f` suffix), which
    /// decides whether it can be a `float`.
    Float {
        value: f64,
        text: String,
    },
    Array(Vec<Value>),
}

impl Value {
    /// How AOSP names the kind of a value in messages.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Value::Bool(_) => "a literal boolean",
            Value::Int(IntKind::Int8, _) => "an int8 literal",
            Value::Int(IntKind::Int32, _) => "an int32 literal",
            Value::Int(IntKind::Int64, _) => "an int64 literal",
            Value::Char(_) => "a literal char",
            Value::Str(_) => "a literal string",
            Value::Float { .. } => "a literal float",
            Value::Array(_) => "a literal array",
        }
    }

    fn int_like(&self) -> Option<i64> {
        match self {
            Value::Bool(b) => Some(i64::from(*b)),
            Value::Int(_, v) => Some(*v),
            _ => None,
        }
    }

    /// Width used for arithmetic: booleans and `int8` promote to `int32`.
    fn promoted(&self) -> Option<IntKind> {
        match self {
            Value::Bool(_) => Some(IntKind::Int32),
            Value::Int(k, _) => Some((*k).max(IntKind::Int32)),
            _ => None,
        }
    }
}

/// Parses an integer literal as AOSP's `ParseIntegral` does. `None` means
/// "could not parse" (bad digits, empty `_` pieces, several suffixes, or a
/// value out of range for its suffix).
pub(crate) fn parse_integral(text: &str) -> Option<(i64, IntKind)> {
    let mut v = text;
    let mut consume = |suffix: &str| -> bool {
        if let Some(rest) = v.strip_suffix(suffix) {
            v = rest;
            true
        } else {
            false
        }
    };
    let is_byte = consume("u8");
    let is_u32 = consume("u32");
    let is_long = consume("l") || consume("L");
    let is_u64 = consume("u64");
    if usize::from(is_byte) + usize::from(is_u32) + usize::from(is_long) + usize::from(is_u64) > 1 {
        return None;
    }
    let pieces: Vec<&str> = v.split('_').collect();
    if pieces.iter().any(|p| p.is_empty()) {
        return None;
    }
    let digits: String = pieces.concat();

    let hex = text.starts_with("0x") || text.starts_with("0X");
    if hex {
        let body = digits.get(2..)?;
        if body.is_empty() || !body.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        if is_byte {
            let raw = u8::from_str_radix(body, 16).ok()?;
            return Some((i64::from(raw as i8), IntKind::Int8));
        }
        if !is_long || is_u32 {
            if let Ok(raw) = u32::from_str_radix(body, 16) {
                return Some((i64::from(raw as i32), IntKind::Int32));
            }
        }
        let raw = u64::from_str_radix(body, 16).ok()?;
        return Some((raw as i64, IntKind::Int64));
    }

    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if is_u64 {
        let raw: u64 = digits.parse().ok()?;
        return Some((raw as i64, IntKind::Int64));
    }
    let value: i64 = digits.parse().ok()?;
    if is_byte {
        if !(0..=i64::from(u8::MAX)).contains(&value) {
            return None;
        }
        return Some((i64::from(value as u8 as i8), IntKind::Int8));
    }
    if is_u32 {
        if !(0..=i64::from(u32::MAX)).contains(&value) {
            return None;
        }
        return Some((i64::from(value as u32 as i32), IntKind::Int32));
    }
    if is_long {
        return Some((value, IntKind::Int64));
    }
    let kind = if i8::try_from(value).is_ok() {
        IntKind::Int8
    } else if i32::try_from(value).is_ok() {
        IntKind::Int32
    } else {
        IntKind::Int64
    };
    Some((value, kind))
}

/// Parses a float literal's text (`1.5f`, `2e3`) into its value.
pub(crate) fn parse_float(text: &str) -> Option<f64> {
    let t = text.strip_suffix('f').unwrap_or(text);
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Whether a character may appear in AIDL char and string literals:
/// printable ASCII other than backslash.
pub(crate) fn is_valid_literal_char(c: char) -> bool {
    let u = u32::from(c);
    (0x20..0x7f).contains(&u) && c != '\\'
}

const OVERFLOW: &str = "constant expression computation overflows";

fn bits(kind: IntKind) -> u32 {
    match kind {
        IntKind::Int8 => 8,
        IntKind::Int32 => 32,
        IntKind::Int64 => 64,
    }
}

fn min_of(kind: IntKind) -> i64 {
    match kind {
        IntKind::Int8 => i64::from(i8::MIN),
        IntKind::Int32 => i64::from(i32::MIN),
        IntKind::Int64 => i64::MIN,
    }
}

fn fits(kind: IntKind, v: i128) -> bool {
    match kind {
        IntKind::Int8 => i8::try_from(v).is_ok(),
        IntKind::Int32 => i32::try_from(v).is_ok(),
        IntKind::Int64 => i64::try_from(v).is_ok(),
    }
}

/// Wraps `v` to the width of `kind`, like a C cast.
fn wrap(kind: IntKind, v: i64) -> i64 {
    match kind {
        IntKind::Int8 => i64::from(v as i8),
        IntKind::Int32 => i64::from(v as i32),
        IntKind::Int64 => v,
    }
}

/// Applies a unary operator.
pub(crate) fn unary(op: UnaryOp, v: &Value) -> Result<Value, String> {
    match v {
        Value::Bool(b) => match op {
            UnaryOp::Plus => Ok(Value::Bool(*b)),
            UnaryOp::Not => Ok(Value::Bool(!*b)),
            // AOSP's OverflowGuard<bool>: -false overflows, -true is true
            UnaryOp::Minus => {
                if *b {
                    Ok(Value::Bool(true))
                } else {
                    Err(OVERFLOW.to_string())
                }
            }
            UnaryOp::BitNot => {
                Err("bitwise negation of a boolean expression is always true".to_string())
            }
        },
        Value::Int(kind, x) => {
            let kind = *kind;
            let x = *x;
            let r = match op {
                UnaryOp::Plus => x,
                UnaryOp::Minus => {
                    if x == min_of(kind) {
                        return Err(OVERFLOW.to_string());
                    }
                    -x
                }
                UnaryOp::Not => i64::from(x == 0),
                UnaryOp::BitNot => wrap(kind, !x),
            };
            Ok(Value::Int(kind, r))
        }
        Value::Float { value, text } if matches!(op, UnaryOp::Plus | UnaryOp::Minus) => {
            let (value, sign) = if op == UnaryOp::Minus {
                (-value, "-")
            } else {
                (*value, "+")
            };
            Ok(Value::Float {
                value,
                text: format!("{sign}{text}"),
            })
        }
        other => Err(format!(
            "`{}` cannot be applied to {}",
            op.as_str(),
            other.describe()
        )),
    }
}

/// Applies a binary operator.
pub(crate) fn binary(op: BinaryOp, l: &Value, r: &Value) -> Result<Value, String> {
    match (l, r) {
        (Value::Str(a), Value::Str(b)) => {
            if op == BinaryOp::Add {
                Ok(Value::Str(format!("{a}{b}")))
            } else {
                Err(format!(
                    "only `+` is supported for strings, not `{}`",
                    op.as_str()
                ))
            }
        }
        (Value::Array(_), Value::Array(_)) => Err(format!(
            "operation `{}` is not supported with array literals",
            op.as_str()
        )),
        _ => {
            let (Some(a), Some(b), Some(pa), Some(pb)) =
                (l.int_like(), r.int_like(), l.promoted(), r.promoted())
            else {
                return Err(format!(
                    "cannot perform operation `{}` on {} and {}",
                    op.as_str(),
                    l.describe(),
                    r.describe()
                ));
            };
            let kind = pa.max(pb);
            match op {
                BinaryOp::LogicalOr => Ok(Value::Bool(a != 0 || b != 0)),
                BinaryOp::LogicalAnd => Ok(Value::Bool(a != 0 && b != 0)),
                BinaryOp::Eq => Ok(Value::Bool(a == b)),
                BinaryOp::Ne => Ok(Value::Bool(a != b)),
                BinaryOp::Lt => Ok(Value::Bool(a < b)),
                BinaryOp::Gt => Ok(Value::Bool(a > b)),
                BinaryOp::Le => Ok(Value::Bool(a <= b)),
                BinaryOp::Ge => Ok(Value::Bool(a >= b)),
                BinaryOp::BitOr => Ok(Value::Int(kind, a | b)),
                BinaryOp::BitXor => Ok(Value::Int(kind, a ^ b)),
                BinaryOp::BitAnd => Ok(Value::Int(kind, a & b)),
                BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul => {
                    let (a, b) = (i128::from(a), i128::from(b));
                    let r = match op {
                        BinaryOp::Add => a + b,
                        BinaryOp::Sub => a - b,
                        _ => a * b,
                    };
                    if fits(kind, r) {
                        Ok(Value::Int(kind, r as i64))
                    } else {
                        Err(OVERFLOW.to_string())
                    }
                }
                BinaryOp::Div | BinaryOp::Rem => {
                    if b == 0 {
                        return Err("division by zero in constant expression".to_string());
                    }
                    if a == min_of(kind) && b == -1 {
                        return Err(OVERFLOW.to_string());
                    }
                    Ok(Value::Int(
                        kind,
                        if op == BinaryOp::Div { a / b } else { a % b },
                    ))
                }
                BinaryOp::Shl | BinaryOp::Shr => shift(op, kind, a, b),
            }
        }
    }
}

fn shift(op: BinaryOp, kind: IntKind, value: i64, count: i64) -> Result<Value, String> {
    // a negative count shifts the other way (AOSP's definition)
    let (left, count) = if count < 0 {
        (op != BinaryOp::Shl, count.checked_neg().ok_or(OVERFLOW)?)
    } else {
        (op == BinaryOp::Shl, count)
    };
    let width = i64::from(bits(kind));
    if count >= width || value < 0 {
        return Err(OVERFLOW.to_string());
    }
    if left {
        // the bits shifted out must all be zero (AOSP: count <= clz(value))
        let unsigned = (value as u64) & (u64::MAX >> (64 - width));
        let clz = i64::from(unsigned.leading_zeros()) - (64 - width);
        if count > clz {
            return Err(OVERFLOW.to_string());
        }
        Ok(Value::Int(kind, wrap(kind, value << count)))
    } else {
        Ok(Value::Int(kind, value >> count))
    }
}

/// The scalar types a value can be fitted to.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Scalar {
    Boolean,
    Byte,
    Char,
    Int,
    Long,
    Float,
    Double,
    String,
}

impl Scalar {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scalar::Boolean => "boolean",
            Scalar::Byte => "byte",
            Scalar::Char => "char",
            Scalar::Int => "int",
            Scalar::Long => "long",
            Scalar::Float => "float",
            Scalar::Double => "double",
            Scalar::String => "String",
        }
    }
}

/// Why a value does not fit a declared type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FitError {
    pub(crate) message: String,
    pub(crate) help: Option<String>,
}

/// Fits a value to a scalar type (AOSP's `ValueString`). `literal` is the
/// expression's text when the expression is a plain literal, used to
/// suggest a `u8`/`u32` suffix.
pub(crate) fn fit_scalar(
    v: &Value,
    target: Scalar,
    literal: Option<&str>,
) -> Result<ConstValue, FitError> {
    let mismatch = || FitError {
        message: format!(
            "mismatched types: expected `{}`, found {}",
            target.name(),
            v.describe()
        ),
        help: None,
    };
    match v {
        Value::Char(c) => match target {
            Scalar::Char => Ok(ConstValue::Char(*c)),
            _ => Err(mismatch()),
        },
        Value::Str(s) => match target {
            Scalar::String => Ok(ConstValue::String(s.clone())),
            _ => Err(mismatch()),
        },
        Value::Bool(_) | Value::Int(..) => {
            let x = v.int_like().unwrap_or(0);
            let out_of_range = |suffix: &str, max: i64| FitError {
                message: format!("value {x} is out of range for `{}`", target.name()),
                help: literal.filter(|_| (0..=max).contains(&x)).map(|text| {
                    format!("to write a wrapped value, add a suffix: `{text}{suffix}`")
                }),
            };
            match target {
                Scalar::Byte => i8::try_from(x)
                    .map(ConstValue::Byte)
                    .map_err(|_| out_of_range("u8", i64::from(u8::MAX))),
                Scalar::Int => i32::try_from(x)
                    .map(ConstValue::Int)
                    .map_err(|_| out_of_range("u32", i64::from(u32::MAX))),
                Scalar::Long => Ok(ConstValue::Long(x)),
                Scalar::Boolean => Ok(ConstValue::Boolean(x != 0)),
                _ => Err(mismatch()),
            }
        }
        Value::Float { value, text } => match target {
            Scalar::Double => Ok(ConstValue::Double(*value)),
            Scalar::Float => {
                if text.ends_with('f') {
                    Ok(ConstValue::Float(*value as f32))
                } else {
                    Err(FitError {
                        message: format!("`{text}` is a double literal, but the type is `float`"),
                        help: Some(format!("write a float literal: `{text}f`")),
                    })
                }
            }
            _ => Err(mismatch()),
        },
        Value::Array(_) => Err(mismatch()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IntKind::*;

    #[test]
    fn integral_literals() {
        assert_eq!(parse_integral("1"), Some((1, Int8)));
        assert_eq!(parse_integral("128"), Some((128, Int32)));
        assert_eq!(parse_integral("2147483648"), Some((2147483648, Int64)));
        assert_eq!(parse_integral("1L"), Some((1, Int64)));
        assert_eq!(parse_integral("255u8"), Some((-1, Int8)));
        assert_eq!(parse_integral("256u8"), None);
        assert_eq!(parse_integral("4294967295u32"), Some((-1, Int32)));
        assert_eq!(parse_integral("0xff"), Some((255, Int32)));
        assert_eq!(parse_integral("0xffu8"), Some((-1, Int8)));
        assert_eq!(parse_integral("0xffffffff"), Some((-1, Int32)));
        assert_eq!(parse_integral("0xffffffffL"), Some((0xffffffff, Int64)));
        assert_eq!(parse_integral("0x1ffffffff"), Some((0x1ffffffff, Int64)));
        assert_eq!(parse_integral("0xffffffffffffffff"), Some((-1, Int64)));
        assert_eq!(parse_integral("0x1ffffffffffffffff"), None);
        assert_eq!(parse_integral("1_000_000"), Some((1_000_000, Int32)));
        assert_eq!(parse_integral("1__0"), None);
        assert_eq!(parse_integral("1_"), None);
        assert_eq!(parse_integral("1u8L"), None);
        assert_eq!(parse_integral("010"), Some((10, Int8)));
        assert_eq!(parse_integral("9223372036854775808"), None);
        assert_eq!(parse_integral("18446744073709551615u64"), Some((-1, Int64)));
    }

    fn i(k: IntKind, v: i64) -> Value {
        Value::Int(k, v)
    }

    #[test]
    fn arithmetic_promotes_and_checks_overflow() {
        assert_eq!(
            binary(BinaryOp::Add, &i(Int8, 127), &i(Int8, 1)),
            Ok(i(Int32, 128))
        );
        assert!(binary(BinaryOp::Add, &i(Int32, i64::from(i32::MAX)), &i(Int8, 1)).is_err());
        assert_eq!(
            binary(BinaryOp::Add, &i(Int64, i64::from(i32::MAX)), &i(Int8, 1)),
            Ok(i(Int64, 2147483648))
        );
        assert_eq!(
            binary(BinaryOp::Shl, &i(Int8, 1), &i(Int8, 31)),
            Ok(i(Int32, i64::from(i32::MIN)))
        );
        assert!(binary(BinaryOp::Shl, &i(Int8, 2), &i(Int8, 31)).is_err());
        assert!(binary(BinaryOp::Shl, &i(Int8, 1), &i(Int8, 32)).is_err());
        assert_eq!(
            binary(BinaryOp::Shl, &i(Int8, 8), &i(Int8, -1)),
            Ok(i(Int32, 4))
        );
        assert!(binary(BinaryOp::Shr, &i(Int8, -8), &i(Int8, 1)).is_err());
        assert!(binary(BinaryOp::Div, &i(Int8, 1), &i(Int8, 0)).is_err());
        assert!(binary(BinaryOp::Div, &i(Int32, i64::from(i32::MIN)), &i(Int8, -1)).is_err());
        assert_eq!(
            binary(BinaryOp::Eq, &i(Int32, -1), &i(Int32, -1)),
            Ok(Value::Bool(true))
        );
        assert_eq!(unary(UnaryOp::BitNot, &i(Int8, 0)), Ok(i(Int8, -1)));
        assert!(unary(UnaryOp::Minus, &i(Int8, -128)).is_err());
        assert!(unary(UnaryOp::BitNot, &Value::Bool(true)).is_err());
        assert_eq!(
            binary(
                BinaryOp::Add,
                &Value::Str("a".into()),
                &Value::Str("b".into())
            ),
            Ok(Value::Str("ab".into()))
        );
        assert!(binary(
            BinaryOp::Sub,
            &Value::Str("a".into()),
            &Value::Str("b".into())
        )
        .is_err());
        assert!(binary(BinaryOp::Add, &Value::Str("a".into()), &i(Int8, 1)).is_err());
    }

    #[test]
    fn fitting() {
        assert_eq!(
            fit_scalar(&i(Int32, -1), Scalar::Int, None),
            Ok(ConstValue::Int(-1))
        );
        let e = fit_scalar(&i(Int32, 255), Scalar::Byte, Some("0xFF")).unwrap_err();
        assert_eq!(
            e.help.as_deref(),
            Some("to write a wrapped value, add a suffix: `0xFFu8`")
        );
        assert!(fit_scalar(&i(Int64, 1 << 40), Scalar::Int, None).is_err());
        let f = Value::Float {
            value: 1.5,
            text: "1.5".into(),
        };
        assert_eq!(
            fit_scalar(&f, Scalar::Double, None),
            Ok(ConstValue::Double(1.5))
        );
        assert!(fit_scalar(&f, Scalar::Float, None).is_err());
    }
}
