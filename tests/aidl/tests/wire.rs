//! Generated code in one process, without a mediator: defaults from the
//! `.aidl`, parcel round trips, two versions of one parcelable, open enums,
//! unions, refusing bad input, local objects called directly, and the
//! stub's dispatch.

use std::collections::BTreeMap;
use std::sync::Arc;

use capbinder::{interface_cast, Binder, ExceptionCode, Parcel, Parcelable, SpIBinder, StatusCode};
use capbinder_aidl_tests::aidl::capbinder::test::{
    i_test_service, payload, v1, v2, value, BnTestService, ITestService, ITestServiceDefault, Kind,
    Payload, Value,
};
use capbinder_aidl_tests::golden::maps::kv::store::{BnWatcher, Choice, Entry, IWatcher, Table};
use capbinder_aidl_tests::golden::types::org::types::{
    everything, shape, Empty, Everything, Mode, Shape, Wide, URL,
};
use capbinder_aidl_tests::service::TestService;

fn round_trip<T: Parcelable>(v: &T) -> T {
    let mut p = Parcel::new();
    v.write_to(&mut p).unwrap();
    p.rewind();
    let back = T::read_from(&mut p).unwrap();
    assert_eq!(
        p.remaining(),
        0,
        "the reader consumed exactly what was written"
    );
    back
}

#[test]
fn defaults_come_from_the_aidl() {
    let p = Payload::default();
    assert_eq!(p.number, 7);
    assert_eq!(p.big, -1);
    assert_eq!(p.ratio, 0.5);
    assert_eq!(p.name, "payload");
    assert_eq!(p.kind, Kind::B);
    assert_eq!(p.triple, [1, 2, 3]);
    assert_eq!(p.inner.letter, u16::from(b'q'));
    assert!(!p.inner.on);
    assert_eq!(
        p.value,
        Value::Number(5),
        "a union defaults to its first field"
    );
    assert_eq!(p.next, None);

    let e = Everything::default();
    assert!(e.flag);
    assert_eq!(e.b, i8::MIN);
    assert_eq!(e.c, u16::from(b'x'));
    assert_eq!(e.i, i32::MIN);
    assert_eq!(e.l, 1 << 40);
    assert_eq!(e.f, -0.5);
    assert_eq!(e.s, "default");
    assert_eq!(e.ns_default.as_deref(), Some("maybe"));
    assert_eq!(e.bytes, vec![1, 255], "byte[] is Vec<u8>: -1 is 255");
    assert_eq!(e.grid, [[1, 2, 3], [4, 5, 6]]);
    assert_eq!(e.big, [0u8; 40]);
    assert_eq!(e.mode, Mode::FAST);
    assert_eq!(e.plain_mode, Mode(0), "an enum without a default is 0");
    assert_eq!(e.shape, Shape::Circle(3));
    assert_eq!(e.inner.x, 7);
    assert_eq!(e.inner.level, everything::inner::Level::HIGH);
    assert_eq!(Everything::LIMIT, 10);
    assert_eq!(Everything::GREETING, "hi there");
    assert_eq!(Everything::BIG, 1 << 40);
    assert_eq!(Everything::kMagic, 0x7f);
    assert_eq!(Shape::SIDES, 4);
    assert_eq!(Wide::MIN.0, i64::MIN);
    assert_eq!(Mode::ALIAS, Mode::FAST);
    assert_eq!(Mode::NEGATIVE.0, -128);
}

#[test]
fn parcelables_unions_and_enums_round_trip_through_a_parcel() {
    let p = Payload {
        number: 1,
        maybe: Some("m".into()),
        bytes: vec![1, 2, 3],
        words: vec!["a".into()],
        value: Value::Kind(Kind::C),
        inner: payload::Inner {
            on: true,
            letter: 65,
        },
        next: Some(Box::new(Payload::default())),
        ..Payload::default()
    };
    assert_eq!(round_trip(&p), p);
    for v in [
        Value::Number(-1),
        Value::Text("t".into()),
        Value::Kind(Kind(9)),
        Value::Binder(None),
        Value::Words(vec!["x".into(), String::new()]),
    ] {
        assert_eq!(round_trip(&v), v);
    }
    let u = URL {
        spec: "https://example.org".into(),
        r#type: 1,
        r#match: 2,
        self_: 3,
        fn_name: 4,
    };
    assert_eq!(round_trip(&u), u);
    assert_eq!(round_trip(&Empty::default()), Empty::default());
    assert_eq!(round_trip(&Wide::MIN), Wide::MIN);
    assert_eq!(
        round_trip(&vec![Mode::SLOW, Mode(77)]),
        vec![Mode::SLOW, Mode(77)]
    );
}

