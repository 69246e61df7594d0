//! What a thread leaves behind when it ends, and what a pool thread's
//! oneway calls through the window (`ProcessState::set_oneway_window`)
//! leave behind when they are answered: frees, acknowledgements and
//! releases still reach the mediator, and the thread pool keeps serving.

use capbinder_core::state::StateDump;
use capbinder_core::Looper;
use capbinder_tests::context;
use capbinder_tests::harness::process;

fn refs_to(s: &StateDump, client: i32, owner: i32) -> usize {
    process(s, client).map_or(0, |p| {
        p.refs.iter().filter(|r| r.owner_pid == Some(owner)).count()
    })
}

/// A thread that makes one call, drops the (small) reply and exits: the
/// reply's receive-buffer range is freed. Its `FreeBuffer` waits for the
/// thread's next write, and the thread's end writes it (the deferred
/// commands outlive the thread state).
#[test]
fn a_thread_that_ends_frees_the_reply_it_dropped() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.exitfree"]);
    let mut client = ctx.client(None);
    client.ok("get s test.exitfree");
    client.ok("flush");
    let c = client.pid();
    ctx.wait_state("the client holds no receive-buffer range", |s| {
        process(s, c).is_some_and(|p| p.buffer.ranges == 0)
    });
    assert_eq!(client.ok("thread-echo s"), "t");
    ctx.wait_state("the exited thread's reply buffer is freed", |s| {
        process(s, c).is_some_and(|p| p.buffer.ranges == 0)
    });
}

/// A local object sent in a oneway call through the window by a thread
/// that then ends: the receiver holds a strong reference, so the object
/// stays callable (the ending thread takes the references the mediator
/// asks for while it waits for its calls' answers).
#[test]
fn an_object_sent_through_the_oneway_window_outlives_its_sending_thread() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.keep"]);
    let mut client = ctx.client(None);
    client.ok("get s test.keep");
    client.ok("ow-keep s");
    assert_eq!(call_kept_once_kept(&mut client), "cb:k");
}

/// A oneway call through the window from a thread that drops its proxy
/// and ends: the proxy's release reaches the mediator.
#[test]
fn a_thread_that_ends_with_a_oneway_call_in_flight_releases_its_proxy() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let svc = ctx.service(&["test.owrel"]);
    let mut client = ctx.client(None);
    client.ok("ow-thread-log test.owrel");
    let (c, o) = (client.pid(), svc.pid());
    ctx.wait_state("the client holds no ref on the service", |s| {
        refs_to(s, c, o) == 0
    });
}

/// A pool thread whose oneway handler sends a oneway call through the
/// window on a proxy it got in that call: after the answer the thread is
/// still handed work. The release posted when the answered call lets go
/// of the proxy is written while the thread waits for work, so it ends
/// with `WaitForWork` again; else the mediator took the thread for busy
/// for good, and the pool ran out of threads.
#[test]
fn pool_threads_relaying_oneway_calls_through_the_window_keep_serving() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let svc = ctx.service(&["test.relay"]);
    let mut client = ctx.client(None);
    client.ok("get s test.relay");
    assert_eq!(client.ok("relay s 40"), "count=40");
    let o = svc.pid();
    ctx.wait_state("every pool thread of the service waits for work", |s| {
        process(s, o).is_some_and(|p| {
            p.threads
                .iter()
                .filter(|t| matches!(t.looper, Looper::Registered | Looper::Entered))
                .all(|t| t.idle)
        })
    });
    assert_eq!(client.ok("echo s still"), "still");
}

/// The same object sent in a plain oneway call (no window: the call
/// waits for the mediator's answer) by a thread that then ends.
#[test]
fn an_object_sent_in_a_plain_oneway_call_outlives_its_sending_thread() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.keep0"]);
    let mut client = ctx.client(None);
    client.ok("get s test.keep0");
    client.ok("ow-keep s 0");
    assert_eq!(call_kept_once_kept(&mut client), "cb:k");
}

/// `call-kept s`, again while the service answers "nothing kept": the
/// oneway keep runs on one of its pool threads, and a sync call sent after
/// it may run on another first (binder's race, not what these tests are
/// about). What they check is that the kept object, once there, answers.
fn call_kept_once_kept(client: &mut capbinder_tests::harness::App) -> String {
    for _ in 0..10_000 {
        match client.call("call-kept s") {
            Err(e) if e.contains("nothing kept") => std::thread::yield_now(),
            other => return other.unwrap_or_else(|e| panic!("call-kept: {e}")),
        }
    }
    panic!("the service never had the kept object")
}
