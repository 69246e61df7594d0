//! Binder's conformance cases, end to end: the behaviours AOSP's libbinder
//! tests (`frameworks/native/libs/binder/tests/binderLibTest.cpp`, and a
//! few of `binderRpcTest.cpp`'s cases that are not about RPC) assert of
//! binder, checked against capbinder through the runtime API, with a real
//! mediator and real processes. Each test names the AOSP case it mirrors;
//! the cases other test files already cover are listed in their place
//! (`calls.rs`, `death.rs`, `refs.rs`, `builtins.rs`, `bad_input.rs`,
//! `core/tests/semantics.rs`, `kmod-shim/tests/transport.rs`).
//!
//! The processes are roles of `capbinder-conformance-app` (its own
//! interface, `capbinder.test.IConformance`, has the methods these cases
//! need). Nothing here sleeps: a test waits for a line a helper prints or
//! polls the mediator's state for a condition, and every wait has a
//! deadline whose failure shows the state.

use std::path::Path;

use capbinder_core::state::StateDump;
use capbinder_core::Looper;
use capbinder_tests::harness::{process, App, Context, NOBODY};

fn context() -> Context {
    Context::start(Path::new(env!("CARGO_BIN_EXE_capbinder-conformance-app")))
}

/// A service registered as `name`, ready; `max_threads` sets its pool
/// maximum (the joined main thread comes on top).
fn service(ctx: &Context, name: &str, max_threads: Option<u32>) -> App {
    let k = max_threads.map(|k| k.to_string());
    let mut args = vec!["--name", name];
    if let Some(k) = &k {
        args.extend(["--max-threads", k.as_str()]);
    }
    let mut s = ctx.spawn("service", &args, None);
    s.expect("ready");
    s
}

/// A `service` spawned with `args` (its name and flags), once ready.
fn service_with(ctx: &Context, args: &[&str]) -> App {
    let mut s = ctx.spawn("service", args, None);
    s.expect("ready");
    s
}

/// A client holding the service `name` as `s`.
fn client_of(ctx: &Context, name: &str) -> App {
    let mut c = ctx.client(None);
    c.ok(&format!("get s {name}"));
    c
}

/// The pool threads of `pid` (joined or spawned).
fn loopers(s: &StateDump, pid: i32) -> usize {
    process(s, pid).map_or(0, |p| {
        p.threads
            .iter()
            .filter(|t| matches!(t.looper, Looper::Registered | Looper::Entered))
            .count()
    })
}

// ---- calls -------------------------------------------------------------------

/// Mirrors `BinderLibTest.NopTransactionOneway`: the service's method
/// returns an error for a oneway call, and "oneway error codes should be
/// ignored": the caller sees success, and the same error on a synchronous
/// call still reaches its caller.
#[test]
fn an_error_from_a_oneway_call_never_reaches_its_caller() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let _svc = service(&ctx, "conf.oneway-error", None);
    let mut c = client_of(&ctx, "conf.oneway-error");
    assert_eq!(c.ok("fail s oneway"), "");
    let e = c.err("fail s sync");
    assert!(e.contains("specific=7"), "the sync call's error: {e}");
    // And the service is still serving.
    assert_eq!(c.ok("echo s after"), "after");
}

/// Mirrors `BinderLibTest.CallBack`: a oneway call whose handler calls the
/// caller's callback object synchronously. The caller's thread is not
/// waiting in that call (it was oneway), so the call back is served by the
/// caller's pool; in the synchronous case it lands on the waiting thread.
#[test]
fn a_call_back_from_a_oneway_call_is_served_by_the_callers_pool() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let svc = service(&ctx, "conf.callback", None);
    let mut c = client_of(&ctx, "conf.callback");
    let got = c.ok("callme s oneway");
    assert!(
        got.starts_with(&format!("caller={} thread=capbinder-pool", svc.pid())),
        "{got}"
    );
    assert!(got.ends_with("same_thread=false"), "{got}");
    let got = c.ok("callme s sync");
    assert!(
        got.starts_with(&format!("caller={} ", svc.pid())) && got.ends_with("same_thread=true"),
        "a call back inside a sync call runs on the waiting thread: {got}"
    );
}

/// Mirrors the calling-identity checks `BinderLibTestService::onTransact`
/// makes on every call (`getCallingUid()`), across the nested calls of
/// `BinderLibTest.IndirectGetId2`/`CallBack`: inside a call the identity
/// is the caller's; inside a nested call back it is the service's; once
/// the nested call returns, the outer call sees its own caller (and
/// transaction) again; outside any call there is none.
#[test]
fn the_calling_identity_is_restored_after_a_nested_call() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let _svc = service(&ctx, "conf.identity", None);
    let mut c = client_of(&ctx, "conf.identity");
    assert_eq!(
        c.ok("nested-who s"),
        "before_is_me=true inner_is_server=true after_is_me=true same_txn=true none_here=true"
    );
}

/// Mirrors libbinder's `IPCThreadState::clearCallingIdentity` /
/// `restoreCallingIdentity` as system services use them (and
/// `BinderLibTest.CallBack`'s nested call): inside a call, a service that
/// clears its identity sees itself as the caller (pid and uid); a call it
/// makes meanwhile reaches the callee with the service's real identity,
/// which the mediator takes from the kernel, never the original caller's;
/// restored, it sees its caller and transaction again.
#[test]
fn a_cleared_calling_identity_is_the_service_itself_until_restored() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let _svc = service(&ctx, "conf.cleared", None);
    let mut c = client_of(&ctx, "conf.cleared");
    assert_eq!(
        c.ok("cleared-who s"),
        "before_is_me=true cleared_sees_itself=true inner_is_server=true after_is_me=true same_txn=true"
    );
    // And outside the cleared scope, later calls see their caller as ever.
    assert_eq!(
        c.ok("nested-who s"),
        "before_is_me=true inner_is_server=true after_is_me=true same_txn=true none_here=true"
    );
}

/// Mirrors `binderRpcTest`'s `OnewayCallDoesNotWait` (and the oneway
/// loop of `BinderLibTest.Freeze`): a oneway call returns once the
/// mediator has taken it, even while every thread of the service is
/// blocked, and is delivered when one is free.
#[test]
fn a_oneway_call_returns_while_every_server_thread_is_busy() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    // No pool threads besides the joined main thread.
    let mut svc = service(&ctx, "conf.busy", Some(0));
    let mut c = client_of(&ctx, "conf.busy");
    assert_eq!(c.ok("block-bg s"), "started");
    svc.expect("in-call");
    // The one server thread is held until `release`: this returns only
    // if the oneway call does not wait for the server.
    assert_eq!(c.ok("log s 5"), "");
    let pid = svc.pid();
    ctx.wait_state("the oneway call waits in the service's queue", |s| {
        process(s, pid).is_some_and(|p| p.queued_work == 1)
    });
    svc.send("release");
    assert_eq!(c.expect("block-done"), "ok");
    assert_eq!(c.ok("getlog s 1"), "5");
}

/// Mirrors `BinderLibTest.OnewayQueueing`: a second oneway call to an
/// object is not delivered while the first one's handler runs, not even
/// when that handler waits in an outgoing call of its own (binder keeps
/// the second call on the node's async queue; delivering it to the waiting
/// thread would make the handler re-entrant). Here the service has idle
/// pool threads to spare, so only the per-object rule holds the call back.
#[test]
fn a_second_oneway_call_waits_until_the_first_one_finishes() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let svc = service(&ctx, "conf.queueing", None);
    let mut c = client_of(&ctx, "conf.queueing");
    oneway_queueing(&ctx, &mut c, svc.pid(), false);
}

