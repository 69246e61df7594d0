//! Death notifications: a killed service's recipients fire once, on a pool
//! thread; linking to an object already seen dead is refused; unlinking
//! prevents the call; losing the mediator fires every recipient once and
//! fails calls (also one in flight) with a dead-object status.

use capbinder_core::state::StateDump;
use capbinder_core::Looper;
use capbinder_tests::harness::{process, Context};
use capbinder_tests::{context, external_context};

/// The threads of `pid` in the looper pool that have nothing to do are
/// idle (waiting for process work), and nothing waits in its queue.
fn pool_settled(s: &StateDump, pid: i32) -> bool {
    process(s, pid).is_some_and(|p| {
        p.queued_work == 0
            && p.pending_deaths == 0
            && p.threads
                .iter()
                .filter(|t| matches!(t.looper, Looper::Registered | Looper::Entered))
                .all(|t| t.idle || !t.stack.is_empty())
    })
}

fn service_and_client(
    ctx: &Context,
    name: &str,
) -> (capbinder_tests::harness::App, capbinder_tests::harness::App) {
    let svc = ctx.service(&[name]);
    let mut client = ctx.client(None);
    client.ok(&format!("get s {name}"));
    (svc, client)
}

#[test]
fn a_death_recipient_fires_once_on_a_pool_thread_when_its_service_is_killed() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let (mut svc, mut client) = service_and_client(&ctx, "test.death");
    client.ok("link s r1");
    client.ok("link s r2");
    svc.kill9();
    for r in ["r1", "r2"] {
        let got = client.ok(&format!("await-death {r}"));
        assert!(
            got.starts_with("count=1 threads=capbinder-pool"),
            "{r} should have fired once on a pool thread: {got}"
        );
    }
    let e = client.err("echo s anyone");
    assert!(e.contains("dead=true"), "a call to the dead service: {e}");
    assert_eq!(client.ok("alive s"), "false");
    // Once the client's death notice is acknowledged, nothing more can
    // come: the recipients still ran exactly once.
    let c = client.pid();
    ctx.wait_state("the client acknowledged the death", |s| {
        process(s, c).is_some_and(|p| p.pending_deaths == 0 && p.queued_work == 0)
    });
    client.ok("flush");
    assert_eq!(client.ok("deaths r1"), "count=1");
    assert_eq!(client.ok("deaths r2"), "count=1");
}

/// libbinder's `linkToDeath` once the obituaries were sent: `DEAD_OBJECT`,
/// and the late recipient never runs.
#[test]
fn linking_to_an_object_already_seen_dead_is_refused() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let (mut svc, mut client) = service_and_client(&ctx, "test.late");
    client.ok("link s first");
    svc.kill9();
    client.ok("await-death first");
    let e = client.err("link s late");
    assert!(e.contains("code=DeadObject"), "{e}");
    assert_eq!(client.ok("deaths late"), "count=0");
}

/// A client holding `s`, a service of its own that is then killed: the
/// client never subscribed, so it has not heard; the mediator knows (the
/// client's ref points at a dead node).
fn died_unnoticed(ctx: &Context, name: &str) -> capbinder_tests::harness::App {
    let (mut svc, client) = service_and_client(ctx, name);
    let (c, o) = (client.pid(), svc.pid());
    svc.kill9();
    ctx.wait_state("the client's ref is to a dead node", |s| {
        process(s, o).is_none()
            && process(s, c).is_some_and(|p| p.refs.iter().any(|r| r.owner_pid.is_none()))
    });
    client
}

#[test]
fn linking_to_an_object_that_died_unnoticed_fires_at_once() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let mut client = died_unnoticed(&ctx, "test.unnoticed");
    assert_eq!(client.ok("alive s"), "true", "nobody told the client yet");
    client.ok("link s r");
    assert!(client
        .ok("await-death r")
        .starts_with("count=1 threads=capbinder-pool"));
    assert_eq!(client.ok("alive s"), "false");
}

/// Oneway calls in a window to an object that died unnoticed: each is
/// written and returns, the mediator's dead replies come back from the
/// flush (all of them, `DeadObject`), and the proxy is dead from then on,
/// as after a oneway call that waited.
#[test]
fn oneway_calls_in_a_window_to_a_dead_object_fail_at_the_flush() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let mut client = died_unnoticed(&ctx, "test.window-dead");
    assert_eq!(client.ok("alive s"), "true", "nobody told the client yet");
    assert_eq!(
        client.ok("oneway-window-dead s 3"),
        "sent=3 flush=count=3 code=DeadObject"
    );
    assert_eq!(client.ok("alive s"), "false");
}

