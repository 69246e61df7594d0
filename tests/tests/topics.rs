//! Multicast topics across processes: one order for every subscriber,
//! rights, a subscriber killed mid-burst, a stalled subscriber's exact gap
//! count, the last publisher leaving, filters, and a topic found through
//! the service manager.

use capbinder_tests::context;
use capbinder_tests::harness::{App, Context};

fn topics(ctx: &Context) -> App {
    let mut t = ctx.spawn("topics", &[], None);
    t.expect("ready");
    t
}

/// A publisher that created a topic (queue `limit`, `mode` "gap" or
/// "drop") and registered it subscribe-only as `name`, and `n`
/// subscribers that found it and subscribed (subscription "s").
fn setup(ctx: &Context, name: &str, limit: u32, mode: &str, n: usize) -> (App, Vec<App>) {
    let mut publisher = topics(ctx);
    publisher.ok(&format!("create {limit} {mode}"));
    publisher.ok(&format!("register {name}"));
    let subs = (0..n)
        .map(|_| {
            let mut s = topics(ctx);
            s.ok(&format!("find {name}"));
            s.ok("subscribe s");
            s
        })
        .collect();
    (publisher, subs)
}

fn field<'a>(got: &'a str, key: &str) -> &'a str {
    got.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key} in {got:?}"))
}

#[test]
fn every_subscriber_sees_every_message_in_the_same_order() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let (mut publisher, mut subs) = setup(&ctx, "topic.order", 10_000, "gap", 4);
    // Four publishing threads race; the topic still has one order.
    publisher.ok("publish 400 1 4");
    let mut digests = Vec::new();
    for s in &mut subs {
        s.ok("await s 400");
        let got = s.ok("got s");
        assert_eq!(field(&got, "count"), "400", "{got}");
        assert_eq!(field(&got, "first"), "0", "{got}");
        assert_eq!(field(&got, "rising"), "true", "{got}");
        digests.push(field(&got, "digest").to_string());
    }
    assert!(
        digests.windows(2).all(|d| d[0] == d[1]),
        "orders differ: {digests:?}"
    );
}

#[test]
fn a_payload_past_the_blob_threshold_reaches_every_subscriber_whole() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let (mut publisher, mut subs) = setup(&ctx, "topic.big", 100, "gap", 3);
    // 1 MiB is four times the default blob threshold: each message is one
    // sealed memfd the mediator hands every subscriber (a duplicate fd,
    // not a copy); before, a publish with a blob was refused.
    publisher.ok("publish-big 6 3 1048576");
    let mut digests = Vec::new();
    for s in &mut subs {
        s.ok("await s 6");
        let got = s.ok("got s");
        assert_eq!(field(&got, "count"), "6", "{got}");
        assert_eq!(field(&got, "rising"), "true", "{got}");
        assert_eq!(field(&got, "bytes"), (6 * 1048576).to_string(), "{got}");
        digests.push(field(&got, "digest").to_string());
    }
    assert!(digests.windows(2).all(|d| d[0] == d[1]), "{digests:?}");
}

#[test]
fn a_subscribe_only_handle_cannot_publish() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let (_publisher, mut subs) = setup(&ctx, "topic.rights", 100, "gap", 1);
    let e = subs[0].err("publish 1 1 1");
    assert!(e.contains("publish"), "the refusal names the right: {e}");
}

#[test]
fn a_subscriber_killed_mid_burst_leaves_the_rest_whole_and_nothing_behind() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let (mut publisher, mut subs) = setup(&ctx, "topic.kill", 10_000, "gap", 3);
    publisher.ok("publish 150 1 1");
    let victim = subs.remove(1);
    let victim_pid = victim.pid();
    let mut victim = victim;
    victim.kill9();
    publisher.ok("publish 150 1 1");
    for s in &mut subs {
        s.ok("await s 300");
        let got = s.ok("got s");
        assert_eq!(field(&got, "count"), "300", "{got}");
        assert_eq!(field(&got, "rising"), "true", "{got}");
    }
    let st = ctx.wait_state("the dead subscriber is gone", |s| {
        s.processes.iter().all(|p| p.pid != victim_pid)
            && s.topics.iter().all(|t| t.subscribers.len() == 2)
    });
    assert_eq!(st.topics.len(), 1);
}

