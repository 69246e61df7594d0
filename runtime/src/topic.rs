//! Multicast topics, the runtime side: create a topic, pass its handle on
//! with publish or subscribe rights only, subscribe a local object (which
//! then receives every message as an ordinary oneway call, so a generated
//! `oneway interface` stub works unchanged), publish, and hear about gaps,
//! drops and the last publisher leaving through a [`TopicListener`].

use std::sync::Arc;

use capbinder_core::{Command, Return, Rights, TxnIn};

use crate::binder::SpIBinder;
use crate::parcel::Parcel;
use crate::process::ProcessState;
use crate::status::{Result, Status, StatusCode};
use crate::thread;

/// What a subscriber hears besides messages.
pub trait TopicListener: Send + Sync {
    /// `lost` messages were not delivered; the next one has `next_seq`.
    /// Called on the thread that runs that message, just before it.
    fn gap(&self, lost: u64, next_seq: u64) {
        let _ = (lost, next_seq);
    }

    /// The subscription was dropped for falling behind.
    fn dropped(&self) {}

    /// No publisher is left: nothing more will come.
    fn publishers_gone(&self) {}
}

/// A handle to a topic (with publish and/or subscribe rights).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topic {
    binder: SpIBinder,
}

/// A subscription; dropping it does not unsubscribe (call
/// [`Topic::unsubscribe`]), so a subscriber can let go of the handle and
/// keep listening.
#[derive(Clone, Debug)]
pub struct Subscription {
    callback: SpIBinder,
}

impl Topic {
    /// A new topic: `queue_limit` messages may wait per subscriber before
    /// it loses some (and is told how many), or, with `drop_slow`, is
    /// dropped.
    pub fn create(queue_limit: u32, drop_slow: bool) -> Result<Topic> {
        let ps = ProcessState::get()?;
        match thread::request(
            &ps,
            Command::CreateTopic {
                queue_limit,
                drop_slow,
            },
        )? {
            Return::TopicCreated { handle } => Ok(Topic {
                binder: ps.proxy_for(handle, true).0,
            }),
            Return::Error(e) => Err(Status::from_code(
                StatusCode::InvalidOperation,
                e.to_string(),
            )),
            other => Err(Status::from_code(
                StatusCode::UnknownError,
                format!("unexpected answer to CreateTopic: {other:?}"),
            )),
        }
    }

    /// A topic handle received from elsewhere (e.g. the service manager).
    pub fn from_binder(binder: SpIBinder) -> Result<Topic> {
        if binder.is_local() {
            return Err(Status::from_code(
                StatusCode::BadType,
                "a local object is not a topic (topics live in the mediator)",
            ));
        }
        Ok(Topic { binder })
    }

    /// The handle, to register with the service manager or to pass on with
    /// [`Parcel::write_binder_with_rights`].
    pub fn as_binder(&self) -> &SpIBinder {
        &self.binder
    }

    /// Publishes one message: `code` and `data` reach every subscriber's
    /// callback as a oneway call. Returns once the mediator has it.
    pub fn publish(&self, code: u32, data: Parcel) -> Result<()> {
        self.binder.transact(code, data, true).map(|_| ())
    }

    /// Subscribes a local object: it gets every message (or only those
    /// with `codes`, when not empty) as oneway calls; `listener` hears
    /// gaps, drops and the end of publishers. An object that listens to a
    /// topic already is refused (`InvalidOperation`): the notices name
    /// the object, so each topic needs its own.
    pub fn subscribe(
        &self,
        callback: &SpIBinder,
        codes: &[u32],
        listener: Option<Arc<dyn TopicListener>>,
    ) -> Result<Subscription> {
        let l = callback.local_object().ok_or_else(|| {
            Status::from_code(
                StatusCode::BadType,
                "subscribe with a local object: the callback must live in this process",
            )
        })?;
        let topic = self.binder.handle().expect("a topic is remote");
        let ps = ProcessState::get()?;
        // Exported while the command is in flight; the mediator's hold on
        // the subscription (an acquire, answered before the command
        // completes) keeps it exported afterwards.
        let _guard = ps.export(l);
        {
            // The mediator's notices (dropped, publishers gone) name the
            // callback object, not the topic: one object listens to one
            // topic, or its notices would reach the wrong listener, and a
            // refused second subscription would take the first one's.
            let mut listeners = ps.topic_listeners.lock().unwrap_or_else(|e| e.into_inner());
            if listeners.contains_key(&l.id) {
                return Err(Status::from_code(
                    StatusCode::InvalidOperation,
                    "this callback object already listens to a topic: subscribe another object",
                ));
            }
            if let Some(listener) = listener {
                listeners.insert(l.id, listener);
            }
        }
        thread::command(
            &ps,
            Command::Subscribe {
                topic,
                ptr: l.id,
                cookie: l.id,
                codes: codes.to_vec(),
            },
        )
        .inspect_err(|_| {
            ps.topic_listeners
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&l.id);
        })?;
        Ok(Subscription {
            callback: callback.clone(),
        })
    }

    /// Ends a subscription.
    pub fn unsubscribe(&self, sub: &Subscription) -> Result<()> {
        let l = sub
            .callback
            .local_object()
            .expect("subscriptions are local");
        let ps = ProcessState::get()?;
        ps.topic_listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&l.id);
        thread::command(
            &ps,
            Command::Unsubscribe {
                topic: self.binder.handle().expect("a topic is remote"),
                ptr: l.id,
            },
        )
    }

    /// Writes this topic into `p` as a publish-only capability.
    pub fn write_publisher(&self, p: &mut Parcel) -> Result<()> {
        p.write_binder_with_rights(&self.binder, Rights::PUBLISH | Rights::TRANSFER)
    }

    /// Writes this topic into `p` as a subscribe-only capability.
    pub fn write_subscriber(&self, p: &mut Parcel) -> Result<()> {
        p.write_binder_with_rights(&self.binder, Rights::SUBSCRIBE | Rights::TRANSFER)
    }
}

fn listener(ps: &ProcessState, ptr: u64) -> Option<Arc<dyn TopicListener>> {
    ps.topic_listeners
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&ptr)
        .cloned()
}

/// A topic message arrives: a gap before it is heard first, on the thread
/// that runs the message (the mediator carries the count in the message,
/// so the gap is never heard after the message that follows it).
pub(crate) fn on_message(ps: &ProcessState, tx: &TxnIn) {
    let (Some(seq), Some((ptr, _))) = (tx.seq, tx.target) else {
        return;
    };
    if tx.lost > 0 {
        if let Some(l) = listener(ps, ptr) {
            l.gap(tx.lost, seq);
        }
    }
}

pub(crate) fn on_notice(ps: &ProcessState, ret: &Return) {
    let (ptr, what) = match *ret {
        Return::TopicDropped { ptr, .. } | Return::TopicPublishersGone { ptr, .. } => (ptr, ret),
        _ => return,
    };
    let Some(l) = listener(ps, ptr) else { return };
    match *what {
        Return::TopicDropped { .. } => {
            ps.topic_listeners
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&ptr);
            l.dropped()
        }
        _ => l.publishers_gone(),
    }
}
