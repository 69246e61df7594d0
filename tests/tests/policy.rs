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