/// `OnewayQueueing`'s steps on the service `s` of client `c` (pid `pid`):
/// `step` logs s<n>, calls the client back (held until `release`), logs
/// e<n>. The second step must wait on the node while the first is held.
/// On a service with one thread, `getsteps` (which waits for the log on
/// the thread serving it) goes only once the second step runs.
fn oneway_queueing(ctx: &Context, c: &mut App, pid: i32, one_thread: bool) {
    c.ok("step s 0");
    c.ok("step s 1");
    c.expect("cb-hold 0");
    ctx.wait_state(
        "the first oneway call is in flight and the second queued on the node",
        |s| {
            process(s, pid).is_some_and(|p| {
                p.nodes
                    .iter()
                    .any(|n| n.oneway_busy && n.oneway_queued == 1)
            })
        },
    );
    c.ok("release");
    if one_thread {
        c.expect("cb-hold 1");
    }
    assert_eq!(c.ok("getsteps s 4"), "s0,e0,s1,e1");
}

/// Mirrors `BinderLibTest.OnewayQueueing` as AOSP runs it, on a server
/// with one polled thread and no pool (`addPollServer`: libbinder's
/// `setupPolling` and `handlePolledCommands`): the second oneway call waits
/// on the node while the first one's handler waits in its own outgoing
/// call, and the polled thread serves sync calls, nested callbacks and
/// both oneway calls in order.
#[test]
fn a_polled_thread_serves_calls_and_keeps_oneway_order() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let svc = service_with(&ctx, &["--name", "conf.poll", "--poll"]);
    let mut c = client_of(&ctx, "conf.poll");
    c.ok("ping s");
    let pid = svc.pid();
    oneway_queueing(&ctx, &mut c, pid, true);
    let s = ctx.state();
    assert_eq!(loopers(&s, pid), 1, "one polled thread, no pool: {s:#?}");
}

/// A `sched` answer, `server=POLICY/NICE/RT caller=POLICY/NICE/RT`, as
/// (server's policy, server's nice, caller's policy, caller's nice).
fn sched_answer(a: &str) -> (String, i32, String, i32) {
    let part = |key: &str| {
        let v = a
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {a:?}"));
        let f: Vec<&str> = v.split('/').collect();
        (f[0].to_string(), f[1].parse::<i32>().expect("a nice value"))
    };
    let (sp, sn) = part("server=");
    let (cp, cn) = part("caller=");
    (sp, sn, cp, cn)
}

/// Mirrors `BinderLibTest.SchedPolicySet` (`BBinder::setMinSchedulerPolicy`
/// observed from the server thread): a call from a `SCHED_OTHER` caller
/// runs, on the server thread, at least at the node's minimum; a node
/// without one runs it at the caller's priority. Needs `CAP_SYS_NICE` in
/// the mediator (root).
#[test]
fn a_call_runs_at_least_at_the_nodes_minimum_scheduler_policy() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: applying a node's minimum priority needs CAP_SYS_NICE (root)");
        return;
    }
    let ctx = context();
    let _sm = ctx.servicemanager();
    let _floor = service_with(&ctx, &["--name", "conf.sched-floor", "--min-nice", "-10"]);
    let _plain = service(&ctx, "conf.sched-plain", None);
    let mut c = client_of(&ctx, "conf.sched-floor");
    c.ok("get p conf.sched-plain");
    let (sp, sn, cp, cn) = sched_answer(&c.ok("sched s"));
    if cp != "Normal" || cn <= -10 {
        eprintln!("skipped: the caller runs at {cp}/nice {cn}, not below the minimum");
        return;
    }
    assert!(
        sp == "Normal" && sn <= -10,
        "the server thread runs below the node's minimum (nice -10): {sp}/nice {sn}"
    );
    // The same caller on a node without a minimum: its own priority.
    let (pp, pn, _, _) = sched_answer(&c.ok("sched p"));
    assert_eq!(
        (pp.as_str(), pn),
        ("Normal", cn),
        "without a minimum the caller's priority is migrated"
    );
}

/// The policy and real-time priority after `key` in a `sched` answer
/// (`server=RoundRobin/0/7`).
fn policy_and_rt(a: &str, key: &str) -> (String, String) {
    let v = a
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {a:?}"));
    let f: Vec<&str> = v.split('/').collect();
    (f[0].to_string(), f[2].to_string())
}

/// Mirrors `BinderLibTest.SchedPolicySet` as AOSP writes it: the node's
/// minimum is `SCHED_RR` priority 7, so a `SCHED_OTHER` caller's call runs
/// on the server thread at RR 7; a caller at RR 8 runs it at RR 8 on a node
/// that inherits real-time priorities, and at the node's RR 7 on one that
/// does not. Needs `CAP_SYS_NICE` (root) in the mediator and the client.
#[test]
fn a_call_runs_at_least_at_the_nodes_real_time_minimum() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: real-time priorities need CAP_SYS_NICE (root)");
        return;
    }
    let ctx = context();
    let _sm = ctx.servicemanager();
    let _inherits = service_with(
        &ctx,
        &[
            "--name",
            "conf.rr7-inherit",
            "--min-rr",
            "7",
            "--inherit-rt",
        ],
    );
    let _floor = service_with(&ctx, &["--name", "conf.rr7", "--min-rr", "7"]);
    let mut c = client_of(&ctx, "conf.rr7-inherit");
    c.ok("get p conf.rr7");
    let a = c.ok("sched s");
    if policy_and_rt(&a, "caller=").0 != "Normal" {
        eprintln!("skipped: the caller is not SCHED_OTHER: {a}");
        return;
    }
    assert_eq!(
        policy_and_rt(&a, "server="),
        ("RoundRobin".into(), "7".into()),
        "a normal caller runs at the node's minimum: {a}"
    );
    let a = match c.call("sched-rr s 8") {
        Ok(a) => a,
        Err(e) if e.contains("sched_setattr") => {
            eprintln!("skipped: this machine refuses SCHED_RR here: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        policy_and_rt(&a, "server="),
        ("RoundRobin".into(), "8".into()),
        "a higher real-time caller is inherited above the minimum: {a}"
    );
    let a = c.ok("sched-rr p 8");
    assert_eq!(
        policy_and_rt(&a, "server="),
        ("RoundRobin".into(), "7".into()),
        "without inheritance the node's minimum applies: {a}"
    );
}

/// Mirrors `BinderLibTest.InheritRt`: a real-time caller's priority
/// migrates to the server thread only on a node that asked for it
/// (`set_inherit_rt`); on any other, the call runs at normal priority,
/// nice 0. Needs `CAP_SYS_NICE` (root) in the mediator and the client.
#[test]
fn a_real_time_callers_priority_migrates_only_where_the_node_inherits_it() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: real-time priorities need CAP_SYS_NICE (root)");
        return;
    }
    let ctx = context();
    let _sm = ctx.servicemanager();
    let _rt = service_with(&ctx, &["--name", "conf.rt-inherit", "--inherit-rt"]);
    let _plain = service(&ctx, "conf.rt-plain", None);
    let mut c = client_of(&ctx, "conf.rt-inherit");
    c.ok("get p conf.rt-plain");
    let fields = policy_and_rt;
    let a = match c.call("sched-rr s 8") {
        Ok(a) => a,
        Err(e) if e.contains("sched_setattr") => {
            eprintln!("skipped: this machine refuses SCHED_RR here: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert_eq!(fields(&a, "caller="), ("RoundRobin".into(), "8".into()));
    assert_eq!(
        fields(&a, "server="),
        ("RoundRobin".into(), "8".into()),
        "inherited: {a}"
    );
    let a = c.ok("sched-rr p 8");
    let (policy, _) = fields(&a, "server=");
    assert_eq!(policy, "Normal", "not inherited: {a}");
    assert_eq!(sched_answer(&a).1, 0, "at nice 0: {a}");
    // And the caller is back to what it had.
    let (_, _, cp, _) = sched_answer(&c.ok("sched s"));
    assert_eq!(cp, "Normal");
}

// ---- object identity ---------------------------------------------------------

/// Mirrors `BinderLibTest.CheckHandleZeroBinderHighBitsZeroCookie` (the
/// service returning itself comes back as the proxy the client already
/// holds) and `binderRpcTest`'s `SameBinderEquality`/`RepeatBinder`: a
/// binder passed back to its owner is the owner's very local object, and
/// the same remote object is always the same proxy.
#[test]
fn an_object_keeps_its_identity_wherever_it_travels() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let _svc = service(&ctx, "conf.identity-objects", None);
    let mut c = client_of(&ctx, "conf.identity-objects");
    c.ok("self s t");
    assert_eq!(c.ok("same s t"), "true", "getSelf is the proxy held");
    c.ok("get u conf.identity-objects");
    assert_eq!(c.ok("same s u"), "true", "found twice, one proxy");
    assert_eq!(
        c.ok("roundtrip s"),
        "local_same=true local=true remote_same=true remote_handle_same=true"
    );
}

/// Mirrors `BinderLibTest.AddManagerToManager`: the service manager can
/// be registered under a name in itself (binder's servicemanager does so
/// as "manager"), and what is found under that name answers.
#[test]
fn the_service_manager_can_be_registered_in_itself() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let mut c = ctx.client(None);
    c.ok("sm m");
    c.ok("addsm conf.manager");
    assert_eq!(c.ok("check x conf.manager"), "found");
    c.ok("ping x");
}

