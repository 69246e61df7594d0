//! Valid AOSP-style inputs: everything under `tests/fixtures/valid` must
//! check, and the model must carry the right names, values and codes.

use std::path::{Path, PathBuf};

use capbinder_idl::ast::Direction;
use capbinder_idl::model::{ArrayShape, ConstValue, DeclKind, Model, Primitive, TypeKind};
use capbinder_idl::Session;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn aidl_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            aidl_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "aidl") {
            out.push(p);
        }
    }
}

/// Checks every fixture file as an input, with the tree as include root.
fn check_tree() -> Model {
    let root = fixtures().join("valid");
    let mut files = Vec::new();
    aidl_files(&root, &mut files);
    assert!(files.len() > 20);
    let mut s = Session::new();
    s.add_include_dir(&root);
    for f in &files {
        s.add_input(f);
    }
    match s.check() {
        Ok(m) => m,
        Err(d) => panic!("{d}"),
    }
}

fn check_one(root: &str, rel: &str) -> Model {
    let root = fixtures().join(root);
    let mut s = Session::new();
    s.add_include_dir(fixtures().join("valid"));
    s.add_include_dir(&root);
    s.add_input(root.join(rel));
    match s.check() {
        Ok(m) => m,
        Err(d) => panic!("{d}"),
    }
}

#[test]
fn every_fixture_checks() {
    let m = check_tree();
    assert!(m.warnings().is_empty(), "{}", m.warnings());
    // every declared type is there, nested ones and union tags included
    for name in [
        "android.os.IServiceManager",
        "android.os.ITestService.Empty",
        "android.os.ITestService.CompilerChecks.Foo",
        "android.os.ITestService.CompilerChecks.UsingHasDeprecated.Tag",
        "android.os.TestUnion.Tag",
        "android.os.nested.ParcelableWithNested.Inner.Deep",
        "android.os.FixedSizeArrays.FixedUnion",
    ] {
        assert!(m.lookup(name).is_some(), "{name} missing");
    }
    // parents come before their nested types
    for t in m.types() {
        if let Some(p) = t.parent {
            assert!(p < t.id);
            assert!(m.get(p).nested.contains(&t.id));
        }
    }
}

#[test]
fn service_manager() {
    let m = check_tree();
    let sm = m.lookup("android.os.IServiceManager").unwrap();
    assert!(sm.is_hidden());
    assert!(sm.from_input);
    let doc = capbinder_idl::doc::doc_text(&sm.comments).unwrap();
    assert!(doc.starts_with("Basic interface for finding and publishing system services."));
    let i = sm.as_interface().unwrap();
    assert_eq!(i.descriptor, "android.os.IServiceManager");
    assert!(!i.oneway);
    let all = i
        .constants
        .iter()
        .find(|c| c.name == "DUMP_FLAG_PRIORITY_ALL")
        .unwrap();
    assert_eq!(all.value, ConstValue::Int(15));
    let proto = i
        .constants
        .iter()
        .find(|c| c.name == "DUMP_FLAG_PROTO")
        .unwrap();
    assert_eq!(proto.value, ConstValue::Int(16));
    // transaction codes follow declaration order from FIRST_CALL_TRANSACTION
    let names: Vec<(&str, u32)> = i
        .methods
        .iter()
        .map(|m| (m.name.as_str(), m.transaction_code))
        .collect();
    assert_eq!(names[0], ("getService", 1));
    assert_eq!(names[1], ("getService2", 2));
    assert_eq!(
        names.last().unwrap(),
        &("getServiceDebugInfo", names.len() as u32)
    );
    let get = &i.methods[0];
    assert!(get.deprecated().unwrap().starts_with("use checkService"));
    assert!(get.return_type.is_nullable());
    assert!(matches!(get.return_type.kind, TypeKind::IBinder));
    assert!(get.annotations().has("UnsupportedAppUsage"));
    assert!(get.args[0].ty.is_utf8_in_cpp());
    let add = i.methods.iter().find(|m| m.name == "addService").unwrap();
    assert_eq!(add.signature(), "addService(String, IBinder, boolean, int)");
    assert!(add
        .args
        .iter()
        .all(|a| a.direction == Direction::In && !a.direction_explicit));
    let cb = i
        .methods
        .iter()
        .find(|m| m.name == "registerForNotifications")
        .unwrap();
    match &cb.args[1].ty.kind {
        TypeKind::Defined {
            qualified_name,
            kind,
            ..
        } => {
            assert_eq!(qualified_name, "android.os.IServiceCallback");
            assert_eq!(*kind, DeclKind::Interface);
        }
        other => panic!("{other:?}"),
    }
    let callback = m
        .lookup("android.os.IServiceCallback")
        .unwrap()
        .as_interface()
        .unwrap();
    assert!(callback.oneway);
    assert!(callback.methods.iter().all(|m| m.oneway));
}

