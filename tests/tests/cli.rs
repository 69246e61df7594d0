//! The `capbinder` command line (run through `capbinder::cli::run` in the
//! helper's `cli` role): service list and check, state, and exit codes.

use capbinder_tests::context;

#[test]
fn service_list_and_check_answer_with_exit_codes() {
    let ctx = context!();
    let sm = ctx.servicemanager();
    let _svc = ctx.service(&["test.cli.a", "test.cli.b"]);

    let mut list = ctx.spawn("cli", &["service", "list"], None);
    assert_eq!(list.wait_exit().code(), Some(0));
    assert_eq!(list.take_lines(), vec!["test.cli.a", "test.cli.b"]);

    let mut found = ctx.spawn("cli", &["service", "check", "test.cli.a"], None);
    assert_eq!(found.wait_exit().code(), Some(0));
    assert_eq!(
        found.take_lines(),
        vec!["test.cli.a: found (capbinder.test.ITest)"]
    );

    let mut missing = ctx.spawn("cli", &["service", "check", "nope"], None);
    assert_eq!(missing.wait_exit().code(), Some(1));
    assert_eq!(missing.take_lines(), vec!["nope: not found"]);

    let mut state = ctx.spawn("cli", &["state"], None);
    assert_eq!(state.wait_exit().code(), Some(0));
    let lines = state.take_lines();
    assert_eq!(lines[0], format!("context manager: pid {}", sm.pid()));

    let mut json = ctx.spawn("cli", &["state", "--json"], None);
    assert_eq!(json.wait_exit().code(), Some(0));
    let dump: capbinder_core::StateDump =
        serde_json::from_str(&json.take_lines().join("\n")).expect("JSON state");
    assert_eq!(dump.context_manager, Some(sm.pid()));
}

#[test]
fn usage_and_connection_errors_exit_with_2() {
    let mut ctx = context!();
    let mut usage = ctx.spawn("cli", &["service", "frobnicate"], None);
    assert_eq!(usage.wait_exit().code(), Some(2));
    assert!(usage.stderr().contains("frobnicate"), "{}", usage.stderr());
    ctx.stop_mediator();
    let mut gone = ctx.spawn("cli", &["service", "list"], None);
    assert_eq!(gone.wait_exit().code(), Some(2));
    assert!(gone.stderr().contains("capbinder: "), "{}", gone.stderr());
}

#[test]
fn a_failed_call_exits_with_1() {
    // No service manager: the call to handle 0 fails.
    let ctx = context!();
    let mut list = ctx.spawn("cli", &["service", "list"], None);
    assert_eq!(list.wait_exit().code(), Some(1));
    assert!(list.stderr().contains("capbinder: "), "{}", list.stderr());
}