#[test]
fn enums_are_open_and_print_their_names() {
    assert_eq!(round_trip(&Kind(12345)), Kind(12345));
    assert_eq!(format!("{:?}", Kind::C), "C");
    assert_eq!(format!("{:?}", Kind(12345)), "Kind(12345)");
    assert_eq!(
        format!("{:?}", Mode::ALIAS),
        "FAST",
        "an alias prints the first name"
    );
    assert_eq!(Kind::enum_values(), [Kind::A, Kind::B, Kind::C]);
    assert_eq!(Value::Text("x".into()).tag(), value::Tag::text);
    assert_eq!(Shape::Points(vec![]).tag(), shape::Tag::points);
}

#[test]
fn an_older_reader_skips_a_newer_writers_fields() {
    let new = v2::Record {
        id: 3,
        name: "three".into(),
        tags: vec!["a".into(), "b".into()],
        note: Some("n".into()),
        kind: Kind::A,
    };
    let mut p = Parcel::new();
    new.write_to(&mut p).unwrap();
    vec![new.clone(), new.clone()].write_to(&mut p).unwrap();
    "after".write_to(&mut p).unwrap();
    p.rewind();
    let old = v1::Record::read_from(&mut p).unwrap();
    assert_eq!(
        old,
        v1::Record {
            id: 3,
            name: "three".into()
        }
    );
    let olds = Vec::<v1::Record>::read_from(&mut p).unwrap();
    assert_eq!(olds, vec![old.clone(), old]);
    assert_eq!(
        String::read_from(&mut p).unwrap(),
        "after",
        "nothing after it was lost"
    );
}

#[test]
fn a_newer_reader_gives_an_older_writers_missing_fields_their_defaults() {
    let old = v1::Record {
        id: 4,
        name: "four".into(),
    };
    let mut p = Parcel::new();
    old.write_to(&mut p).unwrap();
    Some(old.clone()).write_to(&mut p).unwrap();
    7i32.write_to(&mut p).unwrap();
    p.rewind();
    let new = v2::Record::read_from(&mut p).unwrap();
    assert_eq!(new.id, 4);
    assert_eq!(new.name, "four");
    assert!(new.tags.is_empty());
    assert_eq!(new.note.as_deref(), Some("v2 default"));
    assert_eq!(new.kind, Kind::C);
    let again = Option::<v2::Record>::read_from(&mut p).unwrap();
    assert_eq!(again, Some(new));
    assert_eq!(i32::read_from(&mut p).unwrap(), 7);
}

#[test]
fn an_unknown_union_tag_is_refused() {
    // a union written by a newer version with a field this one lacks
    let mut p = Parcel::new();
    capbinder::parcelable::write_section(&mut p, |p| {
        99i32.write_to(p)?;
        "new".write_to(p)
    })
    .unwrap();
    p.rewind();
    let e = Value::read_from(&mut p).unwrap_err();
    assert_eq!(e.exception, ExceptionCode::BadParcelable);
    assert!(e.message.contains("tag 99"), "{e}");
}

#[test]
fn a_non_nullable_binder_field_must_be_set() {
    let e = Everything::default()
        .write_to(&mut Parcel::new())
        .unwrap_err();
    assert_eq!(e.code, StatusCode::UnexpectedNull);
    assert!(e.message.contains("Everything.binder"), "{e}");
    let e = Shape::StrongHandle(None)
        .write_to(&mut Parcel::new())
        .unwrap_err();
    assert_eq!(e.code, StatusCode::UnexpectedNull);
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut valid = Parcel::new();
    Payload::default().write_to(&mut valid).unwrap();
    let template = valid.bytes().to_vec();
    for round in 0..3000 {
        let mut bytes = if round % 2 == 0 {
            template.clone()
        } else {
            (0..(next() % 64)).map(|_| next() as u8).collect()
        };
        if !bytes.is_empty() {
            for _ in 0..(1 + next() % 4) {
                let i = (next() as usize) % bytes.len();
                bytes[i] = next() as u8;
            }
        }
        // a u8 is one raw byte in a parcel: this parcel holds `bytes`
        let mut p = Parcel::new();
        for b in &bytes {
            p.write(b).unwrap();
        }
        let _ = Payload::read_from(&mut p);
        p.rewind();
        let _ = Value::read_from(&mut p);
        p.rewind();
        let _ = v2::Record::read_from(&mut p);
        p.rewind();
        let _ = Vec::<Payload>::read_from(&mut p);
        p.rewind();
        let _ = Table::read_from(&mut p);
        p.rewind();
        let _ = BTreeMap::<String, Payload>::read_from(&mut p);
    }
}

