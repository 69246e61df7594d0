//! Object translation: turning the side table a sender wrote into the one
//! its receiver reads. A binder its owner sends becomes a handle in the
//! receiver (the same handle every time); a handle sent back to the node's
//! owner becomes the owner's local object again; rights only narrow; fds,
//! blobs and shared memory are renumbered for the I/O layer to move.
//!
//! The context manager's node, with full rights, becomes handle 0 in any
//! other receiver, as binder's driver gives it descriptor 0: the service
//! manager found by name is the very proxy a process already holds as
//! handle 0, not a second one. Handle 0 holds no count, so nothing is
//! counted for it.
//!
//! Two phases, so that a failure leaves nothing behind: `check_objects`
//! validates everything and changes nothing; `translate_objects` cannot
//! fail. The receiver owns the counts translation gives it, and
//! `release_objects` gives them back if the transaction is never delivered.

use crate::error::{Failure, Side};
use crate::ids::{FdSlot, ProcId, ThreadId};
use crate::node::NoticeTo;
use crate::protocol::{Handle, Object, Rights};
use crate::refs::Kind;
use crate::{Core, Effect};

impl Core {
    /// Validates `objects` (with `fds` attached) sent by `from` to `to`.
    pub(crate) fn check_objects(
        &self,
        from: ProcId,
        to: ProcId,
        objects: &[Object],
        fds: &[FdSlot],
        fds_allowed: bool,
        side: Side,
    ) -> Result<(), Failure> {
        let limits = &self.limits;
        if objects.len() > limits.max_objects {
            return Err(Failure::TooManyObjects {
                count: objects.len(),
                limit: limits.max_objects,
            });
        }
        if fds.len() > limits.max_fds {
            return Err(Failure::TooManyFds {
                count: fds.len(),
                limit: limits.max_fds,
            });
        }
        let sender = self.procs.get(from.0).expect("live");
        let receiver = self.procs.get(to.0).expect("live");
        // A blob is a payload carrier, not an fd the target asked for: only
        // plain fds and shared memory need the node's (or caller's) consent.
        let carries_fds = objects
            .iter()
            .any(|o| matches!(o, Object::Fd { .. } | Object::SharedMem { .. }));
        if carries_fds && !fds_allowed {
            return Err(Failure::FdsNotAccepted {
                side,
                what: match side {
                    Side::Request => "the target node",
                    Side::Reply => "the caller (no ACCEPT_FDS flag)",
                }
                .into(),
            });
        }
        if !fds.is_empty() && sender.fds_in_flight + fds.len() > limits.max_fds_in_flight {
            return Err(Failure::TooManyFdsInFlight {
                pid: sender.cred.pid,
                limit: limits.max_fds_in_flight,
            });
        }
        // Which attached fds an object claimed. Not a HashSet: building one
        // (its random keys) cost more than the rest of this check for a
        // call without objects, and this allocates only when fds came.
        let mut used = vec![false; fds.len()];
        let mut claimed = 0;
        let mut new_refs = 0usize;
        for (i, o) in objects.iter().enumerate() {
            if let Some(index) = o.fd_index() {
                match used.get_mut(index as usize) {
                    Some(u) if !*u => {
                        *u = true;
                        claimed += 1;
                    }
                    _ => {
                        return Err(Failure::BadFdIndex {
                            object: i,
                            index,
                            attached: fds.len(),
                        })
                    }
                }
            }
            match *o {
                Object::Binder { ptr, cookie, .. } => {
                    let known = sender.nodes.get(&ptr).copied();
                    if let Some(n) = known.and_then(|n| self.nodes.get(n.0)) {
                        if n.cookie != cookie {
                            return Err(Failure::CookieMismatch { object: i, ptr });
                        }
                    }
                    if from != to && !known.is_some_and(|n| self.is_handle_zero(n, Rights::ALL)) {
                        new_refs += 1;
                    }
                }
                Object::Handle {
                    handle,
                    strong,
                    rights,
                } => {
                    let node = self.resolve_node(from, handle, Rights::TRANSFER)?;
                    if strong && handle != Handle::CONTEXT_MANAGER {
                        let r = sender.handles.get(handle).expect("resolved");
                        if r.strong == 0 {
                            return Err(Failure::WeakHandleSentStrong(handle));
                        }
                    }
                    let owner = self.nodes.get(node.0).and_then(|n| n.owner);
                    let held = self.held_rights(from, handle);
                    if owner != Some(to)
                        && receiver.handles.handle_of(node).is_none()
                        && !self.is_handle_zero(node, held.intersect(rights))
                    {
                        new_refs += 1;
                    }
                }
                Object::Blob { len, .. } | Object::SharedMem { len, .. } => {
                    if len > limits.max_blob {
                        return Err(Failure::BlobTooLarge {
                            len,
                            limit: limits.max_blob,
                        });
                    }
                }
                Object::Fd { .. } => {}
            }
        }
        if claimed != fds.len() {
            return Err(Failure::UnclaimedFds {
                count: fds.len() - claimed,
            });
        }
        if receiver.handles.len() + new_refs > limits.max_refs {
            return Err(Failure::TooManyRefs {
                pid: receiver.cred.pid,
                limit: limits.max_refs,
            });
        }
        Ok(())
    }

