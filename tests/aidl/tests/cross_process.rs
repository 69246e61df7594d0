//! Generated proxies and stubs across processes, through a real mediator:
//! every kind of parameter, out and inout, objects and file descriptors,
//! interfaces passed as capabilities with nested calls back into the
//! caller, oneway calls, errors, two versions of one parcelable, and the
//! death of a service behind a generated proxy.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::ThreadId;

use capbinder::{
    interface_cast, DeathRecipient, ExceptionCode, Parcel, ParcelFileDescriptor, SpIBinder,
    StatusCode, WeakBinder,
};
use capbinder_aidl_tests::aidl::capbinder::test::{
    i_test_service, payload, v1, v2, BnCallback, Catalog, Extendable, Extension, ICallback,
    ITestService, Kind, Payload, Value,
};
use common::{lookup, service, spawn_helper, unique_name, world, TIMEOUT};

/// A callback that answers `greet` with a prefix and reports `done`, and
/// records the thread each call ran on.
struct Recorder {
    done: Mutex<mpsc::Sender<String>>,
    greet_thread: Mutex<Option<ThreadId>>,
}

impl Recorder {
    fn new() -> (Recorder, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::channel();
        (
            Recorder {
                done: Mutex::new(tx),
                greet_thread: Mutex::new(None),
            },
            rx,
        )
    }
}

impl ICallback for Recorder {
    fn greet(&self, s: &str) -> capbinder::Result<String> {
        *self.greet_thread.lock().unwrap() = Some(std::thread::current().id());
        Ok(format!("hello, {s}"))
    }
    fn done(&self, s: &str) -> capbinder::Result<()> {
        let _ = self.done.lock().unwrap().send(s.to_string());
        Ok(())
    }
}

/// A callback that only reports where it ran, shared with the test.
struct Where(Arc<Mutex<Option<ThreadId>>>);

impl ICallback for Where {
    fn greet(&self, s: &str) -> capbinder::Result<String> {
        *self.0.lock().unwrap() = Some(std::thread::current().id());
        Ok(format!("hello, {s}"))
    }
    fn done(&self, _s: &str) -> capbinder::Result<()> {
        Ok(())
    }
}

#[test]
fn primitives_and_strings_round_trip() {
    let s = service();
    assert!(s.repeat_boolean(true).unwrap());
    assert!(!s.repeat_boolean(false).unwrap());
    for b in [i8::MIN, -1, 0, 1, i8::MAX] {
        assert_eq!(s.repeat_byte(b).unwrap(), b);
    }
    assert_eq!(s.repeat_char(u16::from(b'Z')).unwrap(), u16::from(b'Z'));
    assert_eq!(s.repeat_char(0xffff).unwrap(), 0xffff);
    for i in [i32::MIN, -7, 0, 42, i32::MAX] {
        assert_eq!(s.repeat_int(i).unwrap(), i);
    }
    for l in [i64::MIN, -1, 1 << 40, i64::MAX] {
        assert_eq!(s.repeat_long(l).unwrap(), l);
    }
    assert_eq!(s.repeat_float(-1.25).unwrap(), -1.25);
    assert!(s.repeat_float(f32::NAN).unwrap().is_nan());
    assert_eq!(s.repeat_double(f64::MAX).unwrap(), f64::MAX);
    assert_eq!(s.repeat_string("").unwrap(), "");
    assert_eq!(s.repeat_string("héllo ✓").unwrap(), "héllo ✓");
    assert_eq!(s.repeat_nullable_string(None).unwrap(), None);
    assert_eq!(
        s.repeat_nullable_string(Some("x")).unwrap().as_deref(),
        Some("x")
    );
    assert_eq!(i_test_service::ANSWER, 42);
    assert_eq!(i_test_service::NAME, "capbinder.test");
}

