//! The service manager's policy, with clients running as an unprivileged
//! uid: an add no rule allows, a find a deny rule refuses, a filtered list,
//! and the mediator's state limited to the caller's own process.

use capbinder_tests::context;
use capbinder_tests::harness::NOBODY;

const POLICY: &str = r#"
[[rule]]
name = "root may add anything"
actions = ["add"]
uids = [0]

[[rule]]
name = "nobody may not find secrets"
effect = "deny"
actions = ["find"]
services = ["secret.*"]
uids = [65534]

[[rule]]
name = "everyone finds and lists"
actions = ["find", "list"]
"#;

#[test]
fn an_add_that_no_rule_allows_is_a_security_exception_saying_so() {
    let ctx = context!();
    let _sm = ctx.servicemanager_with_policy(POLICY);
    let mut app = ctx.client(Some(NOBODY));
    let e = app.err("add app.mine");
    assert!(e.contains("exception=Security"), "{e}");
    assert!(e.contains("no policy rule allows it"), "{e}");
    assert!(e.contains("by uid 65534"), "{e}");
    // Root may.
    let mut root = ctx.client(None);
    root.ok("add app.mine");
    assert_eq!(root.ok("list"), "app.mine");
}

#[test]
fn a_find_denied_by_a_deny_rule_names_the_rule() {
    let ctx = context!();
    let _sm = ctx.servicemanager_with_policy(POLICY);
    let _svc = ctx.service(&["secret.keys", "public.echo"]);
    let mut app = ctx.client(Some(NOBODY));
    for cmd in ["check k secret.keys", "get k secret.keys"] {
        let e = app.err(cmd);
        assert!(e.contains("exception=Security"), "{cmd}: {e}");
        assert!(
            e.contains("denied by rule \"nobody may not find secrets\""),
            "{cmd}: {e}"
        );
    }
    // What the rule does not cover stays reachable.
    app.ok("get p public.echo");
    assert_eq!(app.ok("echo p hi"), "hi");
    // Root is not covered by the deny rule.
    let mut root = ctx.client(None);
    assert_eq!(root.ok("check k secret.keys"), "found");
}

#[test]
fn the_service_list_is_filtered_by_what_the_caller_may_find() {
    let ctx = context!();
    let _sm = ctx.servicemanager_with_policy(POLICY);
    let _svc = ctx.service(&["secret.keys", "public.echo", "public.time"]);
    let mut app = ctx.client(Some(NOBODY));
    assert_eq!(app.ok("list"), "public.echo,public.time");
    let mut root = ctx.client(None);
    assert_eq!(root.ok("list"), "public.echo,public.time,secret.keys");
}

#[test]
fn an_unprivileged_process_sees_only_itself_in_the_state() {
    let ctx = context!();
    let sm = ctx.servicemanager();
    let mut app = ctx.client(Some(NOBODY));
    assert_eq!(app.ok("state"), format!("pids={}", app.pid()));
    // Root sees everyone.
    let mut root = ctx.client(None);
    let pids = root.ok("state");
    for pid in [sm.pid(), app.pid(), root.pid()] {
        assert!(
            pids.trim_start_matches("pids=")
                .split(',')
                .any(|p| p == pid.to_string()),
            "root's view {pids} lacks pid {pid}"
        );
    }
}

/// An app uid in the sandbox's default range that no user has.
const APP_UID: u32 = 10_457;

#[test]
fn a_restarted_service_manager_denies_an_app_until_its_launcher_registers_it_again() {
    let ctx = context!();
    let mut sm = ctx.servicemanager();
    let _svc = ctx.service(&["app.listed", "app.other"]);
    let mut app = ctx.client(Some(APP_UID));
    // Unregistered, the app's uid gets nothing, though the policy lets
    // anyone find.
    let e = app.err("check s app.listed");
    assert!(e.contains("no app is registered"), "{e}");
    let mut launcher = ctx.client(None);
    launcher.ok(&format!(
        "keep-app {APP_UID} player {} app.listed",
        app.pid()
    ));
    app.ok("check s app.listed");
    assert!(app.err("check s app.other").contains("manifest"));

    // The service manager dies; a new one knows no app and no service.
    sm.kill9();
    let _sm2 = ctx.servicemanager();
    let _svc2 = ctx.service(&["app.listed", "app.other"]);
    // The launcher registers the app again on its own; until then the app
    // is refused, never let through by the plain policy.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match app.call("check s app.listed") {
            Ok(_) => break,
            Err(e) => {
                assert!(e.contains("no app is registered"), "{e}");
                assert!(
                    std::time::Instant::now() < deadline,
                    "the launcher never registered the app again; state:\n{}",
                    capbinder_tests::harness::pretty(&ctx.state())
                );
                // A poll of the service manager's answer, not a wait for
                // time to pass: the condition is asked again each round.
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
    assert!(app.err("check s app.other").contains("manifest"));
}