#[test]
fn unlinking_a_recipient_prevents_its_call() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let (mut svc, mut client) = service_and_client(&ctx, "test.unlink");
    client.ok("link s gone");
    client.ok("link s kept");
    client.ok("unlink s gone");
    // Unlinking twice is an error that says so.
    let e = client.err("unlink s gone");
    assert!(e.contains("not linked"), "{e}");
    svc.kill9();
    // Both recipients hang on the same proxy and the same notice: once
    // `kept` ran, `gone` would have too.
    assert!(client.ok("await-death kept").starts_with("count=1"));
    assert_eq!(client.ok("deaths gone"), "count=0");
}

#[test]
fn unlinking_every_recipient_clears_the_subscription_in_the_mediator() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let (_svc, mut client) = service_and_client(&ctx, "test.clear");
    let c = client.pid();
    client.ok("link s r");
    ctx.wait_state("the client's ref has a death subscription", |s| {
        process(s, c).is_some_and(|p| p.refs.iter().any(|r| r.death_cookie.is_some()))
    });
    client.ok("unlink s r");
    client.ok("flush");
    ctx.wait_state("the subscription is cleared", |s| {
        process(s, c).is_some_and(|p| p.refs.iter().all(|r| r.death_cookie.is_none()))
    });
}

#[test]
fn losing_the_mediator_fires_every_recipient_once_and_calls_fail_dead() {
    let (ctx, mut mediator) = external_context!();
    let _sm = ctx.servicemanager();
    let (mut svc, mut client) = service_and_client(&ctx, "test.lost");
    client.ok("session s sess");
    client.ok("link s r1");
    client.ok("link s r2");
    client.ok("link sess r3");
    // A call in flight when the mediator goes.
    assert_eq!(client.ok("block-bg s"), "started");
    svc.expect("in-call");
    mediator.kill9();
    let done = client.expect("block-done");
    assert!(
        done.starts_with("err") && done.contains("dead=true"),
        "the call in flight must fail as dead: {done}"
    );
    for r in ["r1", "r2", "r3"] {
        assert!(
            client
                .ok(&format!("await-death {r}"))
                .starts_with("count=1"),
            "{r} must fire"
        );
    }
    for cmd in [
        "echo s x",
        "echo sess x",
        "list",
        "get t test.lost",
        "ping s",
    ] {
        let e = client.err(cmd);
        assert!(
            e.contains("dead=true"),
            "{cmd} after the mediator died: {e}"
        );
    }
    // Linking now is refused, as after any death; the others never fire
    // again.
    assert!(client.err("link s r4").contains("code=DeadObject"));
    for r in ["r1", "r2", "r3"] {
        assert_eq!(client.ok(&format!("deaths {r}")), "count=1");
    }
}

#[test]
fn pool_threads_go_back_to_idle_after_a_death_notice() {
    let ctx = context!();
    let sm = ctx.servicemanager();
    let (mut svc, mut client) = service_and_client(&ctx, "test.idle");
    client.ok("link s r");
    svc.kill9();
    client.ok("await-death r");
    // The service manager (which links to every service it registers) and
    // the client both handled a death notice on a pool thread; each such
    // thread must be back to waiting for work, not stuck busy.
    for pid in [sm.pid(), client.pid()] {
        ctx.wait_state(
            &format!("every idle-able pool thread of pid {pid} is idle"),
            |s| pool_settled(s, pid),
        );
    }
}

#[test]
fn the_service_manager_keeps_serving_after_many_service_deaths() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let mut client = ctx.client(None);
    // More deaths than the service manager has pool threads (4).
    for i in 0..8 {
        let name = format!("test.churn{i}");
        let mut svc = ctx.service(&[&name]);
        client.ok(&format!("get s{i} {name}"));
        svc.kill9();
        client.ok(&format!("link s{i} r{i}"));
        client.ok(&format!("await-death r{i}"));
    }
    let mut last = ctx.service(&["test.last"]);
    client.ok("get last test.last");
    assert_eq!(client.ok("echo last still here"), "still here");
    last.kill9();
}

/// A process that sends oneway calls through its window and dies before
/// the mediator read them: every call it wrote reaches the service, in
/// order, as with binder, where a write is done when the ioctl returns.
/// The mediator is stopped while the client writes and dies, so that it
/// sees the writes and the death in one pass; it used to kill the process
/// first and drop what its channel still held.
#[test]
fn oneway_calls_written_just_before_death_all_arrive() {
    use rustix::process::{kill_process, Pid, Signal};
    let (ctx, mediator) = external_context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.lastwords"]);
    let mut client = ctx.client(None);
    client.ok("get s test.lastwords");
    let m = Pid::from_raw(mediator.pid()).expect("the mediator's pid");
    kill_process(m, Signal::STOP).expect("stopping the mediator");
    assert_eq!(client.ok("oneway-nowait s 50"), "sent=50");
    client.kill9();
    kill_process(m, Signal::CONT).expect("resuming the mediator");
    let mut reader = ctx.client(None);
    reader.ok("get s test.lastwords");
    assert_eq!(reader.ok("getlog s 50"), "count=50 in_order=true");
}
