//! `Status`: what a call returns instead of a reply, with binder's exception
//! and status codes, and a message a person understands. A failure from the
//! mediator keeps its extended error (what failed and why) in the message.

use serde::{Deserialize, Serialize};

/// Binder's transport-level status codes (libbinder's `status_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatusCode {
    /// Success.
    Ok,
    /// Something unexpected.
    UnknownError,
    /// Out of memory.
    NoMemory,
    /// The operation is not valid now.
    InvalidOperation,
    /// A bad argument.
    BadValue,
    /// Data of the wrong type.
    BadType,
    /// No such name.
    NameNotFound,
    /// Not allowed.
    PermissionDenied,
    /// Not initialized.
    NoInit,
    /// Already there.
    AlreadyExists,
    /// The object's process is gone.
    DeadObject,
    /// The mediator refused or could not deliver the call.
    FailedTransaction,
    /// An index is out of range.
    BadIndex,
    /// The parcel ended early.
    NotEnoughData,
    /// Would block.
    WouldBlock,
    /// Timed out.
    TimedOut,
    /// The object does not know this code.
    UnknownTransaction,
    /// File descriptors are not allowed here.
    FdsNotAllowed,
    /// A null where a value was required.
    UnexpectedNull,
    /// The target process is frozen.
    Frozen,
}

/// AIDL's exception codes, carried in a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExceptionCode {
    /// No exception.
    None,
    /// Denied by policy.
    Security,
    /// A parcelable could not be read.
    BadParcelable,
    /// An argument was invalid.
    IllegalArgument,
    /// A required value was null.
    NullPointer,
    /// The object is in the wrong state.
    IllegalState,
    /// Not supported.
    UnsupportedOperation,
    /// A service-specific error code.
    ServiceSpecific,
    /// The transaction itself failed; see the status code.
    TransactionFailed,
}

/// The result of a failed call or a failed read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The exception, or `TransactionFailed` for transport errors.
    pub exception: ExceptionCode,
    /// The transport status (for `TransactionFailed`).
    pub code: StatusCode,
    /// The service-specific code (for `ServiceSpecific`).
    pub service_specific: i32,
    /// What went wrong, in words.
    pub message: String,
}

impl Status {
    /// A transport failure.
    pub fn from_code(code: StatusCode, message: impl Into<String>) -> Status {
        Status {
            exception: ExceptionCode::TransactionFailed,
            code,
            service_specific: 0,
            message: message.into(),
        }
    }

    /// An exception raised by a service.
    pub fn exception(exception: ExceptionCode, message: impl Into<String>) -> Status {
        Status {
            exception,
            code: StatusCode::Ok,
            service_specific: 0,
            message: message.into(),
        }
    }

    /// A service-specific error.
    pub fn service_specific(code: i32, message: impl Into<String>) -> Status {
        Status {
            exception: ExceptionCode::ServiceSpecific,
            code: StatusCode::Ok,
            service_specific: code,
            message: message.into(),
        }
    }

    /// A dead-object status.
    pub fn dead(message: impl Into<String>) -> Status {
        Status::from_code(StatusCode::DeadObject, message)
    }

    /// Whether this says nothing failed: no exception, or a transport
    /// status of `Ok` (libbinder's `Status::isOk`).
    pub fn is_ok(&self) -> bool {
        match self.exception {
            ExceptionCode::None => true,
            ExceptionCode::TransactionFailed => self.code == StatusCode::Ok,
            _ => false,
        }
    }

    /// Whether the target is gone.
    pub fn is_dead(&self) -> bool {
        self.code == StatusCode::DeadObject
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.exception {
            ExceptionCode::TransactionFailed => write!(f, "{:?}: {}", self.code, self.message),
            ExceptionCode::ServiceSpecific => write!(
                f,
                "service-specific error {}: {}",
                self.service_specific, self.message
            ),
            e => write!(f, "{e:?} exception: {}", self.message),
        }
    }
}

impl std::error::Error for Status {}

/// A call's result.
pub type Result<T> = std::result::Result<T, Status>;

impl From<capbinder_kmod_shim::device::DeviceError> for Status {
    fn from(e: capbinder_kmod_shim::device::DeviceError) -> Status {
        use capbinder_kmod_shim::device::DeviceError as D;
        match e {
            D::Closed => {
                Status::dead("the connection to the mediator is lost: every remote object is dead")
            }
            // The device's advice (open a new one) is out of reach here:
            // the process state is the parent's, and, as in libbinder
            // (`CannotUseBinderAfterFork`), a forked child has none of its
            // own.
            D::Forked { opened, now } => Status::from_code(
                StatusCode::InvalidOperation,
                format!(
                    "pid {now} is a forked child of pid {opened}, whose binder state it \
                     inherited and cannot use (as in libbinder); exec a program that uses \
                     capbinder instead"
                ),
            ),
            other => Status::from_code(StatusCode::FailedTransaction, other.to_string()),
        }
    }
}

impl From<postcard::Error> for Status {
    fn from(e: postcard::Error) -> Status {
        Status::exception(
            ExceptionCode::BadParcelable,
            format!("the parcel's data does not decode: {e}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capbinder_kmod_shim::device::DeviceError;

    /// binderLibTest's `CannotUseBinderAfterFork`: the child is told it
    /// cannot, not told to open a device the runtime gives it no way to.
    #[test]
    fn a_forked_child_is_told_it_cannot_use_binder() {
        let s = Status::from(DeviceError::Forked {
            opened: 10,
            now: 11,
        });
        assert_eq!(s.code, StatusCode::InvalidOperation);
        assert!(
            s.message.contains("pid 11 is a forked child of pid 10")
                && !s.message.contains("open a new one"),
            "{s}"
        );
    }
}