/// Mirrors the identity half of `BinderLibTest.AddManagerToManager` and
/// `CheckHandleZeroBinderHighBitsZeroCookie`: the context manager's node
/// reaches every other process as handle 0 (as binder's driver gives it
/// descriptor 0), so the service manager found by name is the very proxy
/// `defaultServiceManager()` returns.
#[test]
fn the_service_manager_found_by_name_is_the_handle_0_proxy() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let mut c = ctx.client(None);
    c.ok("sm m");
    c.ok("addsm conf.manager");
    assert_eq!(c.ok("check x conf.manager"), "found");
    assert_eq!(c.ok("same m x"), "true", "found by name, it is handle 0");
}

/// Mirrors `BinderLibTest.PromoteLocal`: a weak reference to a local
/// object upgrades to that object while a strong reference exists, and
/// not once the last one is gone.
#[test]
fn a_weak_reference_to_a_local_object_upgrades_only_while_it_is_held() {
    struct Nop;
    impl capbinder::Binder for Nop {
        fn descriptor(&self) -> &str {
            "capbinder.test.Nop"
        }
        fn on_transact(
            &self,
            _code: u32,
            _data: &mut capbinder::Parcel,
            _reply: &mut capbinder::Parcel,
        ) -> capbinder::Result<()> {
            Ok(())
        }
    }
    let strong = capbinder::new_binder(Nop);
    let weak = strong.downgrade();
    let again = weak.upgrade().expect("held strongly: the upgrade works");
    assert_eq!(again, strong);
    drop(again);
    drop(strong);
    assert!(weak.upgrade().is_none(), "no strong reference is left");
}

/// Mirrors `BinderLibTest.PromoteRemote` (`Parcel::writeWeakBinder`,
/// `readWeakBinder`, `wp::promote` on a remote object): a process that
/// holds a remote object strongly sends a weak reference to it on, and
/// so does the object's owner for its local object; the receiver promotes
/// either to a strong reference that calls the object while some process
/// holds it strongly (the holder here; as in binder, what counts are the
/// strong handles the mediator knows), and promotion fails once none
/// does, though the weak reference is still held.
#[test]
fn a_weak_reference_sent_on_promotes_only_while_the_object_is_held_strongly() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let _holder = service(&ctx, "conf.weak-holder", None);
    let promoter = service(&ctx, "conf.weak-promoter", None);
    let mut c = client_of(&ctx, "conf.weak-holder");
    c.ok("get p conf.weak-promoter");
    // The client's own object, held strongly by the holder service.
    c.ok("newlocal x");
    c.ok("keep s x");
    // A weak reference to a remote object, sent on by its holder.
    c.ok("send-weak s p");
    assert_eq!(c.ok("promote p"), "promoted=true echo=promoted");
    // A weak reference to a local object, sent by its owner.
    c.ok("keep-weak p x");
    assert_eq!(c.ok("promote p"), "promoted=true echo=promoted");
    // The last strong handle goes: the object can no longer be promoted.
    c.ok("unkeep s");
    c.ok("drop x");
    assert_eq!(c.ok("promote p"), "promoted=false");
    // The promoter still holds its weak reference (no strong one).
    let s = ctx.state();
    let refs = &process(&s, promoter.pid()).expect("the promoter").refs;
    assert!(
        refs.iter()
            .any(|r| r.owner_pid == Some(c.pid()) && r.strong == 0 && r.weak > 0),
        "the promoter's weak ref to the client's object: {refs:?}"
    );
}

/// Mirrors the other half of `BinderLibTest.PromoteRemote`: a weak
/// reference to an object whose process died no longer promotes.
#[test]
fn a_weak_reference_no_longer_promotes_once_the_objects_process_died() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let mut owner = service(&ctx, "conf.weak-owner", None);
    let _promoter = service(&ctx, "conf.weak-promoter2", None);
    let mut c = client_of(&ctx, "conf.weak-owner");
    c.ok("get p conf.weak-promoter2");
    c.ok("keep-weak p s");
    assert_eq!(c.ok("promote p"), "promoted=true echo=promoted");
    let pid = owner.pid();
    owner.kill9();
    ctx.wait_state("the owner is gone", |s| process(s, pid).is_none());
    assert_eq!(c.ok("promote p"), "promoted=false");
}

// ---- extensions ----------------------------------------------------------------

/// Mirrors `BinderLibTest.RemoteGetExtension` (`IBinder::getExtension`
/// through the `_EXT` built-in) and `LocalGetExtension`: a client finds a
/// service's extension through its proxy and calls it (a different object
/// in the service's process, with its own interface); asked again, it is
/// the same proxy. An object without an extension, remote or local, and
/// the extension itself, answer none.
#[test]
fn a_services_extension_is_found_through_its_proxy_and_keeps_its_identity() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let mut svc = ctx.spawn("service", &["--name", "conf.ext", "--extension"], None);
    svc.expect("ready");
    let _plain = service(&ctx, "conf.no-ext", None);
    let mut c = client_of(&ctx, "conf.ext");
    assert_eq!(c.ok("ext s e"), "found");
    assert_eq!(c.ok("descriptor e"), "capbinder.test.IConformanceExt");
    assert_eq!(c.ok("echo e hello"), "ext hello");
    assert_eq!(
        c.ok("echo s hello"),
        "hello",
        "the object itself is another"
    );
    assert_eq!(c.ok("pid e"), svc.pid().to_string());
    assert_eq!(c.ok("same e s"), "false");
    assert_eq!(c.ok("ext s e2"), "found");
    assert_eq!(c.ok("same e e2"), "true", "asked twice, one proxy");
    assert_eq!(c.ok("ext e none"), "none", "the extension has none");
    c.ok("get p conf.no-ext");
    assert_eq!(c.ok("ext p none"), "none");
    // And the call never reached IConformance's own codes, which know no
    // `_EXT`: it still serves.
    assert_eq!(c.ok("echo p still"), "still");
    c.ok("newlocal x");
    assert_eq!(c.ok("ext x none"), "none", "a local object without one");
}

/// Mirrors `BBinder::setExtension` called after the object was sent
/// (libbinder allows it, and so does capbinder): a service sets its
/// extension while a client holds it, to the client's own object, and the
/// client gets that very local object back; taken off again, the client
/// finds none.
#[test]
fn an_extension_set_after_the_object_was_sent_reaches_its_holders() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let _svc = service(&ctx, "conf.late-ext", None);
    let mut c = client_of(&ctx, "conf.late-ext");
    assert_eq!(c.ok("ext s e"), "none");
    c.ok("newlocal x");
    c.ok("set-ext s x");
    assert_eq!(c.ok("ext s e"), "found");
    assert_eq!(c.ok("same e x"), "true", "the client's own local object");
    assert_eq!(c.ok("echo e mine"), "mine");
    c.ok("set-ext s -");
    assert_eq!(c.ok("ext s e"), "none");
}

// ---- service notifications ------------------------------------------------------

