//! `Topic`: a multicast topic, one per `CreateTopic`. Its node is owned by
//! the mediator itself, so handles to it travel and narrow like any other
//! (publish and subscribe are rights). A publish is one oneway call to the
//! topic; the core turns it into one ordinary oneway call per subscriber's
//! callback, each copied into that subscriber's buffer, all carrying the
//! topic's sequence number, so every subscriber sees one order. A subscriber
//! past its queue limit loses messages (and is told how many) or is
//! dropped; it never slows the publisher or the other subscribers.

use serde::{Deserialize, Serialize};

use crate::error::{Failure, Side};
use crate::ids::{FdSlot, NodeId, ProcId, ThreadId};
use crate::node::{Node, NoticeTo};
use crate::protocol::{
    DataRange, Handle, NodeFlags, Object, Priority, Return, Rights, TxnId, TxnOut,
};
use crate::transaction::{check_payload, copy_payload, reserve_for, Fail, Transaction};
use crate::{Core, Effect};

/// One subscription.
#[derive(Debug)]
pub(crate) struct Sub {
    pub proc_: ProcId,
    pub node: NodeId,
    pub ptr: u64,
    pub cookie: u64,
    pub codes: Vec<u32>,
    /// Messages lost since the last gap notice.
    pub lost: u64,
    /// Messages delivered (queued into its callback).
    pub delivered: u64,
}

/// A topic.
#[derive(Debug)]
pub(crate) struct Topic {
    pub node: NodeId,
    pub creator_pid: i32,
    pub queue_limit: u32,
    pub drop_slow: bool,
    pub next_seq: u64,
    pub subs: Vec<Sub>,
    pub publishers_gone: bool,
    /// Gaps announced over the topic's life.
    pub gaps: u64,
}

/// A topic in the state dump.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicState {
    /// Pid of the process that created it.
    pub creator_pid: i32,
    /// Messages published so far.
    pub published: u64,
    /// Gap notices sent.
    pub gaps: u64,
    /// Whether every publish handle is gone.
    pub publishers_gone: bool,
    /// Its subscribers.
    pub subscribers: Vec<SubscriberState>,
}

/// One subscriber in the state dump.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriberState {
    /// Subscriber pid.
    pub pid: i32,
    /// Its callback's `ptr`.
    pub ptr: u64,
    /// Codes it wants (empty: all).
    pub codes: Vec<u32>,
    /// Messages waiting in its callback's oneway queue (with the one in
    /// flight).
    pub queue_depth: usize,
    /// Messages lost and not yet announced.
    pub lost: u64,
    /// Messages queued for it so far.
    pub delivered: u64,
}

impl Core {
    /// `CreateTopic`: a new topic, and a strong handle to it for the caller.
    pub(crate) fn create_topic(
        &mut self,
        proc_id: ProcId,
        queue_limit: u32,
        drop_slow: bool,
    ) -> Result<Handle, Failure> {
        let p = self.procs.get(proc_id.0).expect("live");
        let owned = self
            .topics
            .iter()
            .filter(|(_, t)| t.creator_pid == p.cred.pid)
            .count();
        if owned >= self.limits.max_topics {
            return Err(Failure::Topic(format!(
                "pid {} already created {} topics (the per-process limit)",
                p.cred.pid, self.limits.max_topics
            )));
        }
        if queue_limit == 0 {
            return Err(Failure::Topic("queue_limit must be at least 1".into()));
        }
        let creator_pid = p.cred.pid;
        let node = NodeId(self.nodes.insert(Node {
            owner: None,
            owner_pid: 0,
            ptr: 0,
            cookie: 0,
            flags: NodeFlags::default(),
            strong: Default::default(),
            weak: Default::default(),
            holders: Vec::new(),
            txn_holds: 0,
            buffer_holds: 0,
            oneway: Default::default(),
            topic: None,
            sub_holds: 0,
        }));
        let topic = self.topics.insert(Topic {
            node,
            creator_pid,
            queue_limit,
            drop_slow,
            next_seq: 0,
            subs: Vec::new(),
            publishers_gone: false,
            gaps: 0,
        });
        let n = self.nodes.get_mut(node.0).expect("just made");
        n.topic = Some(topic);
        n.ptr = topic;
        let h = self.ref_for(proc_id, node, Rights::ALL)?;
        let mut fx = Vec::new();
        self.add_count(
            proc_id,
            h,
            crate::refs::Kind::Strong,
            NoticeTo::Queue,
            &mut fx,
        );
        debug_assert!(fx.is_empty(), "a topic node has no owner to notify");
        Ok(h)
    }

