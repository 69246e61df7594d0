//! Direct channels through the runtime: a thread's data-only sync calls on
//! a handle go over a socket pair the mediator made, with nothing a caller
//! or a service can see changed: the caller's identity, nested calls on
//! the waiting thread, a dead reply when the service dies, a service that
//! goes on serving when a caller dies, revocation when the handle goes.

use capbinder_tests::context;
use capbinder_tests::harness::{process, App, NOBODY};

/// Two calls on `s`: the second asks for a channel and goes over it.
fn open_channel(client: &mut App) {
    client.ok("echo s a");
    client.ok("echo s b");
    assert_eq!(client.ok("channels"), "channels=1");
}

fn fields(line: &str) -> std::collections::HashMap<String, String> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn calls_go_direct_from_the_second_and_the_service_sees_the_same_caller() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.direct"]);
    let mut client = ctx.client(Some(NOBODY));
    client.ok("get s test.direct");
    assert_eq!(client.ok("channels"), "channels=0");
    let before = process(&ctx.state(), client.pid())
        .unwrap()
        .counters
        .calls_sent;
    let mut ids = Vec::new();
    for _ in 0..20 {
        let who = fields(&client.ok("whoami s"));
        assert_eq!(who["pid"], who["my_pid"]);
        assert_eq!(who["tid"], who["my_tid"]);
        assert_eq!(who["uid"], NOBODY.to_string());
        assert_eq!(who["euid"], NOBODY.to_string());
        ids.push(who["txn"].parse::<u64>().unwrap());
    }
    assert_eq!(client.ok("channels"), "channels=1");
    // IDs are the mediator's, unique and in order on the channel.
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    // The mediator carried at most the first (none when `get` made one
    // on the handle already); the others went direct.
    let s = ctx.state();
    let sent = process(&s, client.pid()).unwrap().counters.calls_sent - before;
    assert!(sent <= 1, "calls through the mediator: {sent}");
}

#[test]
fn a_process_may_keep_every_call_on_the_mediators_path() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.nodirect"]);
    let mut client = ctx.client(None);
    client.ok("direct off");
    client.ok("get s test.nodirect");
    let before = process(&ctx.state(), client.pid())
        .unwrap()
        .counters
        .calls_sent;
    for _ in 0..5 {
        assert_eq!(client.ok("echo s x"), "x");
    }
    assert_eq!(client.ok("channels"), "channels=0");
    let s = ctx.state();
    assert_eq!(
        process(&s, client.pid()).unwrap().counters.calls_sent - before,
        5
    );
}

#[test]
fn a_nested_call_from_a_directly_called_service_lands_on_the_waiting_thread() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.dnested"]);
    let mut client = ctx.client(None);
    client.ok("get s test.dnested");
    // Each call's handler calls the client's callback from inside the
    // call: the first two through the mediator, the rest adopted from
    // the direct channel first.
    assert_eq!(client.ok("kept-tid s 6"), "same_thread=6/6");
    assert_eq!(client.ok("channels"), "channels=1");
    // The channel still serves plain calls after adoptions.
    assert_eq!(client.ok("echo s after"), "after");
}

#[test]
fn a_service_killed_in_a_direct_call_gives_its_caller_a_dead_reply() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let mut svc = ctx.service(&["test.ddeath"]);
    let mut client = ctx.client(None);
    client.ok("get s test.ddeath");
    open_channel(&mut client);
    client.send("block s");
    svc.expect("in-call");
    let pid = svc.pid();
    svc.kill9();
    let e = client.expect("err");
    assert!(e.contains("DeadObject"), "{e}");
    assert!(client.err("echo s c").contains("DeadObject"));
    let s = ctx.wait_state("nothing is left of the service", |s| {
        process(s, pid).is_none() && s.direct.is_empty()
    });
    assert!(s.transactions.is_empty(), "{:?}", s.transactions);
}

#[test]
fn a_caller_killed_in_a_direct_call_leaves_the_service_serving() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let mut svc = ctx.service(&["test.dcaller"]);
    let mut client = ctx.client(None);
    client.ok("get s test.dcaller");
    client.ok("echo s a");
    client.ok("echo s b");
    client.send("block s");
    svc.expect("in-call");
    let pid = client.pid();
    client.kill9();
    // The channel drains while its server thread is in the call.
    ctx.wait_state("the caller is gone and its channel drains", |s| {
        process(s, pid).is_none() && !s.direct.is_empty() && s.direct.iter().all(|d| d.draining)
    });
    // The reply goes nowhere, harmlessly; the server thread ends and the
    // mediator forgets the channel; the service serves on, direct too.
    svc.send("release");
    ctx.wait_state("the drained channel is forgotten", |s| s.direct.is_empty());
    let mut other = ctx.client(None);
    other.ok("get s test.dcaller");
    for i in 0..4 {
        assert_eq!(other.ok(&format!("echo s n{i}")), format!("n{i}"));
    }
    assert_eq!(other.ok("channels"), "channels=1");
}

