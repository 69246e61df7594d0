//! One publisher, many subscriber processes: the part the capbinder topic
//! cases and the D-Bus signal cases share, so that the two are measured
//! the same way and differ only in how a message goes out.
//!
//! Every message carries `(burst, ack)`. A subscriber counts the messages
//! of the current burst ([`Tally`]) and, when one asks for an ack, writes
//! that count as a `REC_ACK` record to its stdout: one pipe that every
//! subscriber shares, which the orchestrator reads. A subscriber writes
//! `REC_READY` there once it is subscribed.

use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use capbinder_kmod_shim::bench::stats::Summary;

use crate::report::{Report, Row};
use crate::util::{self, Ctx, Flock, Res};
use crate::Plan;

/// What differs between a topic and a D-Bus signal.
pub trait Publisher {
    /// The start of its rows' names (`capbinder-topic`, `dbus-daemon-signal`).
    fn mech(&self) -> String;
    /// Sends one 32-byte message of `burst` to every subscriber; `ack`
    /// asks each to report its count.
    fn publish(&self, burst: u64, ack: bool, payload: &[u8]) -> Res<()>;
    /// A subscriber process, without its stdin and stdout (set here).
    fn subscriber(&self) -> Res<Command>;
    /// Pins the publisher's side (the mediator or the bus, and what it
    /// serves) to `cpu`.
    fn place(&self, cpu: usize) -> Res<()>;
    /// The queue limit past which a subscriber loses messages, where
    /// there is one: the last message of a burst may then have to go
    /// again before every subscriber acks.
    fn queue_limit(&self) -> Option<u32>;
}

/// A subscriber's count of the current burst.
#[derive(Default)]
pub struct Tally {
    burst: u64,
    count: u64,
    acked: u64,
}

impl Tally {
    /// Counts one message; the count to report when it asks for an ack
    /// and this burst was not acked yet.
    pub fn on_message(&mut self, burst: u64, ack: bool) -> Option<u64> {
        if self.burst != burst {
            self.burst = burst;
            self.count = 0;
        }
        self.count += 1;
        if ack && self.acked != burst {
            self.acked = burst;
            return Some(self.count);
        }
        None
    }
}

/// Subscribers of one publisher and the pipe they report on.
struct Subscribers {
    flock: Flock,
    pipe_r: OwnedFd,
    pipe_w: OwnedFd,
    burst: u64,
}

impl Subscribers {
    fn new() -> Res<Subscribers> {
        let (pipe_r, pipe_w) = util::record_pipe()?;
        Ok(Subscribers {
            flock: Flock::default(),
            pipe_r,
            pipe_w,
            burst: 0,
        })
    }

    /// Subscribers up to `n`, each subscribed when this returns.
    fn grow(&mut self, p: &impl Publisher, n: usize) -> Res<()> {
        let before = self.flock.0.len();
        while self.flock.0.len() < n {
            let mut cmd = p.subscriber()?;
            let w = self.pipe_w.try_clone().ctx("dup(pipe)")?;
            cmd.stdin(Stdio::null()).stdout(Stdio::from(w));
            let child = cmd
                .spawn()
                .ctx(&format!("spawning a {} subscriber", p.mech()))?;
            self.flock.0.push(child);
        }
        let timeout = Duration::from_secs(60);
        if n > before && self.acks(n - before, util::REC_READY, timeout)?.len() < n - before {
            return Err(format!(
                "{} subscribers did not start within 60 s",
                p.mech()
            ));
        }
        Ok(())
    }

    fn place(&self, cpu: usize) -> Res<()> {
        for p in self.flock.pids() {
            util::repin(p, cpu)?;
        }
        Ok(())
    }

    /// Up to `n` records of `kind`: fewer when `timeout` passed first.
    fn acks(&self, n: usize, kind: u8, timeout: Duration) -> Res<Vec<u64>> {
        util::read_records(&self.pipe_r, n, kind, timeout)
    }