struct Watcher;

impl IWatcher for Watcher {
    fn changed(&self, _key: &str) -> capbinder::Result<()> {
        Ok(())
    }
}

#[test]
fn maps_in_every_field_round_trip_through_a_parcel() {
    // the golden case `maps`: a map in each position
    let t = Table::default();
    assert_eq!(t.id, 1);
    assert!(t.entries.is_empty() && t.tags.is_none() && t.watchers.is_empty());
    assert_eq!(round_trip(&t), t);
    assert_eq!(Choice::default(), Choice::Labels(BTreeMap::new()));

    let entry = |name: &str, counts: &[i32]| Entry {
        name: name.into(),
        counts: counts.to_vec(),
    };
    let watcher: Arc<dyn IWatcher> = BnWatcher::new_interface(Watcher);
    let binder = BnTestService::new_binder(TestService::default());
    let t = Table {
        id: 5,
        entries: BTreeMap::from([
            ("b".into(), entry("b", &[2])),
            ("a".into(), entry("a", &[])),
        ]),
        tags: Some(BTreeMap::from([("k".into(), "v".into())])),
        nested: BTreeMap::from([
            (
                "in".into(),
                BTreeMap::from([("x".into(), entry("x", &[1, 2, 3]))]),
            ),
            ("empty".into(), BTreeMap::new()),
        ]),
        lists: BTreeMap::from([("l".into(), vec![entry("l0", &[]), entry("l1", &[-1])])]),
        arrays: BTreeMap::from([("arr".into(), vec![entry("a0", &[0])])]),
        blobs: BTreeMap::from([("bytes".into(), vec![0u8, 255, 7])]),
        names: BTreeMap::from([("n".into(), vec!["one".into(), "two".into()])]),
        pairs: BTreeMap::from([("p".into(), [3, 4])]),
        watchers: BTreeMap::from([("w".into(), watcher.clone())]),
        binders: BTreeMap::from([("b".into(), binder.clone())]),
        fds: BTreeMap::new(),
        choices: BTreeMap::from([
            (
                "labels".into(),
                Choice::Labels(BTreeMap::from([("l".into(), "m".into())])),
            ),
            ("number".into(), Choice::Number(9)),
            ("none".into(), Choice::Entries(None)),
            (
                "some".into(),
                Choice::Entries(Some(BTreeMap::from([("e".into(), entry("e", &[5]))]))),
            ),
        ]),
        qualified: BTreeMap::from([("java.util.Map".into(), "too".into())]),
    };
    let back = round_trip(&t);
    assert_eq!(back, t);
    assert_eq!(back.watchers["w"].as_binder(), watcher.as_binder());
    assert_eq!(back.binders["b"], binder);

    // the same map, built in another order, is the same bytes
    let mut a = Parcel::new();
    t.write_to(&mut a).unwrap();
    let mut reordered = t.clone();
    reordered.entries = BTreeMap::from([
        ("a".into(), entry("a", &[])),
        ("b".into(), entry("b", &[2])),
    ]);
    let mut b = Parcel::new();
    reordered.write_to(&mut b).unwrap();
    assert_eq!(a.bytes(), b.bytes());
}