    fn topic_of(&self, proc_id: ProcId, h: Handle, needed: Rights) -> Result<u64, Failure> {
        let node = self.resolve_node(proc_id, h, needed)?;
        self.nodes
            .get(node.0)
            .and_then(|n| n.topic)
            .ok_or_else(|| Failure::Topic(format!("{h} is not a topic")))
    }

    /// `Subscribe`: the caller's object `ptr` gets every message.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn subscribe(
        &mut self,
        proc_id: ProcId,
        thread: ThreadId,
        h: Handle,
        ptr: u64,
        cookie: u64,
        codes: Vec<u32>,
        fx: &mut Vec<Effect>,
    ) -> Result<(), Failure> {
        let topic = self.topic_of(proc_id, h, Rights::SUBSCRIBE)?;
        let t = self.topics.get(topic).expect("resolved");
        if t.subs.iter().any(|s| s.proc_ == proc_id && s.ptr == ptr) {
            return Err(Failure::Topic(format!(
                "object {ptr:#x} is already subscribed to this topic"
            )));
        }
        let node = self.node_for(proc_id, ptr, cookie, NodeFlags::default());
        let n = self.nodes.get_mut(node.0).expect("live");
        if n.cookie != cookie {
            return Err(Failure::CookieMismatch { object: 0, ptr });
        }
        // The subscription holds the callback strongly, like a ref would.
        n.sub_holds += 1;
        n.strong.held += 1;
        self.topics.get_mut(topic).expect("live").subs.push(Sub {
            proc_: proc_id,
            node,
            ptr,
            cookie,
            codes,
            lost: 0,
            delivered: 0,
        });
        // Like a send of one's own binder: the acquire goes to the
        // subscribing thread, so the runtime holds the callback before the
        // command is done.
        self.update_node(node, NoticeTo::Thread(thread), fx);
        if self.topics.get(topic).is_some_and(|t| t.publishers_gone) {
            // The last publisher left before it came: it learns so now,
            // as the subscribers then did, instead of waiting for good.
            self.notify(proc_id, Return::TopicPublishersGone { ptr, cookie }, fx);
        }
        Ok(())
    }

    /// `Unsubscribe`.
    pub(crate) fn unsubscribe(
        &mut self,
        proc_id: ProcId,
        h: Handle,
        ptr: u64,
        fx: &mut Vec<Effect>,
    ) -> Result<(), Failure> {
        let topic = self.topic_of(proc_id, h, Rights::NONE)?;
        let t = self.topics.get_mut(topic).expect("resolved");
        let Some(i) = t
            .subs
            .iter()
            .position(|s| s.proc_ == proc_id && s.ptr == ptr)
        else {
            return Err(Failure::Topic(format!(
                "object {ptr:#x} is not subscribed to this topic"
            )));
        };
        let s = t.subs.remove(i);
        self.release_sub(s.node, fx);
        Ok(())
    }

    fn release_sub(&mut self, node: NodeId, fx: &mut Vec<Effect>) {
        if let Some(n) = self.nodes.get_mut(node.0) {
            n.sub_holds -= 1;
            n.strong.held -= 1;
        }
        self.update_node(node, NoticeTo::Queue, fx);
    }

    /// Removes every subscription of a process (it is exiting).
    pub(crate) fn drop_subscriptions_of(&mut self, proc_id: ProcId, fx: &mut Vec<Effect>) {
        let mut released = Vec::new();
        for (_, t) in self.topics.iter_mut() {
            t.subs.retain(|s| {
                if s.proc_ == proc_id {
                    released.push(s.node);
                    false
                } else {
                    true
                }
            });
        }
        for n in released {
            self.release_sub(n, fx);
        }
    }

    /// The topic's node was freed (nobody refers to it): the topic goes,
    /// and its subscriptions let their callbacks go.
    pub(crate) fn topic_freed(&mut self, topic: u64, fx: &mut Vec<Effect>) {
        if let Some(t) = self.topics.remove(topic) {
            for s in t.subs {
                self.release_sub(s.node, fx);
            }
        }
    }

    /// After a ref to a topic's node went away: if no holder keeps the
    /// publish right, subscribers learn that nothing more will come.
    pub(crate) fn check_publishers(&mut self, node: NodeId, fx: &mut Vec<Effect>) {
        let Some(n) = self.nodes.get(node.0) else {
            return;
        };
        let Some(topic) = n.topic else { return };
        let any_publisher = n.holders.iter().any(|&p| {
            self.procs.get(p.0).is_some_and(|pr| {
                pr.handles
                    .handle_of(node)
                    .and_then(|h| pr.handles.get(h))
                    .is_some_and(|r| r.rights.contains(Rights::PUBLISH))
            })
        });
        let Some(t) = self.topics.get_mut(topic) else {
            return;
        };
        if any_publisher || t.publishers_gone {
            return;
        }
        t.publishers_gone = true;
        let notices: Vec<(ProcId, u64, u64)> =
            t.subs.iter().map(|s| (s.proc_, s.ptr, s.cookie)).collect();
        for (p, ptr, cookie) in notices {
            self.notify(p, Return::TopicPublishersGone { ptr, cookie }, fx);
        }
    }

    /// A publish: one oneway call in, one oneway call out per subscriber.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn publish(
        &mut self,
        id: TxnId,
        thread: ThreadId,
        topic: u64,
        txn: TxnOut,
        fds: &[FdSlot],
        prio: Option<Priority>,
        fx: &mut Vec<Effect>,
    ) -> Result<(), Fail> {
        if !txn.flags.oneway() {
            return Err(Fail::Failed(Failure::Topic(
                "a topic takes oneway calls only (nobody replies to a publish)".into(),
            )));
        }
        // A large payload travels as one sealed blob (the runtime puts it
        // there past the blob threshold); every subscriber maps that same
        // memfd, so fan-out copies nothing. Binders, handles and plain fds
        // are not multicast: each would need its own reference per
        // subscriber, and a publish is meant to be data.
        let blob = match (&txn.objects[..], fds) {
            ([], []) => None,
            ([Object::Blob { index: 0, len }], [slot]) => {
                if *len > self.limits.max_blob {
                    return Err(Fail::Failed(Failure::BlobTooLarge {
                        len: *len,
                        limit: self.limits.max_blob,
                    }));
                }
                Some((*slot, *len))
            }
            _ => {
                return Err(Fail::Failed(Failure::Topic(
                    "a publish carries plain data or one sealed blob (a large payload); binders, handles and fds are not multicast".into(),
                )))
            }
        };
        let from = self.threads.get(thread.0).expect("live").proc;
        let sender_buffer = &self.procs.get(from.0).expect("live").buffer;
        check_payload(&txn, self.limits.send_area, sender_buffer, Side::Request)
            .map_err(Fail::Failed)?;
        let sender = self.sender_of(thread, prio, txn.work_source);
        let t = self.topics.get_mut(topic).expect("resolved");
        let seq = t.next_seq;
        t.next_seq += 1;
        let (limit, drop_slow) = (t.queue_limit as usize, t.drop_slow);
        let targets: Vec<(usize, ProcId, NodeId, bool)> = t
            .subs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let wants = s.codes.is_empty() || s.codes.contains(&txn.code);
                (i, s.proc_, s.node, wants)
            })
            .collect();
        if let Some((slot, _)) = blob {
            // One holder per subscriber that wants it; one that loses the
            // message gives its share back with a `CloseFds`.
            let holders = targets.iter().filter(|t| t.3).count() as u32;
            match holders {
                0 => fx.push(Effect::CloseFds(vec![slot])),
                1 => {}
                _ => fx.push(Effect::ShareFd { slot, holders }),
            }
        }
        let mut dropped = Vec::new();
        for (i, to, node, wants) in targets {
            if !wants {
                continue;
            }
            let depth = self
                .nodes
                .get(node.0)
                .map_or(0, |n| n.oneway.queue.len() + usize::from(n.oneway.busy));
            let sender_pid = sender.pid;
            let offset = if depth >= limit {
                None
            } else {
                self.procs
                    .get_mut(to.0)
                    .and_then(|p| reserve_for(&mut p.buffer, &txn, Some(node), sender_pid).ok())
            };
            let t = self.topics.get_mut(topic).expect("live");
            let s = &mut t.subs[i];
            let Some(offset) = offset else {
                if let Some((slot, _)) = blob {
                    fx.push(Effect::CloseFds(vec![slot]));
                }
                s.lost += 1;
                if drop_slow {
                    dropped.push(i);
                }
                continue;
            };
            s.delivered += 1;
            let lost = std::mem::take(&mut s.lost);
            if lost > 0 {
                t.gaps += 1;
            }
            copy_payload(thread, from, &txn, to, offset, fx);
            let tid = self.next_id();
            let key = self.txns.insert(Transaction {
                id: tid,
                code: txn.code,
                flags: txn.flags,
                from: None,
                from_proc: from,
                sender: sender.clone(),
                to_proc: to,
                to_thread: None,
                target: node,
                buffer: DataRange {
                    offset,
                    len: txn.data.len,
                },
                objects: blob
                    .map(|(_, len)| vec![Object::Blob { index: 0, len }])
                    .unwrap_or_default(),
                fds: blob.map(|(slot, _)| vec![slot]).unwrap_or_default(),
                from_parent: None,
                to_parent: None,
                saved_prio: None,
                delivered: false,
                seq: Some(seq),
                lost,
                counted: false,
            });
            self.nodes
                .get_mut(node.0)
                .expect("held by the subscription")
                .txn_holds += 1;
            if blob.is_some() {
                if let Some(p) = self.procs.get_mut(from.0) {
                    p.fds_in_flight += 1;
                }
            }
            self.enqueue_oneway(node, key, to, fx);
        }
        for i in dropped.into_iter().rev() {
            let t = self.topics.get_mut(topic).expect("live");
            let s = t.subs.remove(i);
            self.notify(
                s.proc_,
                Return::TopicDropped {
                    ptr: s.ptr,
                    cookie: s.cookie,
                },
                fx,
            );
            self.release_sub(s.node, fx);
        }
        let p = self.procs.get_mut(from.0).expect("live");
        p.counters.oneway_sent += 1;
        p.counters.bytes_sent += txn.data.len;
        p.counters.bytes_spliced += crate::transaction::spliced_len(&txn);
        let _ = id;
        fx.push(Effect::Deliver {
            thread,
            ret: Return::TransactionComplete,
            fds: Vec::new(),
        });
        Ok(())
    }

    /// Topics for the state dump (all, or those `pid` created or
    /// subscribes to).
    pub(crate) fn topic_states(&self, pid: Option<i32>) -> Vec<TopicState> {
        let pid_of = |p: ProcId| self.procs.get(p.0).map_or(0, |p| p.cred.pid);
        self.topics
            .iter()
            .filter(|(_, t)| {
                pid.is_none_or(|me| {
                    t.creator_pid == me || t.subs.iter().any(|s| pid_of(s.proc_) == me)
                })
            })
            .map(|(_, t)| TopicState {
                creator_pid: t.creator_pid,
                published: t.next_seq,
                gaps: t.gaps,
                publishers_gone: t.publishers_gone,
                subscribers: t
                    .subs
                    .iter()
                    .map(|s| SubscriberState {
                        pid: pid_of(s.proc_),
                        ptr: s.ptr,
                        codes: s.codes.clone(),
                        queue_depth: self
                            .nodes
                            .get(s.node.0)
                            .map_or(0, |n| n.oneway.queue.len() + usize::from(n.oneway.busy)),
                        lost: s.lost,
                        delivered: s.delivered,
                    })
                    .collect(),
            })
            .collect()
    }
}
