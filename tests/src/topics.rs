//! The `topics` role of the test helper: a line-driven process that
//! creates, finds, publishes to and subscribes to multicast topics, and
//! reports what its subscriptions received.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use capbinder::service_manager::ServiceManager;
use capbinder::{
    calling_identity, new_binder, Binder, Parcel, Rights, SpIBinder, Status, Subscription, Topic,
    TopicListener,
};

/// What one subscription saw.
#[derive(Default)]
struct Seen {
    msgs: Vec<(u64, u32, String)>,
    lost: u64,
    gap_next: Vec<u64>,
    gone: u32,
    dropped: u32,
    stalled: bool,
}

#[derive(Default)]
struct Shared {
    seen: Mutex<Seen>,
    cv: Condvar,
}

struct Recorder(Arc<Shared>);

impl Binder for Recorder {
    fn descriptor(&self) -> &str {
        "capbinder.test.ITopicCallback"
    }

    fn on_transact(
        &self,
        code: u32,
        data: &mut Parcel,
        _reply: &mut Parcel,
    ) -> capbinder::Result<()> {
        let payload: String = data.read()?;
        let seq = calling_identity()
            .and_then(|c| c.topic_seq)
            .ok_or_else(|| Status::from_code(capbinder::StatusCode::BadValue, "no topic seq"))?;
        let mut s = self.0.seen.lock().unwrap_or_else(|e| e.into_inner());
        // A stalled subscriber holds its message until released.
        while s.stalled {
            s = self.0.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        s.msgs.push((seq, code, payload));
        self.0.cv.notify_all();
        Ok(())
    }
}

impl TopicListener for Recorder {
    fn gap(&self, lost: u64, next_seq: u64) {
        let mut s = self.0.seen.lock().unwrap_or_else(|e| e.into_inner());
        s.lost += lost;
        s.gap_next.push(next_seq);
        self.0.cv.notify_all();
    }
    fn dropped(&self) {
        self.0
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .dropped += 1;
        self.0.cv.notify_all();
    }
    fn publishers_gone(&self) {
        self.0.seen.lock().unwrap_or_else(|e| e.into_inner()).gone += 1;
        self.0.cv.notify_all();
    }
}

/// The role's state.
#[derive(Default)]
pub struct Topics {
    topic: Option<Topic>,
    subs: HashMap<String, (Arc<Shared>, SpIBinder, Subscription)>,
}

fn st(e: Status) -> String {
    e.to_string()
}

impl Topics {
    fn topic(&self) -> Result<&Topic, String> {
        self.topic
            .as_ref()
            .ok_or_else(|| "no topic yet".to_string())
    }

    fn shared(&self, id: &str) -> Result<Arc<Shared>, String> {
        self.subs
            .get(id)
            .map(|s| s.0.clone())
            .ok_or_else(|| format!("no subscription {id}"))
    }