/// Mirrors servicemanager's `registerForNotifications` then
/// `unregisterForNotifications` (AOSP's `servicemanager_test` cases
/// `ServiceNotifications.Unregister` and
/// `UnregisterWhenNoRegistrationExists`, across processes here): a
/// callback fires when the name is registered; once unregistered it hears
/// of no later registration under that name; unregistering a callback that
/// is not registered is `EX_ILLEGAL_STATE`, as AOSP's servicemanager says.
///
/// "Did not fire" needs no sleep: notifications to one callback object are
/// oneway calls on one node, delivered one at a time in the order sent. The
/// client registers `a` and then `b` under the name while unregistered,
/// then registers the callback again, which notifies it at once of `b`. Had
/// the unregister not held, `a`'s and `b`'s registrations would have come
/// first, so the second notice would be `a`.
#[test]
fn an_unregistered_notification_callback_hears_of_no_later_registration() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let mut c = ctx.client(None);
    c.ok("newwatcher w");
    c.ok("watch conf.notify w");
    let _svc = service(&ctx, "conf.notify", None);
    c.ok("get s conf.notify");
    assert_eq!(c.ok("await-notices w 1"), "conf.notify=s");
    c.ok("unwatch conf.notify w");
    c.ok("newlocal a");
    c.ok("add conf.notify a");
    c.ok("newlocal b");
    c.ok("add conf.notify b");
    c.ok("watch conf.notify w");
    assert_eq!(
        c.ok("await-notices w 2"),
        "conf.notify=s,conf.notify=b",
        "only the fresh registration's at-once notice came"
    );
    // Unregistered again; a second unregister finds nothing to remove,
    // and so does one of a callback never registered, or another name.
    c.ok("unwatch conf.notify w");
    c.ok("newwatcher v");
    for cmd in [
        "unwatch conf.notify w",
        "unwatch conf.nothing w",
        "unwatch conf.notify v",
    ] {
        let e = c.err(cmd);
        assert!(
            e.contains("exception=IllegalState"),
            "{cmd}: AOSP's servicemanager answers EX_ILLEGAL_STATE: {e}"
        );
    }
    assert_eq!(c.ok("notices v"), "");
}

// ---- death -------------------------------------------------------------------

/// Mirrors `BinderLibTest.DeathNotificationMultiple`: every process that
/// linked to an object hears of its death, and a process that only holds
/// a reference gets no notice but a dead object on its next call.
#[test]
fn every_linked_process_hears_of_a_death() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let mut target = service(&ctx, "conf.target", None);
    let mut linked: Vec<App> = (0..2).map(|_| client_of(&ctx, "conf.target")).collect();
    let mut passive = client_of(&ctx, "conf.target");
    for c in &mut linked {
        c.ok("link s r");
    }
    target.kill9();
    for c in &mut linked {
        assert!(c
            .ok("await-death r")
            .starts_with("count=1 threads=capbinder-pool"));
    }
    let e = passive.err("echo s anyone");
    assert!(e.contains("dead=true"), "{e}");
}

/// Mirrors `BinderLibTest.DeathNotificationStrongRef`: after the death
/// notice ran, unlinking that recipient reports a dead object (libbinder's
/// `DEAD_OBJECT`), not "not linked".
#[test]
fn unlinking_after_the_death_reports_a_dead_object() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let mut target = service(&ctx, "conf.unlink-dead", None);
    let mut c = client_of(&ctx, "conf.unlink-dead");
    c.ok("link s r");
    target.kill9();
    c.ok("await-death r");
    let e = c.err("unlink s r");
    assert!(
        e.contains("code=DeadObject") && e.contains("dead=true"),
        "unlink after the death: {e}"
    );
}

/// Mirrors `BinderLibTest.DeathNotificationThread`: a reference to an
/// object that is already dead can still be passed to another process,
/// and a recipient that process links to it, from inside a call whose
/// thread then blocks waiting for it, still runs: on another pool thread
/// of that process, not the blocked one.
#[test]
fn linking_to_an_already_dead_object_inside_a_call_fires_on_another_thread() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let mut target = service(&ctx, "conf.dead-target", None);
    let _other = service(&ctx, "conf.linker", None);
    let mut c = client_of(&ctx, "conf.dead-target");
    c.ok("get b conf.linker");
    c.ok("link s r");
    target.kill9();
    c.ok("await-death r");
    let got = c.ok("link-via b s");
    assert!(
        got.starts_with("fired=true threads=capbinder-pool"),
        "the recipient in the other process: {got}"
    );
}

// ---- file descriptors --------------------------------------------------------

/// Mirrors `BinderLibTest.PassFile` and `PassParcelFileDescriptor`: the
/// service writes into a pipe's write end it got in a call, and once the
/// call is done no copy of that end is left anywhere (the service's, the
/// mediator's): the client reads the bytes and then the end of file.
#[test]
fn a_passed_file_descriptor_is_closed_by_the_receiver_when_it_is_done() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let _svc = service(&ctx, "conf.passfile", None);
    let mut c = client_of(&ctx, "conf.passfile");
    assert_eq!(
        c.ok("writefd s written by the service"),
        "read=written by the service"
    );
}

/// Mirrors `BinderLibTest.FileDescriptorRemainsNonBlocking`: a file
/// descriptor keeps its status flags (`O_NONBLOCK`) across a call.
#[test]
fn a_passed_file_descriptor_keeps_its_status_flags() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let _svc = service(&ctx, "conf.nonblock", None);
    let mut c = client_of(&ctx, "conf.nonblock");
    assert_eq!(c.ok("nonblock s"), "nonblocking=true");
}

/// A reply the service cannot send as written (here an fd it read back
/// out of its own reply) still ends the call: the caller gets an error
/// naming the reason instead of waiting for good (binder answers a reply
/// it cannot deliver with `BR_FAILED_REPLY` the same way), and the service
/// goes on serving, its next reply carrying no fd left over from this one.
#[test]
fn a_reply_the_service_cannot_send_fails_the_call_instead_of_hanging_it() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let _svc = service(&ctx, "conf.spent", None);
    let mut c = client_of(&ctx, "conf.spent");
    let e = c.err("spent-fd s");
    assert!(
        e.contains("code=BadValue") && e.contains("already read"),
        "a reply that cannot be sent: {e}"
    );
    assert_eq!(c.ok("nonblock s"), "nonblocking=true");
    assert_eq!(c.ok("echo s still serving"), "still serving");
}

/// A handler that panics (a service bug) fails the call with an error
/// naming the panic, as Java's binder answers a RuntimeException, instead
/// of taking the serving thread down with it: the caller would otherwise
/// get a "died" reply from a process that lives on. The service goes on
/// serving; a oneway call that panics is dropped like one that fails.
#[test]
fn a_panicking_handler_fails_its_call_and_the_service_keeps_serving() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let svc = service(&ctx, "conf.panic", None);
    let mut c = client_of(&ctx, "conf.panic");
    let pid = svc.pid();
    let e = c.err("panic s sync");
    assert!(
        e.contains("panicked") && e.contains("panicNow() always panics"),
        "the caller hears of the panic: {e}"
    );
    assert_eq!(c.ok("panic s oneway"), "");
    assert_eq!(c.ok("echo s still serving"), "still serving");
    ctx.wait_state("the service's calls are done", |s| {
        process(s, pid)
            .is_some_and(|p| p.queued_work == 0 && p.threads.iter().all(|t| t.stack.is_empty()))
    });
}

/// A reply with more fds than one message may carry (the kernel passes
/// at most `SCM_MAX_FD`, 253, and refuses the whole message past that)
/// fails its call with an error that says so, instead of the write failing
/// and the caller waiting for good (or being told the service died, when
/// the failed write ended its pool thread); 253 fds still travel.
#[test]
fn a_reply_with_more_fds_than_a_message_carries_fails_its_call_by_name() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let _svc = service(&ctx, "conf.fds", None);
    let mut c = client_of(&ctx, "conf.fds");
    let e = c.err("fds s 300");
    assert!(
        e.contains("300 file descriptors") && e.contains("at most 253"),
        "too many fds: {e}"
    );
    assert_eq!(c.ok("fds s 253"), "fds=253");
    assert_eq!(c.ok("echo s still serving"), "still serving");
}

