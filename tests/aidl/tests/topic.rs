//! A generated `oneway interface` works as a topic's subscriber callback
//! unchanged, and a generated proxy over the topic's handle is its
//! publisher: one call, every subscriber gets it, in one order.

mod common;

use std::sync::{Arc, Condvar, Mutex};

use capbinder::{calling_identity, interface_cast, Topic};
use capbinder_aidl_tests::aidl::capbinder::test::{BnEventListener, IEventListener};

#[derive(Default)]
struct Seen {
    events: Mutex<Vec<(u64, i32, String)>>,
    cv: Condvar,
}

struct Listener(Arc<Seen>);

impl IEventListener for Listener {
    fn on_event(&self, kind: i32, what: &str) -> capbinder::Result<()> {
        let seq = calling_identity()
            .and_then(|c| c.topic_seq)
            .expect("a topic message carries its sequence number");
        self.0
            .events
            .lock()
            .unwrap()
            .push((seq, kind, what.to_string()));
        self.0.cv.notify_all();
        Ok(())
    }
}

fn wait_for(seen: &Seen, n: usize) -> Vec<(u64, i32, String)> {
    let mut ev = seen.events.lock().unwrap();
    while ev.len() < n {
        let (g, t) = seen.cv.wait_timeout(ev, common::TIMEOUT).unwrap();
        ev = g;
        assert!(!t.timed_out(), "only {} of {n} events arrived", ev.len());
    }
    ev.clone()
}

#[test]
fn a_generated_oneway_interface_subscribes_and_a_generated_proxy_publishes() {
    common::world();
    let topic = Topic::create(100, false).expect("creating a topic");
    let seen: Vec<Arc<Seen>> = (0..3).map(|_| Arc::new(Seen::default())).collect();
    let stubs: Vec<_> = seen
        .iter()
        .map(|s| BnEventListener::new_binder(Listener(s.clone())))
        .collect();
    let _subs: Vec<_> = stubs
        .iter()
        .map(|b| topic.subscribe(b, &[], None).expect("subscribing"))
        .collect();
    // The publisher is the generated proxy over the topic's handle.
    let publisher: Arc<dyn IEventListener> =
        interface_cast(topic.as_binder().clone()).expect("a proxy over the topic");
    for i in 0..20 {
        publisher
            .on_event(i % 3, &format!("event {i}"))
            .expect("publishing");
    }
    for s in &seen {
        let ev = wait_for(s, 20);
        let expect: Vec<(u64, i32, String)> = (0..20)
            .map(|i: i32| (i as u64, i % 3, format!("event {i}")))
            .collect();
        assert_eq!(ev, expect);
    }
}
