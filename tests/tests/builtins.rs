//! The built-in transactions (ping, interface descriptor, dump to a file
//! descriptor), file descriptors and large payloads crossing in parcels,
//! and the calling identity a callee sees.

use capbinder_tests::context;
use capbinder_tests::harness::{process, NOBODY};

#[test]
fn ping_descriptor_and_dump_to_a_pipe_work_across_processes() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.builtins"]);
    let mut client = ctx.client(None);
    client.ok("get s test.builtins");
    client.ok("ping s");
    assert_eq!(client.ok("descriptor s"), "capbinder.test.ITest");
    assert_eq!(
        client.ok("dump s one two"),
        "ITest dump: prefix=\"\" args=one,two"
    );
    // The service manager answers ping and descriptor through handle 0.
    client.ok("sm m");
    client.ok("ping m");
    assert_eq!(client.ok("descriptor m"), "capbinder.IServiceManager");
}

#[test]
fn the_service_manager_dumps_to_a_pipe() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.smdump"]);
    let mut client = ctx.client(None);
    client.ok("sm m");
    assert_eq!(client.ok("dump m"), "test.smdump");
}

#[test]
fn file_descriptors_cross_in_calls_and_in_replies() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let svc = ctx.service(&["test.fds"]);
    let mut client = ctx.client(None);
    client.ok("get s test.fds");
    assert_eq!(
        client.ok("sendfd s written by the client"),
        "written by the client"
    );
    assert_eq!(
        client.ok("recvfd s"),
        format!("an fd from pid {}", svc.pid())
    );
}

#[test]
fn payloads_of_every_size_cross_and_read_back_equal() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.blob"]);
    let mut client = ctx.client(None);
    client.ok("get s test.blob");
    // Empty, small, just inside the send area, just past it (a blob), and
    // 4 MiB: four times the receive buffer, so only a blob can carry it.
    for n in [0usize, 1, 262_136, 262_144, 4 << 20] {
        assert_eq!(
            client.ok(&format!("blob s {n}")),
            format!("equal len={n}"),
            "{n} bytes"
        );
    }
    // Nothing is left behind in anyone's receive buffer.
    let s = ctx.wait_state("every receive buffer is empty again", |s| {
        s.processes.iter().all(|p| p.buffer.used == 0)
    });
    assert!(s.transactions.is_empty());
}

#[test]
fn the_calling_identity_names_the_caller_and_the_transaction() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let mut svc = ctx.service(&["test.identity"]);
    let mut client = ctx.client(Some(NOBODY));
    // Held open, the call is in the mediator's list: not direct (a
    // direct call's identity is checked in `direct.rs`).
    client.ok("direct off");
    client.ok("get s test.identity");
    let fields = |line: &str| -> std::collections::HashMap<String, String> {
        line.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let first = fields(&client.ok("whoami s"));
    assert_eq!(first["pid"], first["my_pid"]);
    assert_eq!(first["tid"], first["my_tid"]);
    assert_eq!(first["uid"], NOBODY.to_string());
    assert_eq!(first["euid"], NOBODY.to_string());
    assert_eq!(first["my_uid"], NOBODY.to_string());
    let second = fields(&client.ok("whoami s"));
    let (t1, t2): (u64, u64) = (
        first["txn"].parse().unwrap(),
        second["txn"].parse().unwrap(),
    );
    assert!(t2 > t1, "transaction IDs are never reused: {t1} then {t2}");

    // The ID the callee sees is the mediator's: while the call is held
    // open, the mediator lists it between these two processes.
    client.ok("block-bg s");
    let in_call = fields(&svc.expect("in-call"));
    assert_eq!(in_call["from"], client.pid().to_string());
    let txn: u64 = in_call["txn"].parse().unwrap();
    let s = ctx.state();
    let t = s
        .transactions
        .iter()
        .find(|t| t.id.0 == txn)
        .unwrap_or_else(|| panic!("txn {txn} not in {:?}", s.transactions));
    assert_eq!(t.from_pid, client.pid());
    assert_eq!(t.to_pid, Some(svc.pid()));
    assert!(t.delivered && !t.oneway);
    assert!(process(&s, svc.pid()).is_some_and(|p| p
        .threads
        .iter()
        .any(|th| th.stack.first().is_some_and(|id| id.0 == txn))));
    svc.send("release");
    assert_eq!(client.expect("block-done"), format!("ok txn={txn}"));
}