#[test]
fn dropping_the_handle_revokes_the_channel() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.drevoke"]);
    let mut client = ctx.client(None);
    client.ok("get s test.drevoke");
    open_channel(&mut client);
    client.ok("drop s");
    ctx.wait_state("the channel is revoked", |s| s.direct.is_empty());
    // Got again, the handle calls as before.
    client.ok("get s test.drevoke");
    assert_eq!(client.ok("echo s again"), "again");
}

/// A direct caller that dies while its call is served must not make the
/// service's own proxy to a third, live service dead: the handler's
/// nested call, which could not be adopted, goes through the mediator on
/// its own (as binder's would once the caller died).
#[test]
fn a_direct_caller_that_dies_leaves_the_services_other_proxies_alive() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let (mut svc, _third, mut c1) = keeping_a_third(&ctx, "test.dthird");
    // The calls after it open the channel.
    for _ in 0..2 {
        assert_eq!(c1.ok("call-kept s"), "k");
    }
    assert_eq!(c1.ok("channels"), "channels=1");
    c1.send("block-call-kept s");
    svc.expect("in-call");
    let pid = c1.pid();
    c1.kill9();
    ctx.wait_state("the caller is gone and its channel drains", |s| {
        process(s, pid).is_none() && !s.direct.is_empty() && s.direct.iter().all(|d| d.draining)
    });
    svc.send("release");
    assert_eq!(svc.expect("handler-done"), "ok=true");
    let mut c2 = ctx.client(None);
    c2.ok("get s test.dthird");
    c2.ok("direct off");
    assert_eq!(c2.ok("call-kept s"), "k");
    ctx.wait_state("the drained channel is forgotten", |s| s.direct.is_empty());
}

/// A forked child uses none of its parent's binder state (libbinder's
/// `CannotUseBinderAfterFork`), a direct channel included: the service is
/// never told the parent made a call the child made.
#[test]
fn a_forked_child_cannot_call_on_its_parents_direct_channel() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.dfork"]);
    let mut client = ctx.client(None);
    client.ok("get s test.dfork");
    open_channel(&mut client);
    let child = client.ok("fork-whoami s");
    assert!(child.starts_with("child_err"), "{child}");
    assert!(child.contains("fork"), "{child}");
}

/// Services `name` (as `s`) and `name.x` (as `x`), and a client that had
/// `s` keep its proxy to `x` and saw the keep run: (s, x, client).
fn keeping_a_third(
    ctx: &capbinder_tests::harness::Context,
    name: &str,
) -> (
    capbinder_tests::harness::App,
    capbinder_tests::harness::App,
    capbinder_tests::harness::App,
) {
    let svc = ctx.service(&[name]);
    let third = ctx.service(&[&format!("{name}.x")]);
    let mut c = ctx.client(None);
    c.ok(&format!("get s {name}"));
    c.ok(&format!("get x {name}.x"));
    c.ok("keep s x");
    // The oneway keep runs on one pool thread of s, a sync call may run on
    // another first (binder's race): wait until it has run.
    wait_kept(ctx, &mut c, "k");
    (svc, third, c)
}

/// Calls `call-kept s` until the oneway `keep` before it has run there.
fn wait_kept(
    ctx: &capbinder_tests::harness::Context,
    c: &mut capbinder_tests::harness::App,
    want: &str,
) {
    for _ in 0..1000 {
        match c.call("call-kept s") {
            Ok(got) if got == want => return,
            Err(e) if e.contains("nothing kept") => std::thread::yield_now(),
            other => panic!("call-kept: {other:?}"),
        }
    }
    panic!("the kept object never arrived: {:#?}", ctx.state());
}