/// A reply whose fd the caller cannot receive (it is out of fds: the
/// kernel drops what it cannot install) still ends the call: the caller
/// gets the reply, and reading the missing fd is an error naming it,
/// instead of the thread dropping the reply or dying; once it has fds
/// again, fds arrive.
#[test]
fn a_reply_whose_fd_cannot_be_received_still_ends_the_call() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let _svc = service(&ctx, "conf.nofile", None);
    let mut c = client_of(&ctx, "conf.nofile");
    assert_eq!(c.ok("nofile on"), "set");
    let e = c.err("nonblock s");
    assert!(e.contains("did not arrive"), "{e}");
    assert_eq!(c.ok("echo s still serving"), "still serving");
    assert_eq!(c.ok("nofile off"), "set");
    assert_eq!(c.ok("nonblock s"), "nonblocking=true");
}

// ---- limits and the pool ------------------------------------------------------

/// Mirrors `BinderLibTest.LimitExceededVectorSent` as capbinder has it: a
/// request too large for the target's buffer travels as a blob (a
/// documented difference), so the call that cannot fit is a reply into a
/// caller whose receive buffer is nearly full. It fails that call with a
/// failed transaction, and once the buffer is free again the same call
/// works and the service still serves.
#[test]
fn a_reply_that_does_not_fit_fails_its_call_cleanly_and_the_next_call_works() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let _svc = service(&ctx, "conf.full", None);
    let mut c = client_of(&ctx, "conf.full");
    // Four replies of 240 000 bytes kept unread: about 960 KB of the
    // client's 1 MiB receive buffer.
    for _ in 0..4 {
        c.ok("hold s 240000");
    }
    let e = c.err("bytes s 100000");
    assert!(
        e.contains("code=FailedTransaction"),
        "a reply that cannot fit: {e}"
    );
    c.ok("unhold");
    assert_eq!(c.ok("bytes s 100000"), "equal len=100000");
    assert_eq!(c.ok("echo s still serving"), "still serving");
}

/// Mirrors `BinderLibTest.ThreadPoolAvailableThreads` and
/// `HangingServices`: calls that block in a service make its pool grow,
/// one thread at a time, to its maximum (plus the joined main thread), and
/// no further: one more call waits in the queue, and every call completes
/// once the service lets them go.
#[test]
fn a_pool_grows_to_its_maximum_under_blocking_calls_and_no_further() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let mut svc = service(&ctx, "conf.pool", Some(2));
    let mut c = client_of(&ctx, "conf.pool");
    // binderLibTest's ThreadPoolStarted and the maximum as the mediator
    // records it.
    c.ok("set-max-threads 3");
    assert_eq!(c.ok("pool-info"), "started=true max=3");
    for _ in 0..4 {
        assert_eq!(c.ok("block-bg s"), "started");
    }
    // Main thread + 2 spawned: three calls are served at once.
    for _ in 0..3 {
        svc.expect("in-call");
    }
    let (pid, cpid) = (svc.pid(), c.pid());
    ctx.wait_state(
        "three service threads are busy and the fourth call is queued",
        |s| {
            process(s, cpid).is_some_and(|p| p.pending_out == 4)
                && process(s, pid).is_some_and(|p| {
                    p.queued_work == 1
                        && p.threads
                            .iter()
                            .filter(|t| matches!(t.looper, Looper::Registered | Looper::Entered))
                            .all(|t| !t.stack.is_empty())
                })
                && loopers(s, pid) == 3
        },
    );
    svc.send("release");
    for _ in 0..4 {
        assert_eq!(c.expect("block-done"), "ok");
    }
    let s = ctx.wait_state("every call is done", |s| {
        process(s, pid).is_some_and(|p| p.queued_work == 0)
    });
    assert_eq!(loopers(&s, pid), 3, "the pool never grew past its maximum");
}

/// A spawn request the process cannot meet (here the new thread is
/// refused by the mediator's per-process thread cap) is reported back
/// (`SpawnFailed`, with the process's next write), so the request does
/// not stay outstanding and keep the pool from ever being asked to grow
/// again; every call is still served by the threads there are. Binder and
/// libbinder leave such a request outstanding for good.
#[test]
fn a_pool_thread_that_cannot_start_is_reported_and_the_calls_are_still_served() {
    let mut config = capbinder_tests::harness::mediator_config();
    config.limits.thread_cap = 4;
    config.limits.default_max_threads = 4;
    let ctx = Context::start_with(
        Path::new(env!("CARGO_BIN_EXE_capbinder-conformance-app")),
        config,
    );
    let _sm = ctx.servicemanager();
    let mut svc = service(&ctx, "conf.cap", Some(4));
    // One blocking call per client (a client's main thread, pool thread
    // and calling thread are three of its four).
    let mut clients: Vec<App> = (0..5).map(|_| client_of(&ctx, "conf.cap")).collect();
    for c in &mut clients {
        assert_eq!(c.ok("block-bg s"), "started");
    }
    // The main thread and three spawned threads reach the cap: four calls
    // are served at once, and the fourth spawn request fails.
    for _ in 0..4 {
        svc.expect("in-call");
    }
    svc.send("release");
    for c in &mut clients {
        assert_eq!(c.expect("block-done"), "ok");
    }
    // A failure is reported with the service's next write; a thread that
    // fails after the last one is reported with the next call's reply.
    let pid = svc.pid();
    let caller = std::cell::RefCell::new(&mut clients[0]);
    let s = ctx.wait_state("the failed spawn request is no longer outstanding", |s| {
        let done = process(s, pid).is_some_and(|p| {
            p.queued_work == 0 && p.requested_threads == 0 && p.counters.spawn_failures >= 1
        });
        if !done {
            assert_eq!(
                caller.borrow_mut().ok("echo s still serving"),
                "still serving"
            );
        }
        done
    });
    assert_eq!(
        loopers(&s, pid),
        4,
        "the main thread and three spawned ones"
    );
}

/// Mirrors `BinderLibTest.Freeze`: freezing a process that is serving a
/// synchronous call is refused (binder's `-EAGAIN`); once frozen, a
/// synchronous call to it fails at once with a frozen status and a oneway
/// call waits; thawed, it gets the oneway call and serves again. Its
/// freeze info (`getProcessFreezeInfo`) says what was sent to it while
/// frozen: fresh after the freeze, a sync call (`sync_received` 1, as
/// binderLibTest expects, with `async_received` 0), then a oneway call
/// (which stays pending, bit 1 of `sync_received`); a thaw clears both.
#[test]
fn a_frozen_process_refuses_sync_calls_keeps_oneway_calls_and_serves_when_thawed() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let mut svc = service(&ctx, "conf.freeze", None);
    let mut c = client_of(&ctx, "conf.freeze");
    let pid = svc.pid();
    assert_eq!(c.ok("block-bg s"), "started");
    svc.expect("in-call");
    let e = c.err(&format!("freeze {pid} on"));
    assert!(
        e.contains("code=WouldBlock") && e.contains("calls to finish"),
        "freezing a busy process: {e}"
    );
    svc.send("release");
    assert_eq!(c.expect("block-done"), "ok");
    let info = format!("freeze-info {pid}");
    assert_eq!(c.ok(&info), "frozen=false sync=0 async=0");
    c.ok(&format!("freeze {pid} on"));
    assert_eq!(c.ok(&info), "frozen=true sync=0 async=0");
    let e = c.err("echo s while frozen");
    assert!(
        e.contains("code=Frozen"),
        "a sync call to a frozen process: {e}"
    );
    assert_eq!(c.ok(&info), "frozen=true sync=1 async=0");
    assert_eq!(c.ok("log s 3"), "");
    let s = ctx.wait_state("the oneway call waits in the frozen service", |s| {
        process(s, pid).is_some_and(|p| p.frozen && p.queued_work == 1)
    });
    let counters = &process(&s, c.pid()).expect("client").counters;
    assert_eq!(counters.frozen_replies, 1, "one frozen reply to the client");
    assert_eq!(
        c.ok(&info),
        "frozen=true sync=3 async=1",
        "a waiting oneway call"
    );
    c.ok(&format!("freeze {pid} off"));
    assert_eq!(c.ok("getlog s 1"), "3");
    assert_eq!(c.ok("echo s thawed"), "thawed");
    assert_eq!(c.ok(&info), "frozen=false sync=0 async=0");
    let e = c.err("freeze-info 2147483647");
    assert!(e.contains("no such process"), "an unknown pid: {e}");
}