#[test]
fn a_stalled_subscriber_gets_an_exact_gap_count_and_slows_nobody() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let (mut publisher, mut subs) = setup(&ctx, "topic.stall", 8, "gap", 2);
    subs[1].ok("stall s");
    // The stalled one holds one message in its callback and 7 wait (its
    // limit counts the one in flight): 8 delivered, 42 lost. The other
    // keeps up: the publisher paces itself by it, never by the stalled one.
    for i in 1..=10 {
        publisher.ok("publish 5 1 1");
        subs[0].ok(&format!("await s {}", 5 * i));
    }
    assert_eq!(field(&subs[0].ok("got s"), "count"), "50");
    let stalled_pid = subs[1].pid();
    ctx.wait_state("the stalled subscriber's queue is full", |s| {
        s.topics.first().is_some_and(|t| {
            t.subscribers
                .iter()
                .any(|x| x.pid == stalled_pid && x.queue_depth == 8 && x.lost == 42)
        })
    });
    subs[1].ok("unstall s");
    subs[1].ok("await s 8");
    // The next message comes with the gap notice: exactly 42 lost before 50.
    publisher.ok("publish 1 1 1");
    subs[1].ok("await s 9");
    let got = subs[1].ok("got s");
    assert_eq!(field(&got, "lost"), "42", "{got}");
    assert!(got.contains("gaps=[50]"), "{got}");
}

#[test]
fn subscribers_hear_when_the_last_publisher_is_gone() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let (mut publisher, mut subs) = setup(&ctx, "topic.gone", 100, "gap", 2);
    publisher.ok("release");
    for s in &mut subs {
        assert_eq!(s.ok("await-gone s"), "gone=1 dropped=0");
    }
}

/// A callback object that listens to a topic is refused a second
/// subscription, and its first keeps its listener: the notices name the
/// object, not the topic, and a refused second subscription used to take
/// the first one's listener with it.
#[test]
fn a_listening_callback_cannot_subscribe_twice_and_keeps_its_listener() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let (mut publisher, mut subs) = setup(&ctx, "topic.again", 100, "gap", 1);
    assert!(subs[0]
        .err("subscribe-again s")
        .contains("already listens to a topic"));
    publisher.ok("release");
    assert_eq!(subs[0].ok("await-gone s"), "gone=1 dropped=0");
}

#[test]
fn a_slow_subscriber_is_dropped_when_the_topic_says_so() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let (mut publisher, mut subs) = setup(&ctx, "topic.drop", 2, "drop", 2);
    subs[1].ok("stall s");
    for i in 1..=10 {
        publisher.ok("publish 1 1 1");
        subs[0].ok(&format!("await s {i}"));
    }
    subs[1].ok("unstall s");
    assert_eq!(subs[1].ok("await-gone s"), "gone=0 dropped=1");
}

#[test]
fn a_filter_delivers_only_the_codes_asked_for() {
    let ctx = context!();
    let _sm = ctx.servicemanager();
    let (mut publisher, mut subs) = setup(&ctx, "topic.filter", 100, "gap", 1);
    subs[0].ok("unsubscribe s");
    subs[0].ok("subscribe f 2");
    publisher.ok("publish 5 1 1");
    publisher.ok("publish 5 2 1");
    publisher.ok("publish 5 3 1");
    subs[0].ok("await f 5");
    let got = subs[0].ok("got f");
    assert!(got.contains("codes=[2]"), "{got}");
    assert_eq!(field(&got, "count"), "5", "{got}");
}