fn signal(pid: i32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// The caller stops while its call is served (the server thread's request
/// for adoption goes unread), then dies: the handler's nested call must
/// end, not wait for an adoption that never comes.
fn adoption_wait_ends_when_the_caller_dies(code: &str) {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let (mut svc, _third, mut c1) = keeping_a_third(&ctx, "test.dhang");
    for _ in 0..3 {
        c1.ok("echo s a");
    }
    assert_eq!(c1.ok("channels"), "channels=1");
    c1.send(code);
    svc.expect("in-call");
    let pid = c1.pid();
    signal(pid, "-STOP");
    svc.send("release");
    // The server thread has told the mediator it awaits the adoption (it
    // asks the stopped caller right after): the caller dies with the
    // request unread.
    ctx.wait_state("the server thread awaits the adoption", |s| {
        s.direct.iter().any(|d| d.awaiting)
    });
    c1.kill9();
    ctx.wait_state("the caller is gone", |s| process(s, pid).is_none());
    assert_eq!(svc.expect("handler-done"), "ok=true");
    ctx.wait_state("its channel is forgotten", |s| s.direct.is_empty());
}

#[test]
fn an_adoption_wait_ends_when_the_caller_dies() {
    adoption_wait_ends_when_the_caller_dies("block-call-kept s");
}

/// The same with a oneway call's answer pending on the server thread's
/// own channel: settling it must not leave the thread in a blocking read
/// that no longer watches the direct channel.
#[test]
fn an_adoption_wait_ends_when_the_caller_dies_with_a_oneway_call_in_flight() {
    adoption_wait_ends_when_the_caller_dies("window-block-call-kept s");
}

/// `capbinder state` names each channel: who calls, on which handle, whom.
#[test]
fn the_state_command_lists_direct_channels() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let svc = ctx.service(&["test.dstate"]);
    let mut client = ctx.client(None);
    client.ok("get s test.dstate");
    client.ok("echo s a");
    client.ok("echo s b");
    let mut state = ctx.spawn("cli", &["state"], None);
    assert_eq!(state.wait_exit().code(), Some(0));
    let lines = state.take_lines();
    let line = lines
        .iter()
        .find(|l| l.starts_with("direct channel "))
        .unwrap_or_else(|| panic!("no channel listed: {lines:#?}"));
    assert!(
        line.contains(&format!("pid {} tid", client.pid()))
            && line.contains(&format!("-> pid {} node", svc.pid())),
        "{line}"
    );
}

/// A oneway call, then a sync call on the same handle from the same
/// thread: the sync call goes through the mediator, which hands it to the
/// service after the oneway call (as without channels; which of the two
/// runs first on two pool threads is binder's race, not ordered); the
/// call after it goes direct again.
#[test]
fn a_sync_call_after_a_oneway_call_on_the_same_handle_goes_behind_it() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.dorder"]);
    let mut client = ctx.client(None);
    client.ok("get s test.dorder");
    open_channel(&mut client);
    let sent = |ctx: &capbinder_tests::harness::Context, pid| {
        process(&ctx.state(), pid).unwrap().counters.calls_sent
    };
    let pid = client.pid();
    let before = sent(&ctx, pid);
    client.ok("keep-cb s r:");
    client.ok("echo s c");
    assert_eq!(sent(&ctx, pid), before + 1, "through the mediator");
    client.ok("echo s d");
    assert_eq!(sent(&ctx, pid), before + 1, "direct again");
}

/// Review finding: the rule above holds per handle. A oneway `keep` on s
/// waits in the mediator's queue (every pool thread of s is busy); a sync
/// call on another service, then the sync call on s that relies on the
/// keep: that one still goes through the mediator, behind the keep.
#[test]
fn a_sync_call_after_a_queued_oneway_call_goes_behind_it_after_other_calls() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let mut svc = ctx.service(&["test.dord2"]);
    let _other = ctx.service(&["test.dord2.y"]);
    let mut client = ctx.client(None);
    client.ok("get s test.dord2");
    client.ok("get y test.dord2.y");
    for _ in 0..2 {
        client.ok("echo s a");
        client.ok("echo y a");
    }
    assert_eq!(client.ok("channels"), "channels=2");
    let o = svc.pid();
    let max = process(&ctx.state(), o).unwrap().max_threads as usize;
    // Every pool thread of s (the main one and every one it may spawn)
    // blocked in a call.
    for _ in 0..=max {
        client.ok("block-bg s");
    }
    for _ in 0..=max {
        svc.expect("in-call");
    }
    client.ok("keep-cb s r:");
    client.ok("echo y b");
    let pid = client.pid();
    let before = process(&ctx.state(), pid).unwrap().counters.calls_sent;
    client.send("call-kept s");
    ctx.wait_state("call-kept reached the mediator, behind the keep", |s| {
        process(s, pid).is_some_and(|p| p.counters.calls_sent > before)
    });
    svc.send("release");
    // Which of the two then runs first, on two pool threads, is binder's
    // race: the hand-off order above is what is promised.
    let r = client.answer("call-kept s");
    assert!(
        r == Ok("r:k".to_string()) || r.as_ref().is_err_and(|e| e.contains("nothing kept")),
        "{r:?}"
    );
}