/// Mirrors `BinderLibTest.NopTransactionClear` (`TF_CLEAR_BUF`): a parcel
/// marked sensitive arrives marked, and so does its reply, as libbinder
/// forwards the flag; the mediator zeroes both ranges when they are freed
/// (the transport test checks the bytes).
#[test]
fn a_sensitive_call_and_its_reply_are_marked_on_both_sides() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let _svc = service(&ctx, "conf.sensitive", None);
    let mut c = client_of(&ctx, "conf.sensitive");
    assert_eq!(
        c.ok("sensitive s"),
        "request=true reply-in-handler=true reply=true"
    );
    assert_eq!(c.ok("echo s plain"), "plain");
}

/// Mirrors binderLibTest's work source cases (`WorkSourceUnsetByDefault`,
/// `WorkSourceSet`, `WorkSourceSetWithoutPropagation`, `WorkSourceCleared`,
/// `WorkSourceRestored`, `WorkSourcePropagatedForAllFollowingBinderCalls`):
/// what the service reads as the call's work source (`-1` for none) after
/// the client's sequence of libbinder calls; the client's own is left as
/// it set it.
#[test]
fn a_call_carries_the_work_source_only_while_propagation_is_on() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let _svc = service(&ctx, "conf.work-source", None);
    let mut c = client_of(&ctx, "conf.work-source");
    assert_eq!(c.ok("worksource s unset"), "-1 own=-1");
    assert_eq!(c.ok("worksource s set"), "100 own=100");
    assert_eq!(c.ok("worksource s noprop"), "-1 own=100");
    assert_eq!(c.ok("worksource s cleared"), "-1 own=-1");
    assert_eq!(c.ok("worksource s restored"), "100 own=100");
    assert_eq!(c.ok("worksource s twice"), "100 100 own=100");
}

/// libbinder's `IPCThreadState::executeCommand` around a served call: the
/// service reads the work source the call carried, but the calls it makes
/// meanwhile carry none unless it sets one; once the call ends, the
/// thread's own comes back (here the client's own thread serves the call
/// back, in the middle of its call, and its 100 survives it).
#[test]
fn a_served_call_reports_the_carried_work_source_without_passing_it_on() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let _svc = service(&ctx, "conf.work-source-nested", None);
    let mut c = client_of(&ctx, "conf.work-source-nested");
    assert_eq!(c.ok("worksource s nested"), "[100, -1, 555, 100]");
    assert_eq!(c.ok("worksource s set"), "100 own=100");
}

/// The figures a `new-proxy` or `drop-proxies` answer ends with.
fn totals(answer: &str) -> (usize, usize) {
    let field = |name: &str| -> usize {
        answer
            .split(' ')
            .find_map(|w| w.strip_prefix(name))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {answer:?}"))
    };
    (field("total="), field("mine="))
}

/// Mirrors `BinderLibTest.BinderProxyCount`: every proxy made counts one,
/// every proxy gone takes one back, and dropping them all brings the count
/// back to where it began.
#[test]
fn each_proxy_counts_while_it_lives() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let _svc = service(&ctx, "conf.proxy-count", None);
    let mut c = client_of(&ctx, "conf.proxy-count");
    let (start, _) = totals(&c.ok("drop-proxies 0"));
    for i in 1..=20 {
        assert_eq!(totals(&c.ok("new-proxy s")).0, start + i);
    }
    for i in 1..=20 {
        assert_eq!(totals(&c.ok("drop-proxies 1")).0, start + 20 - i);
    }
}

/// Mirrors `BinderLibTest.BinderProxyCountCallback`: with counting by uid
/// on and watermarks 30 (high), 20 (low), 25 (warning), the warning
/// callback runs once when the 26th proxy is made, the limit callback at
/// the 31st and again 30 later; once the uid is down to the low watermark
/// both are armed again. The proxies are made from replies, outside any
/// call, so they are charged to the client's own uid.
#[test]
fn proxy_watermarks_call_back_once_per_crossing() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let _svc = service(&ctx, "conf.proxy-watermarks", None);
    let mut c = client_of(&ctx, "conf.proxy-watermarks");
    c.ok("proxy-watch 30 20 25");
    // The callbacks each of `n` more proxies called, by the count it made.
    let made = |c: &mut App, n: usize| -> Vec<(usize, String)> {
        (0..n)
            .filter_map(|_| {
                let a = c.ok("new-proxy s");
                let (_, mine) = totals(&a);
                let events = a.rsplit_once(" total=").map_or("", |(e, _)| e);
                (events != "warnings=0 limits=0").then(|| (mine, events.to_string()))
            })
            .collect()
    };
    let warning = |n| (n, "warnings=1 limits=0".to_string());
    let limit = |n| (n, "warnings=0 limits=1".to_string());
    assert_eq!(made(&mut c, 61), vec![warning(26), limit(31)]);
    assert_eq!(made(&mut c, 1), vec![limit(62)], "30 more than at the last");
    assert_eq!(totals(&c.ok("drop-proxies 43")).1, 19);
    assert_eq!(
        made(&mut c, 12),
        vec![warning(26), limit(31)],
        "armed again at the low watermark"
    );
}

/// What counting by uid is for (libbinder's `BpBinder::create` charging
/// `getCallingUid()`): a service counts the proxies it makes while serving
/// a call against the caller's uid, as the kernel told the mediator, so
/// one app flooding it with objects shows under that app's uid alone.
#[test]
fn a_service_counts_the_proxies_each_caller_sent_it_by_uid() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let mut svc = ctx.spawn(
        "service",
        &["--name", "conf.proxy-uids", "--count-by-uid"],
        None,
    );
    svc.expect("ready");
    let mut app = ctx.client(Some(NOBODY));
    app.ok("get s conf.proxy-uids");
    app.ok("hoard s 3");
    let mut mine = client_of(&ctx, "conf.proxy-uids");
    mine.ok("hoard s 2");
    let uids = mine.ok("proxy-uids s");
    assert!(uids.contains(&format!("({NOBODY}, 3)")), "{uids}");
    let my_uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap());
    // The service's own proxies (the service manager's) count there too.
    assert!(uids.contains(&format!("({my_uid}, ")), "{uids}");
}

/// Mirrors `BinderLibTest.Freeze`: right after oneway calls that have not
/// all run, a freeze with no time to wait fails with binder's `-EAGAIN`
/// (`WouldBlock`) and leaves the service running; a freeze given time
/// succeeds once they have run.
#[test]
fn freezing_a_process_with_oneway_calls_queued_waits_for_them() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let mut svc = service(&ctx, "conf.freeze-oneway", None);
    let mut c = client_of(&ctx, "conf.freeze-oneway");
    let pid = svc.pid();
    // One oneway call holds the node; the next waits its turn.
    c.ok("block-oneway s");
    svc.expect("in-call");
    c.ok("log s 7");
    let e = c.err(&format!("freeze {pid} on"));
    assert!(
        e.contains("code=WouldBlock") && e.contains("1 calls to finish"),
        "a oneway call queued: {e}"
    );
    let info = format!("freeze-info {pid}");
    assert_eq!(c.ok(&info), "frozen=false sync=2 async=0", "left running");
    // Given a minute, the freeze waits for the queue to drain.
    c.send(&format!("freeze {pid} on 60000"));
    svc.send("release");
    if let Err(e) = c.answer("freeze with a timeout") {
        panic!("freezing once the oneway calls ran: {e}");
    }
    assert_eq!(c.ok(&info), "frozen=true sync=0 async=0");
    c.ok(&format!("freeze {pid} off"));
    assert_eq!(c.ok("getlog s 1"), "7");
}

