//! Calls across processes: through a service found via the service manager,
//! nested calls through a callback binder (A→B→A), recursion many levels
//! deep, many clients at once, and oneway ordering.

use capbinder_tests::context;

#[test]
fn a_call_crosses_processes_through_a_service_found_via_the_service_manager() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let svc = ctx.service(&["test.echo"]);
    let mut client = ctx.client(None);
    let pid = client.ok("get s test.echo");
    assert_eq!(pid, format!("pid={}", svc.pid()));
    assert_eq!(
        client.ok("echo s hello across processes"),
        "hello across processes"
    );
}

#[test]
fn a_nested_call_through_a_callback_runs_on_the_calling_thread() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.nested"]);
    let mut client = ctx.client(None);
    client.ok("get s test.nested");
    // The service calls the client's callback while the client waits for
    // its reply: the callback must run on the waiting thread (A→B→A).
    assert_eq!(client.ok("nested s ping"), "cb:PING same_thread=true");
    // And again, on a connection that has served nested calls before.
    assert_eq!(client.ok("nested s pong"), "cb:PONG same_thread=true");
}

#[test]
fn recursion_between_two_processes_works_many_levels_deep() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.recurse"]);
    let mut client = ctx.client(None);
    client.ok("get s test.recurse");
    // 17 levels: the service and the client call each other in turn, each
    // side always on the one thread already waiting in this chain.
    assert_eq!(
        client.ok("recurse s 16"),
        "levels=17 ordered=true alternating=true client_same_thread=true server_same_thread=true"
    );
}

#[test]
fn many_clients_at_once_are_all_served_correctly() {
    const CLIENTS: usize = 20;
    const CALLS: &str = "50";
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.many"]);
    let tags: Vec<String> = (0..CLIENTS).map(|i| format!("client{i}")).collect();
    let mut clients: Vec<_> = tags
        .iter()
        .map(|t| ctx.spawn("echo-loop", &["test.many", CALLS, t], None))
        .collect();
    for c in &mut clients {
        assert_eq!(c.expect("done"), CALLS);
        let status = c.wait_exit();
        assert!(status.success(), "an echo-loop client failed: {status}");
    }
}

#[test]
fn oneway_calls_to_one_object_arrive_in_order() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.oneway"]);
    let mut client = ctx.client(None);
    client.ok("get s test.oneway");
    assert_eq!(client.ok("oneway s 300"), "count=300 in_order=true");
}

/// A window of oneway calls in flight (`set_oneway_window`): calls return
/// once written, their payloads go round the send area (and past the blob
/// threshold), a sync call in between waits for them, and they still run
/// once each, in order.
#[test]
fn oneway_calls_in_a_window_arrive_in_order() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.window"]);
    let mut client = ctx.client(None);
    client.ok("get s test.window");
    assert_eq!(
        client.ok("oneway-window s 400 16"),
        "count=400 in_order=true"
    );
}

/// A handler with oneway calls in flight (sent from a nested call on the
/// thread waiting in its own call) replies after they are answered, and
/// they all run, in order.
#[test]
fn a_reply_after_oneway_calls_in_a_window_waits_for_them() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.nested-window"]);
    let mut client = ctx.client(None);
    client.ok("get s test.nested-window");
    // 90 000-byte payloads go round the 256 KiB send area: the fourth is
    // back at its start, where the reply goes.
    let out = client.ok("nested-window s 5 8 90000");
    assert!(
        out.starts_with("windowed:GO:") && out.ends_with("same_thread=true count=5 in_order=true"),
        "{out}"
    );
}

#[test]
fn objects_returned_in_replies_stay_callable() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.sessions"]);
    let mut client = ctx.client(None);
    client.ok("get s test.sessions");
    // Each reply carries a fresh local object of the service; the service
    // must keep it exported once the caller holds it.
    for i in 0..5 {
        client.ok(&format!("session s sess{i}"));
    }
    for i in 0..5 {
        assert_eq!(
            client.ok(&format!("echo sess{i} {i}")),
            format!("session:{i}")
        );
    }
}

#[test]
fn a_reply_is_read_in_place_and_its_buffer_freed_only_when_dropped() {
    use capbinder_tests::harness::process;
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let svc = ctx.service(&["test.inplace"]);
    let mut client = ctx.client(None);
    // Replies through the mediator's receive buffer: not direct.
    client.ok("direct off");
    client.ok("get s test.inplace");
    // Two small replies (freed with the thread's next write) and one past
    // the deferral size (freed at once when dropped), all kept unread:
    // each still holds its range of the client's receive buffer.
    client.ok("hold s 100");
    client.ok("hold s 200");
    client.ok("hold s 65536");
    let held = client.ok("buffer");
    assert!(held.contains("ranges=3"), "three replies held: {held}");
    // Dropped: every range comes back (the `buffer` dump is the next write
    // that carries the deferred frees).
    client.ok("unhold");
    assert_eq!(client.ok("buffer"), "used=0 ranges=0");
    // The service read each call in place and freed it with its reply.
    let s = ctx.wait_state("the service freed every call's buffer", |s| {
        process(s, svc.pid()).is_some_and(|p| p.buffer.ranges == 0)
    });
    assert_eq!(process(&s, svc.pid()).map(|p| p.buffer.used), Some(0));
}