#[test]
fn enums_get_their_values() {
    let m = check_tree();
    let values = |name: &str| -> Vec<(String, i64)> {
        m.lookup(name)
            .unwrap()
            .as_enum()
            .unwrap()
            .enumerators
            .iter()
            .map(|e| (e.name.clone(), e.value))
            .collect()
    };
    let backend = m
        .lookup("android.os.BackendType")
        .unwrap()
        .as_enum()
        .unwrap();
    assert_eq!(backend.backing, Primitive::Byte);
    assert_eq!(
        values("android.os.BackendType")
            .iter()
            .map(|v| v.1)
            .collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    assert_eq!(
        values("android.os.ByteEnum")
            .iter()
            .map(|v| v.1)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let int_enum = m.lookup("android.os.IntEnum").unwrap().as_enum().unwrap();
    assert_eq!(int_enum.backing, Primitive::Int);
    assert_eq!(
        values("android.os.IntEnum")
            .iter()
            .map(|v| v.1)
            .collect::<Vec<_>>(),
        [1000, 2000, 2001, 2002]
    );
    assert_eq!(
        int_enum.enumerators[3].comments.deprecated().as_deref(),
        Some("do not use this")
    );
    let long_values = values("android.os.LongEnum");
    assert_eq!(long_values[2].1, 200000000001);
    assert_eq!(long_values[3].1, i64::MAX);
    let ce = values("android.os.ConstantExpressionEnum");
    for (name, v) in &ce[..10] {
        assert_eq!(*v, 1, "{name}");
    }
    assert_eq!(ce[10], ("fromOther".to_string(), 1000));
    assert_eq!(ce[11], ("afterOther".to_string(), 1001));
    // union tags: int-backed, one enumerator per field
    let tag = m.lookup("android.os.TestUnion.Tag").unwrap();
    assert!(tag.synthesized);
    let tag = tag.as_enum().unwrap();
    assert_eq!(tag.backing, Primitive::Int);
    assert_eq!(
        tag.enumerators
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>(),
        ["ns", "n", "m", "s", "ibinder", "ss", "be"]
    );
    let fixed_tag = m
        .lookup("android.os.FixedSizeArrays.FixedUnion.Tag")
        .unwrap()
        .as_enum()
        .unwrap();
    assert_eq!(fixed_tag.backing, Primitive::Byte);
}

#[test]
#[allow(clippy::approx_constant)] // the fixture says 3.14f
fn parcelable_defaults_and_constant_expressions() {
    let m = check_tree();
    let p = m.lookup("android.os.StructuredParcelable").unwrap();
    let f = |name: &str| {
        p.fields()
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    assert_eq!(
        f("stringDefaultsToFoo").default,
        Some(ConstValue::String("foo".into()))
    );
    assert_eq!(f("byteDefaultsToFour").default, Some(ConstValue::Byte(4)));
    assert_eq!(
        f("longDefaultsToNegativeSeven").default,
        Some(ConstValue::Long(-7))
    );
    assert_eq!(f("charDefaultsToC").default, Some(ConstValue::Char('C')));
    assert_eq!(
        f("floatDefaultsToPi").default,
        Some(ConstValue::Float(3.14))
    );
    assert_eq!(
        f("doubleWithDefault").default,
        Some(ConstValue::Double(-3.14e17))
    );
    assert_eq!(f("intDefault").default, Some(ConstValue::Int(0)));
    assert!(!f("intDefault").default_explicit);
    assert_eq!(f("shouldContainThreeFs").default, None);
    assert_eq!(f("int32_min").default, Some(ConstValue::Int(i32::MIN)));
    assert_eq!(f("hexInt32_neg_1").default, Some(ConstValue::Int(-1)));
    assert_eq!(f("hexInt32_pos_1").default, Some(ConstValue::Int(1)));
    assert_eq!(
        f("addString1").default,
        Some(ConstValue::String("hello world!".into()))
    );
    assert_eq!(
        f("arrayDefaultsTo123").default,
        Some(ConstValue::Array(vec![
            ConstValue::Int(1),
            ConstValue::Int(2),
            ConstValue::Int(3)
        ]))
    );
    for name in ["int32_1", "int64_1", "int8_1"] {
        let Some(ConstValue::Array(items)) = &f(name).default else {
            panic!("{name}")
        };
        assert!(items.len() >= 5);
        for (i, v) in items.iter().enumerate() {
            assert_eq!(v.as_i64(), Some(1), "{name}[{i}]");
        }
    }
    match &f("defaultWithIntEnum").default {
        Some(ConstValue::Enumerator {
            name,
            value,
            enum_type,
        }) => {
            assert_eq!(name, "FOO");
            assert_eq!(*value, 1000);
            assert_eq!(m.get(*enum_type).qualified_name, "android.os.IntEnum");
        }
        other => panic!("{other:?}"),
    }
    let bits = p
        .constants()
        .iter()
        .map(|c| (c.name.as_str(), c.value.clone()))
        .collect::<Vec<_>>();
    assert!(bits.contains(&("BIT2", ConstValue::Int(4))));
    assert!(bits.contains(&("CONCAT", ConstValue::String("hello, world".into()))));
    let t = m.lookup("android.os.ITestService").unwrap();
    let c = |name: &str| {
        t.constants()
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .value
            .clone()
    };
    assert_eq!(c("TEST_CONSTANT12"), ConstValue::Int(-1));
    assert_eq!(c("TEST_CONSTANT10"), ConstValue::Int(0xa5));
    assert_eq!(c("BYTE_WRAPPED"), ConstValue::Byte(-1));
    assert_eq!(c("LONG_TEST_CONSTANT"), ConstValue::Long(1 << 40));
    assert_eq!(c("FLOAT_NEGATIVE"), ConstValue::Float(-0.25));
    assert_eq!(c("DOUBLE_CONSTANT"), ConstValue::Double(1e6));
    assert_eq!(c("STRING_CONCAT"), ConstValue::String("foo-bar".into()));
    assert_eq!(c("FROM_OTHER_TYPE"), ConstValue::Int(5));
    assert_eq!(c("FROM_ENUM"), ConstValue::Long(200000000000));
    let u = m.lookup("android.os.TestUnion").unwrap();
    assert_eq!(u.constants()[1].value, ConstValue::Int(0));
    assert_eq!(u.fields()[0].default, Some(ConstValue::Array(vec![])));
}

#[test]
fn methods_directions_and_ids() {
    let m = check_tree();
    let t = m
        .lookup("android.os.ITestService")
        .unwrap()
        .as_interface()
        .unwrap();
    let method = |n: &str| t.methods.iter().find(|m| m.name == n).unwrap();
    let rev = method("ReverseInt");
    assert_eq!(rev.args[0].direction, Direction::In);
    assert!(rev.args[0].direction_explicit);
    assert_eq!(rev.args[1].direction, Direction::Out);
    assert_eq!(rev.return_type.signature(), "int[]");
    assert!(method("TestOneway").oneway);
    assert!(method("GetOtherTestService")
        .annotations()
        .has("PropagateAllowBlocking"));
    let tags = method("GetUnionTags");
    assert_eq!(tags.return_type.signature(), "android.os.TestUnion.Tag[]");
    assert_eq!(
        method("GetBinderMap").return_type.signature(),
        "Map<String,IBinder>"
    );
    let enforced = method("enforcedAnyOf")
        .annotations()
        .get("EnforcePermission")
        .unwrap();
    assert_eq!(
        enforced.param_str_list("anyOf"),
        ["INTERNET", "READ_PHONE_STATE"]
    );
    for (i, meth) in t.methods.iter().enumerate() {
        assert_eq!(meth.id, i as u32);
        assert_eq!(meth.transaction_code, i as u32 + 1);
    }
    let ids = m
        .lookup("android.os.IExplicitIds")
        .unwrap()
        .as_interface()
        .unwrap();
    let codes: Vec<u32> = ids.methods.iter().map(|m| m.transaction_code).collect();
    assert_eq!(codes, [1, 11, 21, 16777115]);
    assert!(ids.methods.iter().all(|m| m.explicit_id));
}

#[test]
fn generics_fixed_arrays_and_nesting() {
    let m = check_tree();
    let g = m.lookup("android.os.GenericParcelable").unwrap();
    assert_eq!(g.type_params(), ["T", "U", "B"]);
    assert!(matches!(g.fields()[2].ty.kind, TypeKind::TypeParameter(ref n) if n == "T"));
    let uses = m
        .lookup("android.os.UsesGeneric")
        .unwrap()
        .as_interface()
        .unwrap();
    assert_eq!(
        uses.methods[0].return_type.signature(),
        "android.os.GenericParcelable<android.os.IntEnum,String,IBinder>"
    );
    let fixed = m.lookup("android.os.FixedSizeArrays").unwrap();
    let matrix = fixed.fields().iter().find(|f| f.name == "matrix").unwrap();
    assert_eq!(matrix.ty.array, Some(ArrayShape::Fixed(vec![2, 3])));
    assert_eq!(matrix.ty.signature(), "long[2][3]");
    let nested = m.lookup("android.os.nested.ParcelableWithNested").unwrap();
    let deepest = nested
        .fields()
        .iter()
        .find(|f| f.name == "deepest")
        .unwrap();
    match &deepest.default {
        Some(ConstValue::Enumerator { name, value, .. }) => {
            assert_eq!((name.as_str(), *value), ("X", 7))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(nested.constants()[0].value, ConstValue::Int(8));
    let unstructured = m
        .lookup("android.os.PersistableBundle")
        .unwrap()
        .as_unstructured()
        .unwrap();
    assert_eq!(
        unstructured.cpp_header.as_deref(),
        Some("binder/PersistableBundle.h")
    );
    assert_eq!(
        unstructured.rust_type.as_deref(),
        Some("binder::PersistableBundle")
    );
}

#[test]
fn frozen_dump_uses_qualified_names_without_imports() {
    let m = check_one("frozen", "android/os/frozen/IFrozen.aidl");
    let f = m.lookup("android.os.frozen.IFrozen").unwrap();
    assert!(f.annotations.has("VintfStability"));
    let i = f.as_interface().unwrap();
    assert_eq!(i.constants[0].value, ConstValue::Int(16));
    assert_eq!(i.constants[1].value, ConstValue::Long(i64::MAX));
    assert_eq!(
        i.methods[3].return_type.signature(),
        "android.os.TestUnion.Tag"
    );
    // only the input is an input; what it pulled in is not
    assert_eq!(m.input_roots().count(), 1);
    assert!(!m.lookup("android.os.ServiceDebugInfo").unwrap().from_input);
}

#[test]
fn preprocessed_framework_declarations() {
    let mut s = Session::new();
    s.add_preprocessed(fixtures().join("framework.aidl"));
    s.add_input(fixtures().join("uses_framework/com/example/IUsesFramework.aidl"));
    let m = s.check().unwrap_or_else(|d| panic!("{d}"));
    let i = m
        .lookup("com.example.IUsesFramework")
        .unwrap()
        .as_interface()
        .unwrap();
    assert_eq!(
        i.methods[0].args[1].ty.signature(),
        "android.content.Intent"
    );
    assert_eq!(
        i.methods[1].return_type.signature(),
        "android.app.IActivityManager"
    );
}
