//! Bad input to public APIs never panics and always says what is wrong:
//! garbage parcels, objects of the wrong kind, unknown method codes,
//! service errors, both in this process and across processes (where the
//! service must keep serving afterwards).

use std::io::Read;
use std::sync::Arc;

use capbinder::{ExceptionCode, Parcel, SpIBinder, Status, StatusCode};
use capbinder_tests::context;
use capbinder_tests::proto::codes;
use capbinder_tests::service::{Latch, TestObject, TestProxy};

fn local() -> SpIBinder {
    TestObject::binder("local:", Arc::new(Latch::default()))
}

/// A parcel holding exactly `bytes` (each `u8` encodes as itself).
fn parcel_of(bytes: &[u8]) -> Parcel {
    let mut p = Parcel::new();
    for b in bytes {
        p.write(b).unwrap();
    }
    p
}

#[test]
fn reading_garbage_parcels_is_an_error_never_a_panic() {
    let mut seed = 0x5eed_u64;
    for round in 0..3000 {
        let mut bytes = Vec::new();
        for _ in 0..(round % 64) {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            bytes.push((seed >> 56) as u8);
        }
        let mut p = parcel_of(&bytes);
        let _ = p.read::<String>();
        let _ = p.read::<Vec<u64>>();
        let _ = p.read_bytes();
        let _ = p.read_nullable_binder();
        let _ = p.read_fd();
        let _ = p.read::<Status>();
        let _ = p.read::<(i32, Option<String>, Vec<Vec<u8>>)>();
        p.rewind();
        if let Err(e) = p.read::<capbinder_tests::proto::Who>() {
            assert_eq!(e.exception, ExceptionCode::BadParcelable);
            assert!(!e.message.is_empty());
        }
    }
}

#[test]
fn reading_an_object_of_the_wrong_kind_says_which_kind_it_is() {
    // A binder where an fd is wanted.
    let mut p = Parcel::new();
    p.write_binder(&local()).unwrap();
    p.rewind();
    assert!(p.read::<bool>().unwrap(), "a non-null binder");
    let e = p.read_fd().unwrap_err();
    assert_eq!(e.exception, ExceptionCode::BadParcelable);
    assert!(
        e.message.contains("is a binder, not a file descriptor"),
        "{e}"
    );
    // An fd where a binder is wanted.
    let (r, _w) = rustix::pipe::pipe().unwrap();
    let mut p = Parcel::new();
    p.write(&true).unwrap();
    p.write_fd(r).unwrap();
    let e = p.read_binder().unwrap_err();
    assert!(
        e.message.contains("is a file descriptor, not a binder"),
        "{e}"
    );
    // An index past the side table.
    let mut p = Parcel::new();
    p.write(&true).unwrap();
    p.write(&9u32).unwrap();
    let e = p.read_binder().unwrap_err();
    assert!(e.message.contains("object index 9"), "{e}");
    // An fd read twice.
    let (r, _w) = rustix::pipe::pipe().unwrap();
    let mut p = Parcel::new();
    p.write_fd(r).unwrap();
    p.rewind();
    p.read_fd().unwrap();
    p.rewind();
    let e = p.read_fd().unwrap_err();
    assert!(e.message.contains("already read"), "{e}");
}

#[test]
fn a_call_on_a_local_object_keeps_its_binders_and_fds() {
    // Local calls run in place; their parcels' objects must survive that.
    let obj = TestProxy(local());
    let (r, w) = rustix::pipe::pipe().unwrap();
    obj.0.dump(w, &["x".into()]).unwrap();
    let mut s = String::new();
    std::fs::File::from(r).read_to_string(&mut s).unwrap();
    assert_eq!(s.trim(), "ITest dump: prefix=\"local:\" args=x");
    let (r, w) = rustix::pipe::pipe().unwrap();
    std::io::Write::write_all(&mut std::fs::File::from(w), b"through a local call").unwrap();
    assert_eq!(obj.read_fd(r).unwrap(), "through a local call");
    let (answer, _tid) = obj.call_back(&local(), "nested").unwrap();
    assert_eq!(answer, "local:NESTED");
}

#[test]
fn errors_from_local_calls_are_statuses_a_person_can_read() {
    let obj = local();
    let e = obj.transact(0x00ab_cdef, Parcel::new(), false).unwrap_err();
    assert_eq!(e.code, StatusCode::UnknownTransaction);
    assert!(
        e.to_string().contains("no method with code 11259375"),
        "{e}"
    );
    let e = TestProxy(obj.clone()).fail_specific().unwrap_err();
    assert_eq!(e.exception, ExceptionCode::ServiceSpecific);
    assert_eq!(e.service_specific, 42);
    assert_eq!(e.to_string(), "service-specific error 42: the answer is 42");
    let e = obj
        .transact(codes::ECHO, parcel_of(&[0xff, 0xff, 0xff]), false)
        .unwrap_err();
    assert_eq!(e.exception, ExceptionCode::BadParcelable);
    assert!(
        e.to_string().starts_with("BadParcelable exception: "),
        "{e}"
    );
    let e = obj.link_to_death(Arc::new(Never)).unwrap_err();
    assert_eq!(e.code, StatusCode::InvalidOperation);
}

struct Never;

impl capbinder::DeathRecipient for Never {
    fn binder_died(&self, _who: &capbinder::WeakBinder) {
        panic!("a local object cannot die");
    }
}

#[test]
fn bad_calls_across_processes_get_clear_errors_and_the_service_keeps_serving() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.bad"]);
    let mut client = ctx.client(None);
    client.ok("get s test.bad");
    client.ok("sm m");
    let echo = codes::ECHO;
    // Garbage where a string is expected (a length far past the end).
    let e = client.err(&format!("raw s {echo} ffffffff0f41"));
    assert!(e.contains("exception=BadParcelable"), "{e}");
    assert!(e.contains("String"), "the error names what was read: {e}");
    // Unknown codes, on the service and on the service manager.
    let e = client.err("raw s 77777 00");
    assert!(
        e.contains("code=UnknownTransaction") && e.contains("77777"),
        "{e}"
    );
    let e = client.err("raw m 99 ");
    assert!(e.contains("code=UnknownTransaction"), "{e}");
    // Garbage to the service manager's addService.
    let e = client.err("raw m 1 ff");
    assert!(e.contains("exception=BadParcelable"), "{e}");
    // A file descriptor where a binder is expected.
    let e = client.err("wrongkind s");
    assert!(e.contains("is a file descriptor, not a binder"), "{e}");
    // A service-specific error crosses intact.
    let e = client.err("specific s");
    assert!(
        e.starts_with("service-specific error 42: the answer is 42"),
        "{e}"
    );
    assert!(e.contains("specific=42"), "{e}");
    // Both still serve.
    assert_eq!(client.ok("echo s still fine"), "still fine");
    assert_eq!(client.ok("list"), "test.bad");
}