/// libbinder's `BpBinder::transact`: a call that ends in `DEAD_OBJECT`
/// makes the proxy dead at once, whether the handler returned it (the
/// service lives on) or the process died; later calls fail without
/// reaching the mediator, and `isBinderAlive` is false, before any death
/// notice. Only this process's proxy is dead: another process's works.
#[test]
fn a_call_ending_in_dead_object_makes_its_proxy_dead() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let _svc = service(&ctx, "conf.dead-status", None);
    let mut c = client_of(&ctx, "conf.dead-status");
    assert_eq!(c.ok("alive s"), "true");
    let e = c.err("dead-object s");
    assert!(e.contains("code=DeadObject"), "{e}");
    assert_eq!(c.ok("alive s"), "false");
    let e = c.err("echo s after");
    assert!(e.contains("code=DeadObject"), "{e}");
    // No death notice came (libbinder's obituaries were not sent): linking
    // and unlinking a recipient still work.
    c.ok("link s r");
    c.ok("unlink s r");
    // Nor is the service gone from the service manager's point of view:
    // looking it up again finds it (the same proxy), not a wait for a new
    // registration.
    c.ok("get again conf.dead-status");
    assert_eq!(c.ok("alive again"), "false", "the same proxy, still marked");
    let s = ctx.state();
    let calls = s
        .processes
        .iter()
        .map(|p| p.counters.calls_received)
        .sum::<u64>();
    assert!(c.err("echo s again").contains("code=DeadObject"));
    let s2 = ctx.state();
    assert_eq!(
        s2.processes
            .iter()
            .map(|p| p.counters.calls_received)
            .sum::<u64>(),
        calls,
        "failed here, not sent"
    );
    let mut other = client_of(&ctx, "conf.dead-status");
    assert_eq!(other.ok("echo s other"), "other", "the service lives on");
    // And a real death: the first dead reply marks the proxy.
    let mut svc2 = service(&ctx, "conf.dead-reply", None);
    c.ok("get d conf.dead-reply");
    svc2.kill9();
    let e = c.err("echo d gone");
    assert!(e.contains("code=DeadObject"), "{e}");
    assert_eq!(c.ok("alive d"), "false");
}

/// Binder marks a process frozen while `BINDER_FREEZE` waits for the
/// calls sent to it: a freeze given time holds the service as being frozen
/// while its call in progress finishes. Meanwhile a new sync call is
/// refused as frozen (so a stream of them cannot keep it busy), and the
/// frozen info says so; the freeze is made once the call is answered, and
/// keeps that in its info.
#[test]
fn a_process_being_frozen_refuses_new_sync_calls_until_it_is() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let mut svc = service(&ctx, "conf.freeze-hold", None);
    let pid = svc.pid();
    let mut busy = client_of(&ctx, "conf.freeze-hold");
    assert_eq!(busy.ok("block-bg s"), "started");
    svc.expect("in-call");
    let mut freezer = ctx.client(None);
    freezer.send(&format!("freeze {pid} on 60000"));
    ctx.wait_state("the service is held as being frozen", |s| {
        process(s, pid).is_some_and(|p| p.freezing)
    });
    let mut c = client_of(&ctx, "conf.freeze-hold");
    let e = c.err("echo s refused");
    assert!(e.contains("code=Frozen"), "a sync call while held: {e}");
    let info = format!("freeze-info {pid}");
    assert_eq!(c.ok(&info), "frozen=true sync=3 async=0");
    svc.send("release");
    busy.expect("block-done ok");
    if let Err(e) = freezer.answer("freeze with a timeout") {
        panic!("freezing once the call was answered: {e}");
    }
    assert_eq!(c.ok(&info), "frozen=true sync=1 async=0");
    c.ok(&format!("freeze {pid} off"));
    assert_eq!(c.ok("echo s thawed"), "thawed");
}

/// A freeze whose time runs out lets the held process go: it fails with
/// `WouldBlock`, the service is neither frozen nor held, and calls queue
/// for it again as usual.
#[test]
fn a_freeze_that_times_out_lets_the_process_serve_again() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let mut svc = service(&ctx, "conf.freeze-giveup", None);
    let pid = svc.pid();
    let mut busy = client_of(&ctx, "conf.freeze-giveup");
    assert_eq!(busy.ok("block-bg s"), "started");
    svc.expect("in-call");
    let mut c = client_of(&ctx, "conf.freeze-giveup");
    let e = c.err(&format!("freeze {pid} on 100"));
    assert!(e.contains("code=WouldBlock"), "{e}");
    let s = ctx.state();
    let p = process(&s, pid).expect("connected");
    assert!(!p.frozen && !p.freezing, "{p:?}");
    c.send("echo s queued");
    svc.send("release");
    busy.expect("block-done ok");
    assert_eq!(c.answer("echo").as_deref(), Ok("queued"));
}

/// Mirrors binderLibTest's `FrozenStateChangeNotificatiion`,
/// `AddFrozenCallbackWhenFrozen`, `MultipleFrozenStateChangeCallbacks`,
/// `NoFrozenNotificationAfterCallbackRemoval` and
/// `RemoveThenAddFrozenStateChangeCallbacks`: a callback hears the state
/// at once, then each change; one added once the state is known hears it
/// at once; a removed one hears nothing more; added again, it hears the
/// state again.
#[test]
fn a_frozen_state_callback_hears_the_state_then_each_change() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let svc = service(&ctx, "conf.frozen-cb", None);
    let mut c = client_of(&ctx, "conf.frozen-cb");
    let pid = svc.pid();
    c.ok("frozen-listen s a");
    assert_eq!(c.ok("frozen-states a 1"), "unfrozen");
    c.ok(&format!("freeze {pid} on"));
    assert_eq!(c.ok("frozen-states a 2"), "unfrozen,frozen");
    c.ok("frozen-listen s b");
    assert_eq!(
        c.ok("frozen-states b 1"),
        "frozen",
        "the known state, at once"
    );
    c.ok(&format!("freeze {pid} off"));
    assert_eq!(c.ok("frozen-states a 3"), "unfrozen,frozen,unfrozen");
    assert_eq!(c.ok("frozen-states b 2"), "frozen,unfrozen");
    c.ok("frozen-unlisten s a");
    c.ok(&format!("freeze {pid} on"));
    assert_eq!(c.ok("frozen-states b 3"), "frozen,unfrozen,frozen");
    // One notice tells every callback, so `a` would have heard it by now.
    assert_eq!(c.ok("frozen-states a 0"), "unfrozen,frozen,unfrozen");
    let e = c.err("frozen-unlisten s a");
    assert!(e.contains("code=NameNotFound"), "removed twice: {e}");
    c.ok("frozen-unlisten s b");
    c.ok(&format!("freeze {pid} off"));
    c.ok("frozen-listen s a");
    assert_eq!(
        c.ok("frozen-states a 4"),
        "unfrozen,frozen,unfrozen,unfrozen",
        "added again: the state again"
    );
}

/// Mirrors binderLibTest's `CoalesceFreezeCallbacksWhenListenerIsFrozen`:
/// while the listening process is frozen, the changes it misses come as
/// one call with the latest state once it is thawed.
#[test]
fn frozen_state_changes_missed_while_frozen_come_as_one() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let svc = service(&ctx, "conf.frozen-coalesce", None);
    let mut c = client_of(&ctx, "conf.frozen-coalesce");
    let mut root = ctx.client(None);
    let pid = svc.pid();
    c.ok("frozen-listen s a");
    assert_eq!(c.ok("frozen-states a 1"), "unfrozen");
    root.ok(&format!("freeze {} on", c.pid()));
    for _ in 0..3 {
        root.ok(&format!("freeze {pid} on"));
        root.ok(&format!("freeze {pid} off"));
    }
    root.ok(&format!("freeze {pid} on"));
    root.ok(&format!("freeze {} off", c.pid()));
    assert_eq!(c.ok("frozen-states a 2"), "unfrozen,frozen");
    root.ok(&format!("freeze {pid} off"));
    assert_eq!(c.ok("frozen-states a 3"), "unfrozen,frozen,unfrozen");
}