#[test]
fn enums_keep_unknown_values() {
    let s = service();
    assert_eq!(s.repeat_kind(Kind::B).unwrap(), Kind::B);
    assert_eq!(Kind::B.0, 2, "B follows A = 1");
    // a value this version does not know still round-trips
    assert_eq!(s.repeat_kind(Kind(12345)).unwrap(), Kind(12345));
    assert_eq!(
        s.repeat_kinds(&[Kind::C, Kind(-1)]).unwrap(),
        vec![Kind::C, Kind(-1)]
    );
}

#[test]
fn arrays_and_lists_round_trip() {
    let s = service();
    let mut repeated = vec![9; 9];
    assert_eq!(
        s.reverse_ints(&[1, 2, 3], &mut repeated).unwrap(),
        vec![3, 2, 1]
    );
    assert_eq!(repeated, vec![1, 2, 3], "the out array is written back");
    let mut rs = Vec::new();
    let words: Vec<String> = ["a", "b", "c"].iter().map(|w| w.to_string()).collect();
    assert_eq!(
        s.reverse_strings(&words, &mut rs).unwrap(),
        vec!["c", "b", "a"]
    );
    assert_eq!(rs, words);
    assert_eq!(s.reverse_list(&words).unwrap(), vec!["c", "b", "a"]);
    assert_eq!(s.reverse_list(&[]).unwrap(), Vec::<String>::new());
    // a large byte array (past the inline size: it may travel as a blob)
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let back = s.reverse_bytes(&big).unwrap();
    assert_eq!(back.len(), big.len());
    assert!(back.iter().rev().eq(big.iter()));
    assert_eq!(
        s.repeat_fixed(&[1, -2, 3, i64::MAX]).unwrap(),
        [1, -2, 3, i64::MAX]
    );
    assert_eq!(
        s.repeat_grid(&[[1, 2, 3], [4, 5, 6]]).unwrap(),
        [[1, 2, 3], [4, 5, 6]]
    );
    assert_eq!(s.repeat_nullable_ints(None).unwrap(), None);
    assert_eq!(s.repeat_nullable_ints(Some(&[5])).unwrap(), Some(vec![5]));
    // a @nullable array or list holds nulls too, as in AOSP's backends
    let names = [Some("a".to_string()), None, Some(String::new())];
    assert_eq!(
        s.repeat_nullable_strings(Some(&names)).unwrap(),
        Some(names.to_vec())
    );
    assert_eq!(s.repeat_nullable_strings(None).unwrap(), None);
    let payloads = [None, Some(sample_payload())];
    assert_eq!(
        s.repeat_nullable_payloads(Some(&payloads)).unwrap(),
        Some(payloads.to_vec())
    );
    assert_eq!(s.repeat_nullable_payloads(Some(&[])).unwrap(), Some(vec![]));
}

fn sample_payload() -> Payload {
    Payload {
        number: -3,
        big: 1 << 50,
        ratio: 2.5,
        name: "sample".into(),
        maybe: Some("here".into()),
        bytes: vec![0, 255, 7],
        words: vec!["w1".into(), "w2".into()],
        kind: Kind::C,
        value: Value::Words(vec!["in".into(), "union".into()]),
        inner: payload::Inner {
            on: true,
            letter: u16::from(b'z'),
        },
        triple: [7, 8, 9],
        next: Some(Box::new(Payload {
            name: "next".into(),
            ..Payload::default()
        })),
        ..Payload::default()
    }
}

#[test]
fn parcelables_unions_and_nested_types_round_trip() {
    let s = service();
    let p = sample_payload();
    assert_eq!(s.repeat_payload(&p).unwrap(), p);
    assert_eq!(
        s.repeat_payload(&Payload::default()).unwrap(),
        Payload::default()
    );
    assert_eq!(s.repeat_nullable_payload(None).unwrap(), None);
    assert_eq!(
        s.repeat_nullable_payload(Some(&p)).unwrap(),
        Some(p.clone())
    );
    let many = vec![p.clone(), Payload::default(), p];
    assert_eq!(s.repeat_payloads(&many).unwrap(), many);
    for v in [
        Value::default(),
        Value::Number(-9),
        Value::Text("t".into()),
        Value::Kind(Kind(77)),
        Value::Binder(None),
        Value::Words(vec![]),
    ] {
        assert_eq!(s.repeat_value(&v).unwrap(), v);
    }
}