#[test]
fn a_payload_built_in_the_send_area_crosses_and_other_calls_go_around_it() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.sendarea"]);
    let mut client = ctx.client(None);
    client.ok("get s test.sendarea");
    // Small and large (64 KiB): written in the send area, sent from there;
    // an echo made while the area is taken still gets through; afterwards
    // the area is free for the next parcel.
    for size in ["32", "65536"] {
        assert_eq!(
            client.ok(&format!("inplace s {size}")),
            "equal in_place=true around=around free_again=true"
        );
    }
    // Past the send area it becomes an ordinary parcel and goes as a blob.
    assert!(client
        .ok("inplace s 4194304")
        .starts_with("equal in_place=true"));
}

#[test]
fn forwarded_bytes_are_spliced_from_the_receive_buffer_and_every_range_freed() {
    use capbinder_tests::harness::process;
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let first = ctx.service(&["test.fwd1"]);
    let second = ctx.service(&["test.fwd2"]);
    let mut client = ctx.client(None);
    client.ok("get a test.fwd1");
    client.ok("get b test.fwd2");
    // a echoes by splicing the request into its reply; a passes the bytes
    // on to b in a call of its own and b's reply back to the client, all
    // spliced; a to itself is a local call (no mediator: the splice is
    // filled in); 100 bytes are under SPLICE_MIN and copied.
    for cmd in [
        "forward a 65536",
        "forward a 200000 b",
        "forward a 65536 a",
        "forward a 100",
    ] {
        assert_eq!(client.ok(cmd), "equal", "{cmd}");
    }
    // The last reply's deferred free goes out with this write.
    client.ok("flush");
    assert_eq!(client.ok("buffer"), "used=0 ranges=0");
    let s = ctx.wait_state("both services freed every buffer", |s| {
        [first.pid(), second.pid()]
            .iter()
            .all(|&pid| process(s, pid).is_some_and(|p| p.buffer.ranges == 0))
    });
    let spliced = |pid| process(&s, pid).map(|p| p.counters.bytes_spliced);
    // a: 64 KiB (echo) + 200 000 twice (to b, back to the client); b:
    // 200 000 (payloads this size stay inline: under the 256 KiB send area).
    assert_eq!(spliced(first.pid()), Some(65536 + 2 * 200000));
    assert_eq!(spliced(second.pid()), Some(200000));
}

#[test]
fn every_status_a_service_returns_reaches_its_caller_as_sent() {
    // binderLibTest SetError: a handler's status travels to the caller as
    // it was; one that says nothing failed (code Ok, exception None) is a
    // success, with the reply the handler wrote. DeadObject, last, also
    // marks the proxy dead, as libbinder's BpBinder does.
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.status"]);
    let mut client = ctx.client(None);
    client.ok("get s test.status");
    assert_eq!(
        client.ok("statuses s"),
        "ok=2 same=27 wrong=[] dead_object_as_sent=true then_dead=true"
    );
}

#[test]
fn passing_file_descriptors_back_and_forth_leaks_none() {
    // binderSafeInterfaceTest's fd loop, and the fd half of binderLibTest's
    // PassFile: every fd passed is closed by whoever is done with it, in
    // the client, the service and the mediator, however many pass.
    let (ctx, mediator) = capbinder_tests::external_context!();
    let _sm = ctx.servicemanager();
    let svc = ctx.service(&["test.fds"]);
    let mut client = ctx.client(None);
    client.ok("get s test.fds");
    // Once first, so that what is opened once (a thread channel, a send
    // area) is open before counting.
    assert_eq!(client.ok("fdloop s 3"), "3");
    let open = |pid: i32| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("reading a helper's fd table")
            .count()
    };
    let pids = [mediator.pid(), svc.pid(), client.pid()];
    let before = pids.map(open);
    assert_eq!(client.ok("fdloop s 600"), "600");
    let after = pids.map(open);
    // Not equal: an fd that has nothing to do with the loop (a pool
    // thread's channel, a pidfd) may open or close meanwhile. A leak of
    // one fd in a pass would show as 600.
    for (who, (b, a)) in ["mediator", "service", "client"]
        .iter()
        .zip(before.iter().zip(after.iter()))
    {
        assert!(
            *a <= b + 4,
            "the {who}'s open fds went from {b} to {a} over 600 passes each way"
        );
    }
}
