//! The work source: the uid a thread's work is done for, which may differ
//! from the uid calling (libbinder's `IPCThreadState` work source API). A
//! service that works on behalf of an app sets the app's uid; the calls it
//! makes meanwhile carry that uid, and the services they reach see it as
//! [`calling_work_source_uid`], to charge the app for the work (battery,
//! CPU accounting) rather than the service in the middle.
//!
//! It is the caller's claim, never checked: it attributes cost and grants
//! nothing. Check permissions against [`calling_identity`], which the
//! kernel vouches for.
//!
//! Per thread, like libbinder:
//! - a call carries the thread's work source only while propagation is on,
//!   which [`set_calling_work_source_uid`] turns on;
//! - while serving a call, the thread reports the work source the call
//!   carried, with propagation off (so calls it makes carry none unless it
//!   sets one); both come back as they were when the call ends.
//!
//! [`calling_identity`]: crate::calling_identity

use std::cell::Cell;

/// The thread's work source and whether its calls carry it, as saved by
/// the functions that change them; [`restore_calling_work_source`] brings
/// both back (libbinder's `int64_t` token).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[must_use = "the token is what restore_calling_work_source takes"]
pub struct WorkSourceToken {
    uid: Option<u32>,
    propagate: bool,
}

thread_local! {
    static CURRENT: Cell<WorkSourceToken> = const {
        Cell::new(WorkSourceToken { uid: None, propagate: false })
    };
}

/// The work source this thread reports: the one it set, or while it serves
/// a call, the one the call carried; `None` when unset (libbinder's
/// `getCallingWorkSourceUid` returning `kUnsetWorkSource`).
pub fn calling_work_source_uid() -> Option<u32> {
    CURRENT.with(|c| c.get().uid)
}

/// Sets this thread's work source and makes its calls carry it (libbinder's
/// `setCallingWorkSourceUid`). Returns what was there before.
pub fn set_calling_work_source_uid(uid: u32) -> WorkSourceToken {
    replace(WorkSourceToken {
        uid: Some(uid),
        propagate: true,
    })
}

/// Sets this thread's work source without changing whether its calls
/// carry it (libbinder's `setCallingWorkSourceUidWithoutPropagation`).
/// Returns what was there before.
pub fn set_calling_work_source_uid_without_propagation(uid: u32) -> WorkSourceToken {
    let propagate = should_propagate_work_source();
    replace(WorkSourceToken {
        uid: Some(uid),
        propagate,
    })
}

/// Unsets this thread's work source (libbinder's `clearCallingWorkSource`):
/// its calls carry none. Returns what was there before.
pub fn clear_calling_work_source() -> WorkSourceToken {
    // libbinder sets "unset" with propagation on; propagating nothing is
    // the same as not propagating, and a later set_..._without_propagation
    // then propagates, as there.
    replace(WorkSourceToken {
        uid: None,
        propagate: true,
    })
}

/// Brings back the work source and propagation a token saved (libbinder's
/// `restoreCallingWorkSource`).
pub fn restore_calling_work_source(token: WorkSourceToken) {
    CURRENT.with(|c| c.set(token));
}

/// Whether this thread's calls carry its work source (libbinder's
/// `shouldPropagateWorkSource`).
pub fn should_propagate_work_source() -> bool {
    CURRENT.with(|c| c.get().propagate)
}

/// Stops this thread's calls carrying its work source, keeping the work
/// source it reports (libbinder's `clearPropagateWorkSource`).
pub fn clear_propagate_work_source() {
    CURRENT.with(|c| {
        let t = c.get();
        c.set(WorkSourceToken {
            propagate: false,
            ..t
        })
    });
}

fn replace(new: WorkSourceToken) -> WorkSourceToken {
    CURRENT.with(|c| c.replace(new))
}

/// What a call made now carries.
pub(crate) fn outgoing() -> Option<u32> {
    CURRENT.with(|c| {
        let t = c.get();
        t.uid.filter(|_| t.propagate)
    })
}

/// Puts the thread's work source back when the call it serves ends.
pub(crate) struct Serving(WorkSourceToken);

impl Drop for Serving {
    fn drop(&mut self) {
        restore_calling_work_source(self.0);
    }
}

/// Reports the work source an incoming call carried, not propagated, for
/// as long as the guard lives (libbinder's `executeCommand` with
/// `enforceInterface`; here for every call, not only generated stubs).
pub(crate) fn serve(carried: Option<u32>) -> Serving {
    Serving(replace(WorkSourceToken {
        uid: carried,
        propagate: false,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each test runs on its own thread, so the thread-local starts unset.

    #[test]
    fn unset_by_default_and_not_propagated() {
        assert_eq!(calling_work_source_uid(), None);
        assert!(!should_propagate_work_source());
        assert_eq!(outgoing(), None);
    }

    #[test]
    fn set_propagates_and_restore_undoes_both() {
        let token = set_calling_work_source_uid(100);
        assert_eq!(calling_work_source_uid(), Some(100));
        assert!(should_propagate_work_source());
        assert_eq!(outgoing(), Some(100));
        restore_calling_work_source(token);
        // binderLibTest PropagateFlagRestored: propagation was off before.
        assert!(!should_propagate_work_source());
        assert_eq!(calling_work_source_uid(), None);
    }

    #[test]
    fn without_propagation_is_not_carried() {
        let _ = set_calling_work_source_uid_without_propagation(100);
        assert_eq!(calling_work_source_uid(), Some(100));
        assert_eq!(outgoing(), None);
    }

    #[test]
    fn cleared_then_restored() {
        let _ = set_calling_work_source_uid(100);
        let token = clear_calling_work_source();
        assert_eq!(calling_work_source_uid(), None);
        assert_eq!(outgoing(), None);
        restore_calling_work_source(token);
        assert_eq!(outgoing(), Some(100));
    }

    #[test]
    fn propagation_flag_set_and_cleared() {
        clear_propagate_work_source();
        let _ = set_calling_work_source_uid(100);
        assert!(should_propagate_work_source());
        clear_propagate_work_source();
        assert!(!should_propagate_work_source());
        assert_eq!(calling_work_source_uid(), Some(100));
        assert_eq!(outgoing(), None);
    }

    #[test]
    fn serving_reports_the_carried_source_then_puts_back() {
        let _ = set_calling_work_source_uid(7);
        {
            let _s = serve(Some(100));
            assert_eq!(calling_work_source_uid(), Some(100));
            // A nested call carries nothing unless the handler sets it.
            assert_eq!(outgoing(), None);
        }
        assert_eq!(calling_work_source_uid(), Some(7));
        assert_eq!(outgoing(), Some(7));
    }
}