#[test]
fn out_and_inout_parameters_are_written_back() {
    let s = service();
    let mut p = sample_payload();
    s.fill_payload(11, &mut p).unwrap();
    // `out`: the service starts from a default payload, whatever we held
    assert_eq!(p.number, 11);
    assert_eq!(p.name, "filled from 11");
    assert_eq!(p.value, Value::Number(22));
    assert_eq!(p.maybe, None, "an out parcelable starts from the default");
    let mut p = sample_payload();
    s.bump_payload(&mut p).unwrap();
    assert_eq!(p.number, -2);
    assert_eq!(p.words, vec!["w1", "w2", "bumped"]);
    assert_eq!(p.name, "sample", "inout keeps what the caller sent");
    let mut list = vec!["x".to_string()];
    s.append_list(&mut list, "y").unwrap();
    assert_eq!(list, vec!["x", "y"]);
}

#[test]
fn maps_of_parcelables_round_trip_in_out_and_inout() {
    let s = service();
    let payloads = BTreeMap::from([
        ("sample".to_string(), sample_payload()),
        ("default".to_string(), Payload::default()),
        (
            String::new(),
            Payload {
                number: 99,
                ..Payload::default()
            },
        ),
    ]);
    // `out`: what the caller held is not sent (the service refuses a
    // non-empty map) and is replaced by the reply's
    let mut copy = BTreeMap::from([("stale".to_string(), Payload::default())]);
    assert_eq!(
        s.repeat_payload_map(&payloads, &mut copy).unwrap(),
        payloads
    );
    assert_eq!(copy, payloads);
    assert!(s
        .repeat_payload_map(&BTreeMap::new(), &mut copy)
        .unwrap()
        .is_empty());
    assert!(copy.is_empty());
    // `inout`: the service sees what we sent and we see what it changed
    let mut m = payloads.clone();
    s.bump_payload_map(&mut m, "added").unwrap();
    assert_eq!(m.len(), 4);
    assert_eq!(m["sample"].number, -2);
    assert_eq!(
        m["sample"].name, "sample",
        "inout keeps what the caller sent"
    );
    assert_eq!(m[""].number, 100);
    assert_eq!(m["default"].number, 8);
    assert_eq!(m["added"], Payload::default());
    // `@nullable`, with lists as values
    assert_eq!(s.repeat_nullable_map(None).unwrap(), None);
    let lists = BTreeMap::from([
        ("a".to_string(), vec!["x".to_string(), "y".to_string()]),
        ("b".to_string(), Vec::new()),
    ]);
    assert_eq!(
        s.repeat_nullable_map(Some(&lists)).unwrap(),
        Some(lists.clone())
    );
    assert_eq!(
        s.repeat_nullable_map(Some(&BTreeMap::new())).unwrap(),
        Some(BTreeMap::new()),
        "an empty map is not null"
    );
}