    /// Translates checked objects from `from` (sending thread `thread`) for
    /// `to`, returning the receiver's side table and its fds in order.
    pub(crate) fn translate_objects(
        &mut self,
        from: ProcId,
        thread: ThreadId,
        to: ProcId,
        objects: &[Object],
        fds: &[FdSlot],
        fx: &mut Vec<Effect>,
    ) -> (Vec<Object>, Vec<FdSlot>) {
        let mut out = Vec::with_capacity(objects.len());
        let mut out_fds = Vec::with_capacity(fds.len());
        for o in objects {
            let translated = match *o {
                Object::Binder {
                    ptr,
                    cookie,
                    strong,
                    flags,
                } => {
                    if from == to {
                        o.clone()
                    } else {
                        let node = self.node_for(from, ptr, cookie, flags);
                        let handle = if self.is_handle_zero(node, Rights::ALL) {
                            Handle::CONTEXT_MANAGER
                        } else {
                            let h = self
                                .ref_for(to, node, Rights::ALL)
                                .expect("capacity checked");
                            let kind = if strong { Kind::Strong } else { Kind::Weak };
                            self.add_count(to, h, kind, NoticeTo::Thread(thread), fx);
                            h
                        };
                        Object::Handle {
                            handle,
                            strong,
                            rights: Rights::ALL,
                        }
                    }
                }
                Object::Handle {
                    handle,
                    strong,
                    rights,
                } => {
                    let node = self
                        .resolve_node(from, handle, Rights::TRANSFER)
                        .expect("checked");
                    let held = self.held_rights(from, handle);
                    let n = self.nodes.get(node.0).expect("resolved");
                    if n.owner == Some(to) {
                        Object::Binder {
                            ptr: n.ptr,
                            cookie: n.cookie,
                            strong,
                            flags: n.flags,
                        }
                    } else if self.is_handle_zero(node, held.intersect(rights)) {
                        Object::Handle {
                            handle: Handle::CONTEXT_MANAGER,
                            strong,
                            rights: Rights::ALL,
                        }
                    } else {
                        let narrowed = held.intersect(rights);
                        let h = self.ref_for(to, node, narrowed).expect("capacity checked");
                        let kind = if strong { Kind::Strong } else { Kind::Weak };
                        self.add_count(to, h, kind, NoticeTo::Queue, fx);
                        Object::Handle {
                            handle: h,
                            strong,
                            rights: narrowed,
                        }
                    }
                }
                Object::Fd { index } => {
                    out_fds.push(fds[index as usize]);
                    Object::Fd {
                        index: (out_fds.len() - 1) as u32,
                    }
                }
                Object::Blob { index, len } => {
                    out_fds.push(fds[index as usize]);
                    Object::Blob {
                        index: (out_fds.len() - 1) as u32,
                        len,
                    }
                }
                Object::SharedMem { index, len } => {
                    out_fds.push(fds[index as usize]);
                    Object::SharedMem {
                        index: (out_fds.len() - 1) as u32,
                        len,
                    }
                }
            };
            out.push(translated);
        }
        (out, out_fds)
    }

    /// The rights `proc_id` holds on `handle`, resolved already: all of
    /// them on handle 0, which every process may use.
    fn held_rights(&self, proc_id: ProcId, handle: Handle) -> Rights {
        if handle == Handle::CONTEXT_MANAGER {
            return Rights::ALL;
        }
        self.procs
            .get(proc_id.0)
            .expect("live")
            .handles
            .get(handle)
            .expect("resolved")
            .rights
    }

    /// Whether `node` reaches a receiver as handle 0: it is the context
    /// manager's and the receiver gets every right (a narrowed one stays
    /// a handle of its own, or it would widen to handle 0's rights).
    fn is_handle_zero(&self, node: crate::ids::NodeId, rights: Rights) -> bool {
        self.context_manager == Some(node) && rights == Rights::ALL
    }

    /// Gives back the counts that translation gave `to`, for a transaction
    /// that is dropped before delivery.
    pub(crate) fn release_objects(&mut self, to: ProcId, objects: &[Object], fx: &mut Vec<Effect>) {
        if self.procs.get(to.0).is_none() {
            return;
        }
        for o in objects {
            if let Object::Handle { handle, strong, .. } = *o {
                if handle == Handle::CONTEXT_MANAGER {
                    continue; // translated from the context manager: no count
                }
                let kind = if strong { Kind::Strong } else { Kind::Weak };
                // Cannot underflow: translation added exactly this count.
                let _ = self.sub_count(to, handle, kind, fx);
            }
        }
    }
}
