//! References are released when proxies drop: the mediator's state (as
//! root sees it) shows no ref of the client left and the service's nodes
//! gone or no longer held by it, after an explicit drop and after the
//! client process exits.

use capbinder_core::state::StateDump;
use capbinder_tests::context;
use capbinder_tests::harness::{process, Context};

/// Refs `client` holds on nodes of `owner`.
fn refs_to(s: &StateDump, client: i32, owner: i32) -> usize {
    process(s, client).map_or(0, |p| {
        p.refs.iter().filter(|r| r.owner_pid == Some(owner)).count()
    })
}

/// Nodes of `owner` that `holder` holds.
fn held_by(s: &StateDump, owner: i32, holder: i32) -> usize {
    process(s, owner).map_or(0, |p| {
        p.nodes
            .iter()
            .filter(|n| n.holders.contains(&holder))
            .count()
    })
}

fn node_count(s: &StateDump, owner: i32) -> usize {
    process(s, owner).map_or(0, |p| p.nodes.len())
}

/// Starts a service and a client holding two of its objects: the
/// registered one and a session only the client holds.
fn holding(
    ctx: &Context,
) -> (
    i32,
    capbinder_tests::harness::App,
    capbinder_tests::harness::App,
) {
    let svc = ctx.service(&["test.refs"]);
    let mut client = ctx.client(None);
    client.ok("get s test.refs");
    client.ok("session s sess");
    assert_eq!(client.ok("echo sess hi"), "session:hi");
    let (c, o) = (client.pid(), svc.pid());
    let s = ctx.wait_state("the client holds two refs on the service's nodes", |s| {
        refs_to(s, c, o) == 2 && held_by(s, o, c) == 2 && node_count(s, o) == 2
    });
    // The registered node is also held by the service manager.
    let sm = s.context_manager.expect("a context manager");
    assert_eq!(held_by(&s, o, sm), 1);
    (o, svc, client)
}

#[test]
fn refs_are_released_when_a_client_drops_its_proxies() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let (o, _svc, mut client) = holding(&ctx);
    let c = client.pid();
    // `drop` drops the proxy and flushes the thread's pending commands.
    client.ok("drop sess");
    client.ok("drop s");
    let s = ctx.wait_state(
        "the client holds no ref and the session node is gone",
        |s| refs_to(s, c, o) == 0 && held_by(s, o, c) == 0 && node_count(s, o) == 1,
    );
    // The client is still connected, it just holds nothing of the service.
    let p = process(&s, c).expect("the client is still connected");
    assert!(p.refs.is_empty(), "client refs left: {:?}", p.refs);
    // The registered node lives on, held by the service manager only.
    let sm = s.context_manager.expect("a context manager");
    let node = &process(&s, o).expect("service").nodes[0];
    assert_eq!(node.holders, vec![sm]);
}

#[test]
fn refs_are_released_when_a_client_process_exits() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let (o, _svc, mut client) = holding(&ctx);
    let c = client.pid();
    let status = client.wait_exit();
    assert!(status.success(), "the client exited with {status}");
    let s = ctx.wait_state("the client is gone with its refs", |s| {
        process(s, c).is_none() && held_by(s, o, c) == 0 && node_count(s, o) == 1
    });
    assert!(
        s.transactions.is_empty(),
        "calls left: {:?}",
        s.transactions
    );
}

#[test]
fn refs_are_released_when_a_client_is_killed() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let (o, _svc, mut client) = holding(&ctx);
    let c = client.pid();
    client.kill9();
    ctx.wait_state("the killed client is gone with its refs", |s| {
        process(s, c).is_none() && held_by(s, o, c) == 0 && node_count(s, o) == 1
    });
}