#[test]
fn maps_of_interfaces_carry_capabilities_both_ways() {
    let s = service();
    let (r, _rx) = Recorder::new();
    let one = BnCallback::new_interface(r);
    let ran_on = Arc::new(Mutex::new(None));
    let two = BnCallback::new_interface(Where(ran_on.clone()));
    let callbacks = BTreeMap::from([
        ("one".to_string(), one.clone()),
        ("two".to_string(), two.clone()),
    ]);
    // our own objects come back as themselves
    let back = s.repeat_callback_map(&callbacks).unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!(back["one"].as_binder(), one.as_binder());
    assert_eq!(back["two"].as_binder(), two.as_binder());
    assert_ne!(back["one"].as_binder(), back["two"].as_binder());
    assert_eq!(back, callbacks);
    // the service calls each value back while we wait
    let answers = s.greet_all(&callbacks, "hi").unwrap();
    assert_eq!(
        answers,
        BTreeMap::from([
            ("one".to_string(), "hello, hi as one".to_string()),
            ("two".to_string(), "hello, hi as two".to_string()),
        ])
    );
    assert_eq!(*ran_on.lock().unwrap(), Some(std::thread::current().id()));
    // maps of parcelables, interfaces and binders inside a parcelable
    let (r, _rx) = Recorder::new();
    let mine = BnCallback::new_binder(r);
    let catalog = Catalog {
        title: "maps".into(),
        payloads: BTreeMap::from([("p".to_string(), sample_payload())]),
        callbacks: callbacks.clone(),
        notes: Some(BTreeMap::from([("k".to_string(), "v".to_string())])),
        binders: BTreeMap::from([
            (
                "outer".to_string(),
                BTreeMap::from([("mine".to_string(), mine.clone())]),
            ),
            ("empty".to_string(), BTreeMap::new()),
        ]),
    };
    let back = s.repeat_catalog(&catalog).unwrap();
    assert_eq!(back, catalog);
    assert!(back.binders["outer"]["mine"].is_local());
    assert_eq!(back.binders["outer"]["mine"], mine);
    assert_eq!(
        back.callbacks["one"].greet("again").unwrap(),
        "hello, again"
    );
    assert_eq!(
        s.repeat_catalog(&Catalog::default()).unwrap(),
        Catalog::default()
    );
}

#[test]
fn binders_keep_their_identity() {
    let s = service();
    let (r, _rx) = Recorder::new();
    let mine = BnCallback::new_binder(r);
    let back = s.repeat_binder(&mine).unwrap();
    assert!(
        back.is_local(),
        "our own object comes back as our local object"
    );
    assert_eq!(back, mine);
    let (r2, _rx2) = Recorder::new();
    let other = BnCallback::new_binder(r2);
    assert!(s.is_same_binder(&mine, &mine).unwrap());
    assert!(!s.is_same_binder(&mine, &other).unwrap());
    assert_eq!(s.repeat_nullable_binder(None).unwrap(), None);
    assert_eq!(
        s.repeat_nullable_binder(Some(&mine)).unwrap(),
        Some(mine.clone())
    );
    // a binder inside a parcelable and a union
    let p = Payload {
        binder: Some(mine.clone()),
        value: Value::Binder(Some(other.clone())),
        ..Payload::default()
    };
    let back = s.repeat_payload(&p).unwrap();
    assert_eq!(back.binder, Some(mine));
    assert_eq!(back.value, Value::Binder(Some(other)));
}

#[test]
fn file_descriptors_travel_both_ways() {
    let s = service();
    let (r, w) = rustix::pipe::pipe().unwrap();
    std::fs::File::from(w).write_all(b"through a pipe").unwrap();
    assert_eq!(
        s.read_fd(&ParcelFileDescriptor::new(r)).unwrap(),
        "through a pipe"
    );
    let fd = s.make_fd("from the service").unwrap();
    let mut text = String::new();
    std::fs::File::from(fd.into_fd().unwrap())
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "from the service");
    // an fd inside a parcelable
    let (r, w) = rustix::pipe::pipe().unwrap();
    std::fs::File::from(w).write_all(b"in a payload").unwrap();
    let p = Payload {
        fd: Some(ParcelFileDescriptor::new(r)),
        ..Payload::default()
    };
    let back = s.repeat_payload(&p).unwrap();
    let mut text = String::new();
    std::fs::File::from(back.fd.unwrap().into_fd().unwrap())
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "in a payload");
}