#[test]
fn a_garbled_map_argument_is_bad_parcelable() {
    let stub = BnTestService::new(TestService::default());
    // a length no parcel could hold
    let mut data = Parcel::new();
    data.write(&u64::MAX).unwrap();
    data.rewind();
    let e = stub
        .on_transact(
            i_test_service::transactions::REPEAT_PAYLOAD_MAP,
            &mut data,
            &mut Parcel::new(),
        )
        .unwrap_err();
    assert_eq!(e.exception, ExceptionCode::BadParcelable, "{e}");
    // a key twice
    let mut data = Parcel::new();
    data.write(&2u64).unwrap();
    for _ in 0..2 {
        "same".write_to(&mut data).unwrap();
        Payload::default().write_to(&mut data).unwrap();
    }
    data.rewind();
    let e = stub
        .on_transact(
            i_test_service::transactions::REPEAT_PAYLOAD_MAP,
            &mut data,
            &mut Parcel::new(),
        )
        .unwrap_err();
    assert_eq!(e.exception, ExceptionCode::BadParcelable, "{e}");
    // and the well-formed one is answered
    let mut data = Parcel::new();
    BTreeMap::from([("one".to_string(), Payload::default())])
        .write_to(&mut data)
        .unwrap();
    data.rewind();
    let mut reply = Parcel::new();
    stub.on_transact(
        i_test_service::transactions::REPEAT_PAYLOAD_MAP,
        &mut data,
        &mut reply,
    )
    .unwrap();
}

#[test]
fn local_objects_are_called_directly() {
    // no mediator: a local object made by the stub is called in place,
    // `out` and `inout` included
    let binder = BnTestService::new_binder(TestService::default());
    let s = interface_cast::<dyn ITestService>(binder.clone()).unwrap();
    assert_eq!(s.repeat_string("local").unwrap(), "local");
    let mut repeated = Vec::new();
    assert_eq!(s.reverse_ints(&[1, 2], &mut repeated).unwrap(), vec![2, 1]);
    assert_eq!(repeated, vec![1, 2]);
    let mut p = Payload::default();
    s.bump_payload(&mut p).unwrap();
    assert_eq!(p.number, 8);
    assert_eq!(s.as_binder(), Some(binder.clone()));
    // the same object, whichever way it was obtained, compares equal
    let again = interface_cast::<dyn ITestService>(binder).unwrap();
    assert!(*again == *s);
    let plain: Arc<dyn ITestService> = Arc::new(TestService::default());
    assert!(*plain != *s);
    assert!(
        format!("{s:?}").contains("capbinder.test.ITestService"),
        "{s:?}"
    );
}

#[test]
fn the_stub_dispatches_by_transaction_code() {
    let stub = BnTestService::new(TestService::default());
    assert_eq!(stub.descriptor(), i_test_service::DESCRIPTOR);
    let mut data = Parcel::new();
    "x".write_to(&mut data).unwrap();
    data.rewind();
    let mut reply = Parcel::new();
    stub.on_transact(
        i_test_service::transactions::REPEAT_STRING,
        &mut data,
        &mut reply,
    )
    .unwrap();
    reply.rewind();
    assert_eq!(String::read_from(&mut reply).unwrap(), "x");
    let e = stub
        .on_transact(0x00ff_0000, &mut Parcel::new(), &mut Parcel::new())
        .unwrap_err();
    assert_eq!(e.code, StatusCode::UnknownTransaction);
    // arguments that do not decode are BadParcelable, not a panic
    let e = stub
        .on_transact(
            i_test_service::transactions::REPEAT_PAYLOAD,
            &mut Parcel::new(),
            &mut Parcel::new(),
        )
        .unwrap_err();
    assert_eq!(e.exception, ExceptionCode::BadParcelable);
}

#[test]
fn the_default_implementation_answers_unknown_transaction() {
    let d = ITestServiceDefault;
    let e = d.repeat_int(1).unwrap_err();
    assert_eq!(e.code, StatusCode::UnknownTransaction);
    assert!(e.message.contains("repeatInt"), "{e}");
    // served, it answers the same way across a binder
    let s = interface_cast::<dyn ITestService>(BnTestService::new_binder(d)).unwrap();
    assert_eq!(s.pid().unwrap_err().code, StatusCode::UnknownTransaction);
}

#[test]
fn plain_binders_are_not_interfaces() {
    struct Other;
    impl Binder for Other {
        fn descriptor(&self) -> &str {
            "some.Other"
        }
        fn on_transact(&self, _: u32, _: &mut Parcel, _: &mut Parcel) -> capbinder::Result<()> {
            Ok(())
        }
    }
    let b: SpIBinder = capbinder::new_binder(Other);
    let e = interface_cast::<dyn ITestService>(b).unwrap_err();
    assert_eq!(e.code, StatusCode::BadType);
    assert!(e.message.contains("some.Other"), "{e}");
}