    /// Latency: one message at a time, until every subscriber has it.
    fn latency(&mut self, p: &impl Publisher, iters: usize) -> Res<Summary> {
        let n = self.flock.0.len();
        let payload = [0x42u8; 32];
        util::measure(iters, |_| {
            self.burst += 1;
            p.publish(self.burst, true, &payload)?;
            if self.acks(n, util::REC_ACK, Duration::from_secs(10))?.len() < n {
                return Err(format!(
                    "message {} did not reach all {n} subscribers within 10 s",
                    self.burst
                ));
            }
            Ok(())
        })
    }

    /// Throughput: `count` messages back to back, then until every
    /// subscriber has the last. Returns the per-publish samples over the
    /// whole time, the publisher's own rate, and messages lost (summed
    /// over subscribers).
    fn throughput(&mut self, p: &impl Publisher, count: usize) -> Res<(Summary, f64, u64)> {
        let n = self.flock.0.len();
        let payload = [0x43u8; 32];
        self.burst += 1;
        let burst = self.burst;
        let mut samples = Vec::with_capacity(count);
        let start = Instant::now();
        for i in 0..count {
            let t0 = Instant::now();
            p.publish(burst, i + 1 == count, &payload)?;
            samples.push(t0.elapsed().as_nanos() as u64);
        }
        let pub_rate = count as f64 / start.elapsed().as_secs_f64();
        let got = if p.queue_limit().is_some() {
            // The last message may be lost to a full queue: send it again
            // until every subscriber has acked (each acks a burst once, so
            // a resend brings no second ack).
            let mut got = Vec::new();
            for _ in 0..100 {
                let wait = Duration::from_millis(200);
                got.extend(self.acks(n - got.len(), util::REC_ACK, wait)?);
                if got.len() == n {
                    break;
                }
                p.publish(burst, true, &payload)?;
            }
            got
        } else {
            self.acks(n, util::REC_ACK, Duration::from_secs(60))?
        };
        if got.len() < n {
            return Err(format!("a burst did not reach all {n} subscribers"));
        }
        let elapsed = start.elapsed();
        let lost = got.iter().map(|&c| (count as u64).saturating_sub(c)).sum();
        Ok((util::summarize(samples, elapsed), pub_rate, lost))
    }
}

/// Every subscriber count of the plan, in every placement: latency and
/// throughput rows for `p`.
pub fn group(p: &impl Publisher, plan: &Plan, report: &mut Report) -> Res<()> {
    let mut subs = Subscribers::new()?;
    let mech = p.mech();
    for &n in &plan.subs {
        util::progress(&format!("topics: {n} {mech} subscribers"));
        subs.grow(p, n)?;
        for &pl in &plan.placements {
            let far = plan.far(pl);
            p.place(far)?;
            subs.place(far)?;
            let s = subs.latency(p, plan.topic_iters(n))?;
            report.push(Row {
                mech: format!("{mech}-subs-{n}"),
                placement: pl,
                payload: 32,
                s,
            });
            let burst = plan.burst_for(n);
            let (s, pub_rate, lost) = subs.throughput(p, burst)?;
            report.push(Row {
                mech: format!("{mech}-tput-subs-{n}"),
                placement: pl,
                payload: 32,
                s,
            });
            let why = match p.queue_limit() {
                Some(q) => format!(" to full queues (queue limit {q})"),
                None => String::new(),
            };
            report.note(format!(
                "{mech}-tput-subs-{n} {}: {burst} messages; publisher alone {pub_rate:.0} msg/s; {lost} of {} deliveries lost{why}",
                pl.name(),
                burst * n
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn a_subscriber_acks_once_per_burst_with_its_count_so_far() {
        let mut t = Tally::default();
        assert_eq!(t.on_message(1, false), None);
        assert_eq!(t.on_message(1, false), None);
        assert_eq!(t.on_message(1, true), Some(3));
        // A resent last message does not ack the burst again.
        assert_eq!(t.on_message(1, true), None);
        // A new burst counts from one.
        assert_eq!(t.on_message(2, true), Some(1));
    }
}