/// Reads exactly `n` bytes (the writers may still hold their ends open).
fn read_n(r: &mut std::fs::File, n: usize) -> String {
    let mut buf = vec![0; n];
    r.read_exact(&mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

#[test]
fn raw_file_descriptors_go_in_and_come_back() {
    let s = service();
    let (r, w) = rustix::pipe::pipe().unwrap();
    let mut r = std::fs::File::from(r);
    let back = s
        .write_raw_fd(&ParcelFileDescriptor::new(w), "written by the service")
        .unwrap();
    assert_eq!(read_n(&mut r, 22), "written by the service");
    // what came back is the pipe's write end, a descriptor of this process
    std::fs::File::from(back.into_fd().unwrap())
        .write_all(b"and by the caller")
        .unwrap();
    assert_eq!(read_n(&mut r, 17), "and by the caller");
}

#[test]
fn a_parcelable_holder_carries_an_extension_across_and_back() {
    let s = service();
    let (r, w) = rustix::pipe::pipe().unwrap();
    let mut r = std::fs::File::from(r);
    let mut e = Extendable {
        name: "with an extension".into(),
        ..Extendable::default()
    };
    e.ext
        .set_parcelable(&Extension {
            count: 41,
            label: "ext".into(),
            fd: Some(ParcelFileDescriptor::new(w)),
        })
        .unwrap();
    let back = s.bump_extension(&e).unwrap();
    assert_eq!((back.name.as_str(), back.after), ("with an extension", 7));
    assert_eq!(
        back.ext.descriptor(),
        Some("capbinder.test.Extension"),
        "{back:?}"
    );
    let ext: Extension = back.ext.get_parcelable().unwrap().unwrap();
    assert_eq!((ext.count, ext.label.as_str()), (42, "ext!"));
    assert_eq!(read_n(&mut r, 6), "bumped", "the service wrote the held fd");
    std::fs::File::from(ext.fd.unwrap().into_fd().unwrap())
        .write_all(b"back here")
        .unwrap();
    assert_eq!(read_n(&mut r, 9), "back here");
    // asked for another type, the holder refuses rather than misread
    let err = back.ext.get_parcelable::<Payload>().unwrap_err();
    assert_eq!(err.code, StatusCode::BadType, "{err}");

    // a type the service does not look for passes through unchanged
    let mut e = Extendable::default();
    e.ext.set_parcelable(&sample_payload()).unwrap();
    let back = s.bump_extension(&e).unwrap();
    assert_eq!(back.ext.descriptor(), Some("capbinder.test.Payload"));
    let p: Payload = back.ext.get_parcelable().unwrap().unwrap();
    assert_eq!(p, sample_payload());

    // and an empty slot stays empty
    let back = s.bump_extension(&Extendable::default()).unwrap();
    assert!(back.ext.is_empty());
    assert_eq!(back, Extendable::default());
}

#[test]
fn interfaces_are_capabilities_and_nested_calls_reach_the_waiting_thread() {
    let s = service();
    let ran_on = Arc::new(Mutex::new(None));
    let cb = BnCallback::new_interface(Where(ran_on.clone()));
    let answer = s.call_back(&cb, "nested").unwrap();
    assert_eq!(answer, "hello, nested!");
    assert_eq!(
        *ran_on.lock().unwrap(),
        Some(std::thread::current().id()),
        "the service's call back ran on the thread waiting for the service"
    );
    // the same object comes back: local, so called directly
    let back = s.repeat_callback(&cb).unwrap();
    assert_eq!(back.as_binder(), cb.as_binder());
    assert_eq!(back.greet("direct").unwrap(), "hello, direct");
    assert!(s.repeat_nullable_callback(None).unwrap().is_none());
    // a plain implementation (not made by BnCallback) works too: it is
    // wrapped in a new object when sent
    let (r, _rx) = Recorder::new();
    let plain: Arc<dyn ICallback> = Arc::new(r);
    assert_eq!(s.call_back(&plain, "plain").unwrap(), "hello, plain!");
    // an interface inside a parcelable
    let p = Payload {
        callback: Some(cb.clone()),
        ..Payload::default()
    };
    let back = s.repeat_payload(&p).unwrap();
    assert_eq!(back.callback.as_ref().unwrap().as_binder(), cb.as_binder());
}

#[test]
fn oneway_calls_return_without_waiting() {
    let s = service();
    let (r, rx) = Recorder::new();
    let cb = BnCallback::new_interface(r);
    s.listen(&cb).unwrap();
    // `block` waits in the service until `release`: a two-way call would
    // never return here
    s.block().unwrap();
    assert!(
        rx.try_recv().is_err(),
        "the service cannot have finished: it waits for release"
    );
    s.release().unwrap();
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), "released");
}