fn memfd(contents: &[u8]) -> capbinder::ParcelFileDescriptor {
    use std::io::Write;
    let fd = rustix::fs::memfd_create("wire-test", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
    let mut f = std::fs::File::from(fd);
    f.write_all(contents).unwrap();
    capbinder::ParcelFileDescriptor::new(f)
}

fn contents(fd: &capbinder::ParcelFileDescriptor) -> Vec<u8> {
    use std::io::{Read, Seek};
    let mut f = std::fs::File::from(fd.try_clone_fd().unwrap());
    f.rewind().unwrap();
    let mut v = Vec::new();
    f.read_to_end(&mut v).unwrap();
    v
}

#[test]
fn raw_fds_and_holders_round_trip_through_a_parcel() {
    // the golden case `fds_holders`
    use capbinder::{ParcelableHolder, ParcelableMetadata};
    use capbinder_aidl_tests::golden::fds_holders::org::ext::{Extendable, FdUnion, Fds, MyExt};
    let fds = Fds {
        fd: Some(memfd(b"one")),
        maybe: None,
        list: vec![memfd(b"two"), memfd(b"three")],
        // the elements of a @nullable array may be null too (AOSP's mapping)
        maybe_list: Some(vec![Some(memfd(b"four")), None]),
        named: BTreeMap::from([("five".to_string(), memfd(b"five"))]),
    };
    let back = round_trip(&fds);
    assert_eq!(contents(back.fd.as_ref().unwrap()), b"one");
    assert_eq!(back.maybe, None);
    let list: Vec<_> = back.list.iter().map(contents).collect();
    assert_eq!(list, [b"two".to_vec(), b"three".to_vec()]);
    let maybe_list = back.maybe_list.unwrap();
    assert_eq!(contents(maybe_list[0].as_ref().unwrap()), b"four");
    assert!(maybe_list[1].is_none());
    assert_eq!(contents(&back.named["five"]), b"five");
    // a non-@nullable FileDescriptor field must be set
    let e = Fds::default().write_to(&mut Parcel::new()).unwrap_err();
    assert_eq!(e.code, StatusCode::UnexpectedNull);
    assert!(e.message.contains("Fds.fd"), "{e}");

    let FdUnion::Fds(v) = round_trip(&FdUnion::Fds(vec![memfd(b"u")])) else {
        panic!("another variant")
    };
    assert_eq!(contents(&v[0]), b"u");
    assert!(FdUnion::Fd(None).write_to(&mut Parcel::new()).is_err());

    assert_eq!(MyExt::DESCRIPTOR, "org.ext.MyExt");
    assert_eq!(<Fds as ParcelableMetadata>::DESCRIPTOR, "org.ext.Fds");
    assert_eq!(FdUnion::DESCRIPTOR, "org.ext.FdUnion");
    let mut e = Extendable {
        a: 3,
        ..Extendable::default()
    };
    assert_eq!(e.b, "b");
    assert!(e.ext.is_empty() && e.ext2.is_empty());
    e.ext
        .set_parcelable(&MyExt {
            x: 9,
            s: "held".into(),
            fd: Some(memfd(b"held fd")),
        })
        .unwrap();
    e.ext2.set_parcelable(&FdUnion::None(5)).unwrap();
    let back = round_trip(&e);
    assert_eq!((back.a, back.b.as_str()), (3, "b"));
    let ext: MyExt = back.ext.get_parcelable().unwrap().unwrap();
    assert_eq!((ext.x, ext.s.as_str()), (9, "held"));
    assert_eq!(contents(ext.fd.as_ref().unwrap()), b"held fd");
    assert_eq!(
        back.ext2.get_parcelable::<FdUnion>().unwrap(),
        Some(FdUnion::None(5))
    );
    assert_eq!(
        back.ext2.get_parcelable::<MyExt>().unwrap_err().code,
        StatusCode::BadType
    );
    assert_eq!(
        round_trip(&ParcelableHolder::new()),
        ParcelableHolder::new()
    );
}

/// `@RustDerive(...)`: the traits it names are derived (KeyMint's
/// parameters key sets and maps in keystore2), on parcelables and unions,
/// and a value that went through a parcel compares and hashes equal.
#[test]
fn rust_derive_adds_the_traits_it_names() {
    use capbinder_aidl_tests::golden::derives::d::{
        Algorithm, KeyParameter, KeyParameterValue, KeySize,
    };
    use std::collections::{BTreeSet, HashSet};

    let size = KeySize {
        algorithm: Algorithm::EC,
        bits: 256,
        fixed: true,
    };
    let copied = size; // Copy: `size` stays usable
    assert_eq!(copied, size);
    assert!(
        KeySize::default() > size,
        "fields in order, an enum by value"
    );
    let params = [
        KeyParameter {
            tag: 1,
            value: KeyParameterValue::Algorithm(Algorithm::RSA),
            note: "a".into(),
        },
        KeyParameter {
            tag: 2,
            value: KeyParameterValue::Blob(vec![1, 2, 3]),
            note: "b".into(),
        },
    ];
    let hashed: HashSet<KeyParameter> = params.iter().map(round_trip).collect();
    let ordered: BTreeSet<KeyParameter> = params.iter().cloned().collect();
    for p in &params {
        assert!(hashed.contains(p) && ordered.contains(p));
    }
    assert_eq!(round_trip(&size), size);
}

/// Generic parcelables (`parcelable Pair<K, V>`) are generic structs, as
/// in AOSP's Rust backend: values built with a struct literal from here,
/// nested instances and unused parameters go through a parcel unchanged.
#[test]
fn generic_parcelables_round_trip() {
    use capbinder_aidl_tests::golden::generics::g::{
        GenericStructuredParcelable, Pair, UsesGenerics,
    };

    let v = UsesGenerics {
        unused: GenericStructuredParcelable {
            a: 1,
            b: 2,
            ..Default::default()
        },
        named: Pair {
            first: "one".into(),
            second: 1,
            more: vec!["two".into(), "three".into()],
            ..Default::default()
        },
        nested: Pair {
            first: 7,
            second: Pair {
                first: "inner".into(),
                second: 8,
                ..Default::default()
            },
            more: vec![9],
            ..Default::default()
        },
        count: 4,
    };
    assert_eq!(round_trip(&v), v);
    assert_eq!(
        UsesGenerics::default().count,
        3,
        "a field default still applies"
    );
    assert_eq!(Pair::<i32, i32>::VERSION, 1);
}

#[test]
fn fixed_size_arrays_of_binders_interfaces_and_fds_cross_a_parcel() {
    // the golden case `fixed_objects`: AOSP's mapping, `Option` elements
    // where the array starts from a default (fields, `out` arguments)
    use capbinder::Result;
    use capbinder_aidl_tests::golden::fixed_objects::org::fixed::{
        BnFixed, BnHandle, BpFixed, Holders, IFixed, IHandle, Slot,
    };
    struct Handle(i32);
    impl IHandle for Handle {
        fn id(&self) -> Result<i32> {
            Ok(self.0)
        }
    }
    let handle = |i| -> Arc<dyn IHandle> { BnHandle::new_interface(Handle(i)) };
    let binder = || BnTestService::new_binder(TestService::default());
    let h = Holders {
        binders: [Some(binder()), None],
        maybe_binders: Some([None, Some(binder())]),
        fds: [Some(memfd(b"fd")), None],
        grid: [[Some(handle(1)), None], [None, Some(handle(4))]],
        maybe_handles: None,
        list: vec![binder()],
        names: Some([[Some("a".into()), None], [None, Some("d".into())]]),
        maybe_grid: Some([[None, Some(handle(2))], [None, None]]),
    };
    let back = round_trip(&h);
    // a type nested past clippy's `type_complexity` (allowed where made)
    let grid = back.maybe_grid.as_ref().unwrap();
    assert_eq!(grid[0][1].as_ref().unwrap().id().unwrap(), 2);
    assert!(grid[0][0].is_none() && grid[1][1].is_none());
    #[allow(clippy::type_complexity)]
    let mut cube: [[[Option<Arc<dyn IHandle>>; 2]; 2]; 2] = Default::default();
    cube[1][0][1] = Some(handle(5));
    let Slot::Cube(c) = round_trip(&Slot::Cube(cube)) else {
        panic!("the union came back as another field");
    };
    assert_eq!(c[1][0][1].as_ref().unwrap().id().unwrap(), 5);
    assert!(c[0][0][0].is_none());
    assert_eq!(back.binders, h.binders);
    assert_eq!(back.maybe_binders, h.maybe_binders);
    assert_eq!(contents(back.fds[0].as_ref().unwrap()), b"fd");
    assert!(back.fds[1].is_none());
    assert_eq!(back.grid[1][1].as_ref().unwrap().id().unwrap(), 4);
    assert!(back.grid[0][1].is_none() && back.maybe_handles.is_none());
    assert_eq!(back.names, h.names);
    assert_eq!(Holders::default().binders, [None, None]);

    // `in`, `out` and `inout` arrays through the generated proxy and stub
    struct Fixed;
    impl IFixed for Fixed {
        fn repeat_binders(
            &self,
            input: &[SpIBinder; 3],
            repeated: &mut [Option<SpIBinder>; 3],
        ) -> Result<[SpIBinder; 3]> {
            for (r, i) in repeated.iter_mut().zip(input) {
                *r = Some(i.clone());
            }
            Ok(input.clone())
        }
        fn repeat2d(
            &self,
            input: &[[SpIBinder; 3]; 2],
            repeated: &mut [[Option<SpIBinder>; 3]; 2],
        ) -> Result<[[SpIBinder; 3]; 2]> {
            repeated[1][2] = Some(input[0][0].clone());
            Ok(input.clone())
        }
        fn take_fds(
            &self,
            got: &mut Vec<Option<capbinder::ParcelFileDescriptor>>,
            swapped: &mut [SpIBinder; 2],
        ) -> Result<Vec<capbinder::ParcelFileDescriptor>> {
            got.push(None);
            got.push(Some(memfd(b"out")));
            swapped.swap(0, 1);
            Ok(vec![memfd(b"ret")])
        }
        fn maybe(
            &self,
            input: Option<&[Option<SpIBinder>; 2]>,
        ) -> Result<Option<[Option<SpIBinder>; 2]>> {
            Ok(input.cloned())
        }
        fn repeat_holders(&self, h: &Holders) -> Result<Holders> {
            Ok(h.clone())
        }
        #[allow(clippy::type_complexity)]
        fn maybe_grid(
            &self,
            input: Option<&[[Option<Arc<dyn IHandle>>; 2]; 2]>,
        ) -> Result<Option<[[Option<Arc<dyn IHandle>>; 2]; 2]>> {
            Ok(input.cloned())
        }
    }
    let p = BpFixed::new(BnFixed::new_binder(Fixed));
    let (a, b, c) = (binder(), binder(), binder());
    let input = [a.clone(), b.clone(), c.clone()];
    let mut repeated = [None, None, None];
    assert_eq!(p.repeat_binders(&input, &mut repeated).unwrap(), input);
    assert_eq!(
        repeated,
        [Some(a.clone()), Some(b.clone()), Some(c.clone())]
    );
    let grid = [input.clone(), [c.clone(), b.clone(), a.clone()]];
    let mut out: [[Option<SpIBinder>; 3]; 2] = Default::default();
    assert_eq!(p.repeat2d(&grid, &mut out).unwrap(), grid);
    assert_eq!(out[1][2], Some(a.clone()));
    assert!(out[0][0].is_none());
    let mut got = Vec::new();
    let mut swapped = [a.clone(), b.clone()];
    let ret = p.take_fds(&mut got, &mut swapped).unwrap();
    assert_eq!(contents(&ret[0]), b"ret");
    assert!(got[0].is_none());
    assert_eq!(contents(got[1].as_ref().unwrap()), b"out");
    assert_eq!(swapped, [b.clone(), a.clone()]);
    assert_eq!(p.maybe(None).unwrap(), None);
    let m = [None, Some(c.clone())];
    assert_eq!(p.maybe(Some(&m)).unwrap(), Some(m));
    assert_eq!(p.repeat_holders(&h).unwrap().binders, h.binders);
    assert!(p.maybe_grid(None).unwrap().is_none());
    let back = p.maybe_grid(h.maybe_grid.as_ref()).unwrap().unwrap();
    assert_eq!(back[0][1].as_ref().unwrap().id().unwrap(), 2);
}
