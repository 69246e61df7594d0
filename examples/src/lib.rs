//! Runnable capbinder programs a user copies from, and the small pieces
//! they share: the `example.IEcho` interface, generated from
//! `aidl/example/IEcho.aidl` by `build.rs` (see `capbinder-codegen`), the
//! echo service that implements it, and a callback object.
#![forbid(unsafe_code)]

use std::sync::Arc;

use capbinder::{interface_cast, Result, SpIBinder};

/// The generated code for `aidl/` (one module per AIDL package).
pub mod aidl {
    ::capbinder::include_aidl!();
}

pub use aidl::example::{i_echo, BnEcho, IEcho};

/// The interface descriptor.
pub const DESCRIPTOR: &str = i_echo::DESCRIPTOR;
/// The name the echo service registers under.
pub const SERVICE_NAME: &str = "example.echo";

/// The echo service.
pub struct EchoService;

impl IEcho for EchoService {
    fn echo(&self, s: &str) -> Result<String> {
        Ok(s.to_string())
    }

    fn call_me_back(&self, cb: &Arc<dyn IEcho>, s: &str) -> Result<String> {
        // A nested call: it goes back to the caller's waiting thread.
        cb.echo(&s.to_uppercase())
    }

    fn pid(&self) -> Result<i32> {
        Ok(std::process::id() as i32)
    }
}

/// A callback object: answers `echo` with what it was sent, prefixed.
pub struct Callback {
    /// Prefix for answers.
    pub prefix: String,
}

impl IEcho for Callback {
    fn echo(&self, s: &str) -> Result<String> {
        Ok(format!("{}{s}", self.prefix))
    }

    fn call_me_back(&self, _cb: &Arc<dyn IEcho>, _s: &str) -> Result<String> {
        Err(capbinder::interface::not_implemented(
            "callback: IEcho.callMeBack",
        ))
    }

    fn pid(&self) -> Result<i32> {
        Ok(std::process::id() as i32)
    }
}

/// A callback object with this prefix, ready to pass in a call.
pub fn callback(prefix: &str) -> Arc<dyn IEcho> {
    BnEcho::new_interface(Callback {
        prefix: prefix.to_string(),
    })
}

/// The echo interface of an object (a generated proxy for a remote one).
pub fn echo(binder: SpIBinder) -> Result<Arc<dyn IEcho>> {
    interface_cast::<dyn IEcho>(binder)
}