/// Freezing and its info are for privileged processes only (binder
/// leaves them to the system server, which holds the driver's
/// permissions): an unprivileged client is refused both, with an error
/// that says so, and the service is left running.
#[test]
fn an_unprivileged_process_may_neither_freeze_nor_read_freeze_info() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let svc = service(&ctx, "conf.freeze-priv", None);
    let mut c = ctx.client(Some(NOBODY));
    c.ok("get s conf.freeze-priv");
    let pid = svc.pid();
    let e = c.err(&format!("freeze-info {pid}"));
    assert!(
        e.contains("code=PermissionDenied") && e.contains("privileged"),
        "freeze info without privilege: {e}"
    );
    let e = c.err(&format!("freeze {pid} on"));
    assert!(e.contains("privilege"), "freezing without privilege: {e}");
    assert_eq!(c.ok("echo s still served"), "still served");
}

/// Has client `c` call `echo s hi` on the polled service `pid` without
/// waiting for the answer, and waits until the call is queued, not handed
/// to its thread: a polling thread is only woken (`WorkAvailable`) and
/// takes work when it reads.
fn queue_echo(ctx: &Context, c: &mut App, pid: i32) {
    c.send("echo s hi");
    ctx.wait_state(
        "a call queued for the polled thread, not handed to it",
        |s| {
            !s.transactions.is_empty()
                && process(s, pid).is_some_and(|p| p.threads.iter().all(|t| t.stack.is_empty()))
        },
    );
}

/// A poll server `conf.p` (one polled thread, its loop driven by control
/// lines) whose own calls go to the pool service `conf.b`, and a client of
/// `conf.p` that has reached it once: (b, p, client).
fn poll_rig(ctx: &Context, extra: &[&str]) -> (App, App, App) {
    let b = service(ctx, "conf.b", None);
    let mut args = vec!["--name", "conf.p", "--poll", "--poll-call", "conf.b"];
    args.extend_from_slice(extra);
    let p = service_with(ctx, &args);
    let mut c = client_of(ctx, "conf.p");
    c.ok("ping s");
    (b, p, c)
}

/// The race binder avoids by waking a polling thread instead of handing it
/// work: a call arrives for the polled service while its loop is about to
/// make a call of its own (held by the callee). The own call is a
/// top-level call, not nested under the waiting one, and the waiting call
/// is served once the loop reads again.
#[test]
fn a_polled_threads_own_call_and_a_queued_call_both_finish() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let (mut b, mut p, mut c) = poll_rig(&ctx, &[]);
    p.send("pause");
    p.expect("paused");
    queue_echo(&ctx, &mut c, p.pid());
    p.send("call");
    b.expect("in-call");
    b.send("release");
    assert_eq!(p.expect("called"), "ok=true");
    assert_eq!(c.expect("ok"), "hi");
    assert_eq!(c.ok("echo s again"), "again");
}

/// A polled thread flushing its oneway window while a call for it is
/// queued: the flush does not serve the call, and the thread is free
/// afterwards.
#[test]
fn a_polled_thread_flushes_its_oneway_window_with_a_call_queued() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let (_b, mut p, mut c) = poll_rig(&ctx, &[]);
    p.send("ow1");
    p.expect("sent1");
    queue_echo(&ctx, &mut c, p.pid());
    p.send("ow2");
    assert_eq!(p.expect("flushed"), "ok=true");
    assert_eq!(c.expect("ok"), "hi");
    assert_eq!(c.ok("echo s again"), "again");
}

/// A polled thread's own call that sends a new local object: the
/// acknowledgements of its references, written after the call, leave the
/// thread waiting for work, not busy.
#[test]
fn a_polled_threads_own_call_with_a_new_object_leaves_it_free() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let (_b, mut p, mut c) = poll_rig(&ctx, &[]);
    p.send("sendbinder");
    p.expect("echoed ok=true");
    assert_eq!(c.ok("echo s again"), "again");
}

/// A polled thread inside a death recipient (which makes a call of its
/// own): a call for it waits until the recipient is done.
#[test]
fn a_polled_thread_in_a_death_recipient_is_not_handed_calls() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let (mut b, mut p, mut c) = poll_rig(&ctx, &["--poll-death"]);
    b.kill9();
    p.expect("in-death");
    queue_echo(&ctx, &mut c, p.pid());
    p.send("call");
    p.expect("death-done");
    assert_eq!(c.expect("ok"), "hi");
}

/// A polled loop that makes a call of its own the moment
/// `handle_polled_commands` returns, while calls keep coming: each call is
/// served whole (it returns only after the mediator said it has nothing
/// more for it), none lands under the loop's own call, and the thread
/// ends waiting for work.
#[test]
fn a_polled_loops_own_calls_right_after_serving_never_nest() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let (_b, mut p, mut c) = poll_rig(&ctx, &[]);
    p.send("busy");
    p.expect("busy");
    for i in 0..50 {
        assert_eq!(c.ok(&format!("echo s e{i}")), format!("e{i}"));
    }
    let pid = p.pid();
    ctx.wait_state("the polled thread waits for work, with no call", |s| {
        process(s, pid).is_some_and(|p| p.threads.iter().all(|t| t.stack.is_empty() && t.idle))
            && s.transactions.is_empty()
    });
}

/// A poll server that made a call before `setup_polling` (adding itself:
/// the reply's `FreeBuffer` is deferred to its next write) and makes none
/// after it is still woken for calls: `setup_polling`'s `TakeWork` ends
/// its write, after the deferred free, so the thread waits in the
/// mediator instead of staying busy for good.
#[test]
fn a_poll_server_that_makes_no_call_after_setup_is_still_served() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let _p = service_with(&ctx, &["--name", "conf.nl", "--poll", "--poll-no-list"]);
    let mut c = client_of(&ctx, "conf.nl");
    assert_eq!(c.ok("echo s hi"), "hi");
}

/// Notices sent straight to a polled thread (the `IncRefs` and `Acquire`
/// of an object its loop sent in a oneway call through its window) are
/// not answers to its `TakeWork`s: a thread that took them for answers
/// returned with one unanswered, was handed a call behind its back, and
/// its loop's own call nested under that call, which then hung.
#[test]
fn notices_sent_to_a_polled_thread_are_not_taken_for_answers() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let (_b, mut p, mut c) = poll_rig(&ctx, &[]);
    let mut c2 = client_of(&ctx, "conf.p");
    c2.ok("ping s");
    let pid = p.pid();
    p.send("busy");
    p.expect("busy");
    for _ in 0..8 {
        p.send("owb");
        p.expect("sentb");
        c.send("echo s one");
        c2.send("echo s two");
        ctx.wait_state("two calls queued for the poll server", |s| {
            s.transactions
                .iter()
                .filter(|t| !t.oneway && t.to_pid == Some(pid) && !t.delivered)
                .count()
                == 2
        });
        p.send("go");
        assert_eq!(c.expect("ok"), "one");
        assert_eq!(c2.expect("ok"), "two");
    }
    assert_eq!(c.ok("echo s again"), "again");
}

/// A polled thread stays busy while it serves what it took: a death
/// recipient's own call does not put it back to waiting, so no second
/// `TakeWork` is out while a handler runs. With two out, a oneway call
/// and a sync call were both handed to it, the oneway handler's own call
/// nested under the sync one, and that call never finished.
#[test]
fn a_polled_thread_takes_one_item_at_a_time() {
    let ctx = context();
    let _sm = ctx.servicemanager();
    let (mut b, mut p, mut c) = poll_rig(&ctx, &["--poll-death"]);
    let mut c2 = client_of(&ctx, "conf.p");
    c2.ok("ping s");
    let pid = p.pid();
    b.kill9();
    p.expect("in-death");
    let queued = |n: usize| {
        move |s: &StateDump| {
            s.transactions
                .iter()
                .filter(|t| t.to_pid == Some(pid) && !t.delivered)
                .count()
                == n
        }
    };
    // A oneway call whose handler calls back (hold), then a sync call.
    c.ok("step s 0");
    ctx.wait_state("the oneway step queued", queued(1));
    c2.send("echo s hi");
    ctx.wait_state("the oneway step and the echo queued", queued(2));
    p.send("call");
    p.expect("death-done");
    c.expect("cb-hold 0");
    c.ok("release");
    assert_eq!(c2.expect("ok"), "hi");
    assert_eq!(c.ok("getsteps s 2"), "s0,e0");
}