    /// Runs one command line; the answer is printed as `ok ...`/`err ...`.
    pub fn command(&mut self, w: &[&str]) -> Result<String, String> {
        let arg = |i: usize| w.get(i).copied().ok_or(format!("missing argument {i}"));
        let num = |i: usize| -> Result<u64, String> { arg(i)?.parse().map_err(|e| format!("{e}")) };
        match w.first().copied().unwrap_or("") {
            "create" => {
                let t = Topic::create(num(1)? as u32, arg(2)? == "drop").map_err(st)?;
                self.topic = Some(t);
                Ok(String::new())
            }
            "register" => {
                let sm = ServiceManager::get().map_err(st)?;
                sm.add_service_with_rights(
                    arg(1)?,
                    self.topic()?.as_binder(),
                    Rights::SUBSCRIBE | Rights::TRANSFER,
                )
                .map_err(st)?;
                Ok(String::new())
            }
            "find" => {
                let sm = ServiceManager::get().map_err(st)?;
                let b = sm.get_service(arg(1)?).map_err(st)?;
                self.topic = Some(Topic::from_binder(b).map_err(st)?);
                Ok(String::new())
            }
            "subscribe" => {
                let id = arg(1)?.to_string();
                let codes: Vec<u32> = w[2..].iter().filter_map(|c| c.parse().ok()).collect();
                let shared = Arc::new(Shared::default());
                let cb = new_binder(Recorder(shared.clone()));
                let sub = self
                    .topic()?
                    .subscribe(&cb, &codes, Some(Arc::new(Recorder(shared.clone()))))
                    .map_err(st)?;
                self.subs.insert(id, (shared, cb, sub));
                Ok(String::new())
            }
            // subscribe-again ID: subscribes ID's callback object once
            // more, on this topic, with a listener of its own.
            "subscribe-again" => {
                let (shared, cb, _) = self.subs.get(arg(1)?).ok_or("no such subscription")?;
                let listener = Arc::new(Recorder(shared.clone()));
                let cb = cb.clone();
                self.topic()?
                    .subscribe(&cb, &[], Some(listener))
                    .map_err(st)?;
                Ok(String::new())
            }
            "unsubscribe" => {
                let (_, _, sub) = self.subs.remove(arg(1)?).ok_or("no such subscription")?;
                self.topic()?.unsubscribe(&sub).map_err(st)?;
                Ok(String::new())
            }
            "publish" => {
                // publish COUNT CODE THREADS: THREADS threads share COUNT
                // messages; each payload names its thread and index.
                let (count, code, threads) = (num(1)?, num(2)? as u32, num(3)?.max(1));
                let topic = self.topic()?.clone();
                let per = count / threads;
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let topic = topic.clone();
                        let n = if t + 1 == threads {
                            count - per * t
                        } else {
                            per
                        };
                        std::thread::spawn(move || -> Result<(), String> {
                            for i in 0..n {
                                let mut p = Parcel::new();
                                p.write(&format!("t{t}-{i}")).map_err(st)?;
                                topic.publish(code, p).map_err(st)?;
                            }
                            Ok(())
                        })
                    })
                    .collect();
                for h in handles {
                    h.join().map_err(|_| "publisher thread panicked")??;
                }
                Ok(String::new())
            }
            "publish-big" => {
                // publish-big COUNT CODE BYTES: payloads of BYTES bytes
                // (past the blob threshold, each travels as one sealed
                // memfd that every subscriber maps).
                let (count, code, bytes) = (num(1)?, num(2)? as u32, num(3)? as usize);
                let topic = self.topic()?;
                for i in 0..count {
                    let mut payload = format!("big{i}-");
                    let fill = (b'a' + (i % 26) as u8) as char;
                    payload.extend(std::iter::repeat_n(
                        fill,
                        bytes.saturating_sub(payload.len()),
                    ));
                    let mut p = Parcel::new();
                    p.write(&payload).map_err(st)?;
                    topic.publish(code, p).map_err(st)?;
                }
                Ok(String::new())
            }
            "stall" | "unstall" => {
                let sh = self.shared(arg(1)?)?;
                sh.seen.lock().unwrap_or_else(|e| e.into_inner()).stalled = w[0] == "stall";
                sh.cv.notify_all();
                Ok(String::new())
            }
            "await" => {
                // await ID COUNT: until COUNT messages arrived.
                let sh = self.shared(arg(1)?)?;
                let want = num(2)? as usize;
                let deadline = Instant::now() + Duration::from_secs(30);
                let mut s = sh.seen.lock().unwrap_or_else(|e| e.into_inner());
                while s.msgs.len() < want {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(format!("only {} of {want} messages arrived", s.msgs.len()));
                    }
                    s = sh
                        .cv
                        .wait_timeout(s, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                Ok(String::new())
            }
            "await-gone" => {
                let sh = self.shared(arg(1)?)?;
                let deadline = Instant::now() + Duration::from_secs(30);
                let mut s = sh.seen.lock().unwrap_or_else(|e| e.into_inner());
                while s.gone == 0 && s.dropped == 0 {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err("no publishers-gone or dropped notice".into());
                    }
                    s = sh
                        .cv
                        .wait_timeout(s, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                Ok(format!("gone={} dropped={}", s.gone, s.dropped))
            }
            "got" => {
                // count, whether the sequence numbers rise by one, the codes
                // seen, and a digest of the (seq, payload) order.
                let sh = self.shared(arg(1)?)?;
                let s = sh.seen.lock().unwrap_or_else(|e| e.into_inner());
                let rising = s.msgs.windows(2).all(|p| p[1].0 == p[0].0 + 1);
                let mut codes: Vec<u32> = s.msgs.iter().map(|m| m.1).collect();
                codes.dedup();
                let mut h = std::collections::hash_map::DefaultHasher::new();
                for (seq, _, p) in &s.msgs {
                    (seq, p).hash(&mut h);
                }
                Ok(format!(
                    "count={} first={} rising={rising} codes={codes:?} digest={:x} lost={} gaps={:?} bytes={}",
                    s.msgs.len(),
                    s.msgs.first().map_or(-1, |m| m.0 as i64),
                    h.finish(),
                    s.lost,
                    s.gap_next,
                    s.msgs.iter().map(|m| m.2.len()).sum::<usize>()
                ))
            }
            "release" => {
                self.topic = None;
                capbinder::flush_commands().map_err(st)?;
                Ok(String::new())
            }
            other => Err(format!("unknown topics command {other:?}")),
        }
    }
}