#[test]
fn errors_carry_their_codes() {
    let s = service();
    let e = s.fail(7, "seven").unwrap_err();
    assert_eq!(e.exception, ExceptionCode::ServiceSpecific);
    assert_eq!(e.service_specific, 7);
    assert_eq!(e.message, "seven");
    // a code the stub does not know
    let binder = s.as_binder().unwrap();
    let e = binder
        .transact(0x00ab_cdef, Parcel::new(), false)
        .unwrap_err();
    assert_eq!(e.code, StatusCode::UnknownTransaction, "{e}");
    // a garbled call is refused, not a crash
    let mut p = Parcel::new();
    p.write(&200u8).unwrap();
    let e = binder
        .transact(i_test_service::transactions::REPEAT_PAYLOAD, p, false)
        .unwrap_err();
    assert_eq!(e.exception, ExceptionCode::BadParcelable, "{e}");
    assert_eq!(s.repeat_int(5).unwrap(), 5, "the service still answers");
}

#[test]
fn a_proxy_for_another_interface_is_refused() {
    let s = service();
    let wrong = interface_cast::<dyn ICallback>(s.as_binder().unwrap()).unwrap();
    let e = wrong.greet("?").unwrap_err();
    assert_eq!(e.code, StatusCode::BadType, "{e}");
    assert!(e.message.contains("capbinder.test.ITestService"), "{e}");
    // a local object of another interface is refused at once
    let (r, _rx) = Recorder::new();
    let local = BnCallback::new_binder(r);
    let e = interface_cast::<dyn ITestService>(local).unwrap_err();
    assert_eq!(e.code, StatusCode::BadType, "{e}");
}

#[test]
fn transaction_codes_are_aidls() {
    use i_test_service::transactions as t;
    assert_eq!(t::REPEAT_BOOLEAN, capbinder::FIRST_CALL_TRANSACTION);
    assert_eq!(
        t::PID,
        capbinder::FIRST_CALL_TRANSACTION + 37,
        "the 38th method"
    );
    assert_eq!(i_test_service::DESCRIPTOR, "capbinder.test.ITestService");
    let s = service();
    assert_eq!(
        s.as_binder().unwrap().descriptor().unwrap(),
        "capbinder.test.ITestService"
    );
}

#[test]
fn an_older_client_and_a_newer_service_understand_each_other() {
    world();
    let old: Arc<dyn v1::IRecords> = lookup("main.records.v2");
    // old writer -> new reader: the service saw the defaults of its new fields
    let r = old
        .echo(&v1::Record {
            id: 5,
            name: "from v1".into(),
        })
        .unwrap();
    assert_eq!(r.id, 5);
    assert_eq!(
        r.name,
        "from v1 (read by v2: note Some(\"v2 default\"), kind C, 0 tags)"
    );
    // new writer -> old reader: fields this side does not know are skipped
    let made = old.make().unwrap();
    assert_eq!(
        made,
        v1::Record {
            id: 2,
            name: "made by v2".into()
        }
    );
}

#[test]
fn a_newer_client_and_an_older_service_understand_each_other() {
    world();
    let new: Arc<dyn v2::IRecords> = lookup("main.records.v1");
    let sent = v2::Record {
        id: 9,
        name: "from v2".into(),
        tags: vec!["skipped".into()],
        note: None,
        kind: Kind::A,
    };
    // new writer -> old reader (the service), then old writer -> new
    // reader (us): the fields v1 does not have come back as defaults
    let r = new.echo(&sent).unwrap();
    assert_eq!(r.id, 9);
    assert_eq!(r.name, "from v2 (read by v1)");
    assert!(r.tags.is_empty());
    assert_eq!(r.note.as_deref(), Some("v2 default"));
    assert_eq!(r.kind, Kind::C);
    let made = new.make().unwrap();
    assert_eq!(made.name, "made by v1");
    assert_eq!(made.note.as_deref(), Some("v2 default"));
}

