//! A service that restarts and registers again while a client waits for
//! it: the client, started before the service, finds it; after a kill the
//! old proxy stays dead, and waiting again finds the new process.

use capbinder_core::state::StateDump;
use capbinder_tests::context;
use capbinder_tests::harness::process;

/// Nodes of `client` that the service manager holds: the callback a
/// waiting client registered.
fn sm_holds_callback(s: &StateDump, client: i32) -> bool {
    let Some(sm) = s.context_manager else {
        return false;
    };
    process(s, client).is_some_and(|p| p.nodes.iter().any(|n| n.holders.contains(&sm)))
}

#[test]
fn a_client_waiting_for_a_service_finds_it_again_after_a_restart() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let mut client = ctx.client(None);
    let c = client.pid();
    // The client asks before the service exists.
    client.send("wait s test.restart");
    ctx.wait_state("the client waits for a registration", |s| {
        sm_holds_callback(s, c)
    });
    let mut first = ctx.service(&["test.restart"]);
    assert_eq!(
        client.answer("wait").unwrap(),
        format!("pid={}", first.pid())
    );
    ctx.wait_state("the client's callback is released", |s| {
        process(s, c).is_some_and(|p| p.nodes.is_empty())
    });

    client.ok("link s r");
    first.kill9();
    client.ok("await-death r");
    let e = client.err("echo s anyone");
    assert!(e.contains("dead=true"), "{e}");

    // Waiting again: the dead registration is not an answer.
    client.send("wait s2 test.restart");
    ctx.wait_state("the client waits again", |s| sm_holds_callback(s, c));
    let second = ctx.service(&["test.restart"]);
    assert_ne!(first.pid(), second.pid());
    assert_eq!(
        client.answer("wait").unwrap(),
        format!("pid={}", second.pid())
    );
    assert_eq!(client.ok("echo s2 back again"), "back again");
    // A plain get finds the new one too; the old proxy stays dead.
    assert_eq!(
        client.ok("get s3 test.restart"),
        format!("pid={}", second.pid())
    );
    assert_eq!(client.ok("alive s"), "false");
    assert!(client.err("echo s x").contains("dead=true"));
}
