//! Runnable capbinder programs a user copies from, and the small pieces
//! they share: the `example.IEcho` interface, written by hand the way the
//! AIDL compiler will generate it (a trait-free sketch: codes, a service
//! object, and a typed proxy).
#![forbid(unsafe_code)]

use capbinder::{new_binder, Binder, Parcel, Result, SpIBinder, Status, StatusCode};

/// The interface descriptor.
pub const DESCRIPTOR: &str = "example.IEcho";
/// The name the echo service registers under.
pub const SERVICE_NAME: &str = "example.echo";

/// Method codes.
pub mod codes {
    /// `String echo(String)`.
    pub const ECHO: u32 = capbinder::FIRST_CALL_TRANSACTION;
    /// `String callMeBack(ICallback cb, String s)`: calls `cb.echo(upper(s))`.
    pub const CALL_ME_BACK: u32 = capbinder::FIRST_CALL_TRANSACTION + 1;
    /// `int pid()`.
    pub const PID: u32 = capbinder::FIRST_CALL_TRANSACTION + 2;
}

/// The echo service.
pub struct EchoService;

impl Binder for EchoService {
    fn descriptor(&self) -> &str {
        DESCRIPTOR
    }

    fn on_transact(&self, code: u32, data: &mut Parcel, reply: &mut Parcel) -> Result<()> {
        match code {
            codes::ECHO => {
                let s: String = data.read()?;
                reply.write(&s)
            }
            codes::CALL_ME_BACK => {
                let cb = data.read_binder()?;
                let s: String = data.read()?;
                // A nested call: it goes back to the caller's waiting thread.
                let answer = Echo(cb).echo(&s.to_uppercase())?;
                reply.write(&answer)
            }
            codes::PID => reply.write(&(std::process::id() as i32)),
            _ => Err(Status::from_code(
                StatusCode::UnknownTransaction,
                format!("{DESCRIPTOR} has no code {code}"),
            )),
        }
    }
}

/// A typed proxy for `example.IEcho`.
#[derive(Clone, Debug)]
pub struct Echo(pub SpIBinder);

impl Echo {
    /// `echo(s)`.
    pub fn echo(&self, s: &str) -> Result<String> {
        let mut p = Parcel::new();
        p.write(s)?;
        self.0.transact(codes::ECHO, p, false)?.read()
    }

    /// `callMeBack(cb, s)`.
    pub fn call_me_back(&self, cb: &SpIBinder, s: &str) -> Result<String> {
        let mut p = Parcel::new();
        p.write_binder(cb)?;
        p.write(s)?;
        self.0.transact(codes::CALL_ME_BACK, p, false)?.read()
    }

    /// `pid()`.
    pub fn pid(&self) -> Result<i32> {
        self.0.transact(codes::PID, Parcel::new(), false)?.read()
    }
}

/// A callback object: answers `echo` with what it was sent, prefixed.
pub struct Callback {
    /// Prefix for answers.
    pub prefix: String,
}

impl Binder for Callback {
    fn descriptor(&self) -> &str {
        DESCRIPTOR
    }

    fn on_transact(&self, code: u32, data: &mut Parcel, reply: &mut Parcel) -> Result<()> {
        if code != codes::ECHO {
            return Err(Status::from_code(
                StatusCode::UnknownTransaction,
                "callback: echo only",
            ));
        }
        let s: String = data.read()?;
        reply.write(&format!("{}{s}", self.prefix))
    }
}

/// A callback binder with this prefix.
pub fn callback(prefix: &str) -> SpIBinder {
    new_binder(Callback {
        prefix: prefix.to_string(),
    })
}