struct Died(Mutex<mpsc::Sender<()>>);

impl DeathRecipient for Died {
    fn binder_died(&self, _who: &WeakBinder) {
        let _ = self.0.lock().unwrap().send(());
    }
}

#[test]
fn calls_to_a_dead_service_fail_with_dead_object() {
    let w = world();
    let name = unique_name("doomed");
    let mut helper = spawn_helper(&w.socket, "service", Some(&name));
    let s: Arc<dyn ITestService> = lookup(&name);
    assert_eq!(s.pid().unwrap() as u32, helper.pid);
    // a second proxy that has made no call yet (its descriptor check is
    // still to come)
    let unused: Arc<dyn ITestService> = lookup(&name);
    let binder: SpIBinder = s.as_binder().unwrap();
    let (tx, rx) = mpsc::channel();
    binder
        .link_to_death(Arc::new(Died(Mutex::new(tx))))
        .unwrap();
    helper.child.kill().unwrap();
    helper.child.wait().unwrap();
    rx.recv_timeout(TIMEOUT).expect("a death notification");
    let e = s.repeat_int(1).unwrap_err();
    assert!(e.is_dead(), "{e}");
    assert_eq!(e.code, StatusCode::DeadObject);
    let e = unused.repeat_string("anyone?").unwrap_err();
    assert!(e.is_dead(), "{e}");
    // oneway calls fail too instead of vanishing
    let e = s.block().unwrap_err();
    assert!(e.is_dead(), "{e}");
}

#[test]
fn a_proxy_reads_the_version_and_hash_of_the_service_behind_it() {
    use capbinder_aidl_tests::{versioned_unversioned, versioned_v1, versioned_v2};
    use versioned_v2::capbinder::test::versioned::{i_versioned, IVersioned};
    world();
    let v1_hash = versioned_v1::capbinder::test::versioned::i_versioned::HASH;
    assert_eq!(v1_hash, "efba00431f290c70d11a868b3aca42a7bd66a352");
    assert_eq!(
        i_versioned::HASH,
        "4869b516024a299b75c2464615c9edaff1e538da"
    );

    // a version-2 proxy in front of a version-1 service: the service's
    // answers, not the proxy's own constants
    let old: Arc<dyn IVersioned> = lookup("main.versioned.v1");
    assert_eq!(old.get_interface_version().unwrap(), 1);
    assert_eq!(old.get_interface_hash().unwrap(), v1_hash);
    // asked again: the cached answer, the same
    assert_eq!(old.get_interface_version().unwrap(), 1);
    assert_eq!(old.get_interface_hash().unwrap(), v1_hash);
    assert_eq!(old.ping(1).unwrap(), 2);
    // what version 1 lacks is UnknownTransaction: check the version first
    let e = old.name().unwrap_err();
    assert_eq!(e.code, StatusCode::UnknownTransaction, "{e}");

    let same: Arc<dyn IVersioned> = lookup("main.versioned.v2");
    assert_eq!(same.get_interface_version().unwrap(), i_versioned::VERSION);
    assert_eq!(same.get_interface_hash().unwrap(), i_versioned::HASH);
    assert_eq!(same.name().unwrap(), "v2");

    // a service generated without versions does not know the meta methods:
    // the proxy says so (AOSP's Rust backend does the same)
    let unversioned: Arc<dyn IVersioned> = lookup("main.versioned.unversioned");
    let e = unversioned.get_interface_version().unwrap_err();
    assert_eq!(e.code, StatusCode::UnknownTransaction, "{e}");
    let e = unversioned.get_interface_hash().unwrap_err();
    assert_eq!(e.code, StatusCode::UnknownTransaction, "{e}");
    assert_eq!(unversioned.ping(1).unwrap(), 101);

    // and an unversioned proxy can still talk to a versioned service
    let plain: Arc<dyn versioned_unversioned::capbinder::test::versioned::IVersioned> =
        lookup("main.versioned.v2");
    assert_eq!(plain.ping(1).unwrap(), 3);
}
