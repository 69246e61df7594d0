//! Freeze callbacks on proxies (libbinder's `addFrozenStateChangeCallback`):
//! one mediator subscription per proxy, made by the first callback and
//! ended by the last; every `FrozenBinder` notice is answered, whether or
//! not anyone still listens, so that the mediator can send the next.

use std::sync::Arc;

use capbinder_core::{features, Command};

use crate::binder::{FrozenState, FrozenStateChangeCallback, Proxy, SpIBinder};
use crate::process::{next_local_id, ProcessState};
use crate::status::{Result, Status, StatusCode};
use crate::thread;

impl ProcessState {
    pub(crate) fn add_frozen_callback(
        &self,
        p: &Arc<Proxy>,
        cb: Arc<dyn FrozenStateChangeCallback>,
    ) -> Result<()> {
        if self.dev.welcome().features & features::FREEZE_NOTIFICATIONS == 0 {
            // binderLibTest's ReturnErrorIfKernelDoesNotSupportFreezeNotification.
            return Err(Status::from_code(
                StatusCode::InvalidOperation,
                "this mediator sends no freeze notifications",
            ));
        }
        if p.obits_sent.load(std::sync::atomic::Ordering::Acquire) {
            return Err(Status::dead(format!(
                "{}: the object's process died",
                p.handle
            )));
        }
        let mut f = p.frozen.lock().unwrap_or_else(|e| e.into_inner());
        f.callbacks.push(cb.clone());
        let known = f.state;
        if f.cookie.is_none() {
            let cookie = next_local_id();
            f.cookie = Some(cookie);
            self.frozen_subs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(cookie, Arc::downgrade(p));
            drop(f);
            thread::post(
                &self.arc(),
                vec![Command::RequestFreezeNotice {
                    handle: p.handle,
                    cookie,
                }],
            );
            return Ok(());
        }
        drop(f);
        if let Some(state) = known {
            let who = SpIBinder::from_proxy(p.clone()).downgrade();
            cb.on_state_changed(&who, state);
        }
        Ok(())
    }

    pub(crate) fn remove_frozen_callback(
        &self,
        p: &Arc<Proxy>,
        cb: &Arc<dyn FrozenStateChangeCallback>,
    ) -> Result<()> {
        let mut f = p.frozen.lock().unwrap_or_else(|e| e.into_inner());
        let before = f.callbacks.len();
        f.callbacks.retain(|x| !Arc::ptr_eq(x, cb));
        if f.callbacks.len() == before {
            return Err(Status::from_code(
                StatusCode::NameNotFound,
                "this callback was not added to that object",
            ));
        }
        if f.callbacks.is_empty() {
            f.state = None;
            if let Some(cookie) = f.cookie.take() {
                self.frozen_subs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&cookie);
                drop(f);
                thread::post(
                    &self.arc(),
                    vec![Command::ClearFreezeNotice {
                        handle: p.handle,
                        cookie,
                    }],
                );
            }
        }
        Ok(())
    }

    /// A `FrozenBinder` notice: tells the proxy's callbacks and returns
    /// the answer to send.
    pub(crate) fn on_frozen_binder(&self, cookie: u64, is_frozen: bool) -> Command {
        let proxy = self
            .frozen_subs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&cookie)
            .and_then(|w| w.upgrade());
        if let Some(p) = proxy {
            let state = if is_frozen {
                FrozenState::Frozen
            } else {
                FrozenState::Unfrozen
            };
            let callbacks = {
                let mut f = p.frozen.lock().unwrap_or_else(|e| e.into_inner());
                // A notice for a subscription since ended (and perhaps
                // made again with a new cookie) tells no one.
                if f.cookie != Some(cookie) {
                    Vec::new()
                } else {
                    f.state = Some(state);
                    f.callbacks.clone()
                }
            };
            let who = SpIBinder::from_proxy(p).downgrade();
            for cb in callbacks {
                cb.on_state_changed(&who, state);
            }
        }
        Command::FreezeNoticeDone { cookie }
    }
}
