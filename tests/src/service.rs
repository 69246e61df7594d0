//! `TestObject`: the implementation of `capbinder.test.ITest` that the
//! helper's `service` role registers and that clients hand out as callback
//! objects, and `TestProxy`, the typed client side.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use capbinder::{
    calling_identity, new_binder, Binder, ExceptionCode, Parcel, Result, SpIBinder, Status,
    StatusCode,
};

use crate::proto::{codes, gettid, Level, Who, DESCRIPTOR};

/// A latch the `block` method waits on; the server's stdin reader opens it.
#[derive(Default)]
pub struct Latch {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Latch {
    /// Opens the latch for every waiter, now and later.
    pub fn open(&self) {
        *self.open.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_all();
    }

    /// Waits until the latch is open.
    pub fn wait(&self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        while !*open {
            open = self.cv.wait(open).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// The oneway log: sequence numbers in arrival order.
#[derive(Default)]
struct Log {
    seqs: Mutex<Vec<u32>>,
    cv: Condvar,
}

/// An object implementing `capbinder.test.ITest`.
pub struct TestObject {
    prefix: String,
    log: Log,
    latch: Arc<Latch>,
    kept: Mutex<Option<SpIBinder>>,
}

impl TestObject {
    /// The object `keep` handed it.
    fn kept(&self) -> Result<SpIBinder> {
        self.kept
            .lock()
            .unwrap()
            .clone()
            .ok_or_else(|| Status::from_code(StatusCode::BadValue, "nothing kept"))
    }

    /// An object whose `echo` answers `prefix` + its argument and whose
    /// `block` waits on `latch`.
    pub fn new(prefix: &str, latch: Arc<Latch>) -> TestObject {
        TestObject {
            prefix: prefix.to_string(),
            log: Log::default(),
            latch,
            kept: Mutex::new(None),
        }
    }

    /// Wrapped as a binder.
    pub fn binder(prefix: &str, latch: Arc<Latch>) -> SpIBinder {
        new_binder(TestObject::new(prefix, latch))
    }
}

fn io_status(what: &str, e: std::io::Error) -> Status {
    Status::exception(ExceptionCode::IllegalState, format!("{what}: {e}"))
}

fn who() -> Result<Who> {
    let c = calling_identity().ok_or_else(|| {
        Status::exception(
            ExceptionCode::IllegalState,
            "no calling identity inside a call",
        )
    })?;
    Ok(Who {
        pid: c.pid,
        tid: c.tid,
        uid: c.uid,
        euid: c.euid,
        txn: c.txn.0,
    })
}

impl Binder for TestObject {
    fn descriptor(&self) -> &str {
        DESCRIPTOR
    }

    fn on_transact(&self, code: u32, data: &mut Parcel, reply: &mut Parcel) -> Result<()> {
        match code {
            codes::ECHO => {
                let s: String = data.read()?;
                reply.write(&format!("{}{s}", self.prefix))
            }
            codes::CALL_BACK => {
                let cb = TestProxy(data.read_binder()?);
                let s: String = data.read()?;
                let answer = cb.echo(&s.to_uppercase())?;
                let tid = cb.tid()?;
                reply.write(&(answer, tid))
            }
            codes::RECURSE => {
                let peer = TestProxy(data.read_binder()?);
                let back = data.read_binder()?;
                let n: u32 = data.read()?;
                let mut levels = if n > 0 {
                    peer.recurse(&back, &peer.0, n - 1)?
                } else {
                    Vec::new()
                };
                levels.push(Level {
                    pid: std::process::id() as i32,
                    tid: gettid(),
                    n,
                });
                reply.write(&levels)
            }
            codes::TID => reply.write(&gettid()),
            codes::PID => reply.write(&(std::process::id() as i32)),
            codes::FORWARD_BYTES => {
                let next = data.read_nullable_binder()?;
                let Some(next) = next else {
                    reply.move_to_send_area();
                    return reply.forward_bytes(data);
                };
                // The thread's send area is the outgoing call's first, then
                // the reply's.
                let mut p = Parcel::in_send_area();
                p.write_nullable_binder(None)?;
                p.forward_bytes(data)?;
                let mut back = next.transact(codes::FORWARD_BYTES, p, false)?;
                reply.move_to_send_area();
                reply.forward_bytes(&mut back)
            }
            codes::WHOAMI => reply.write(&who()?),
            codes::READ_FD => {
                let mut f = std::fs::File::from(data.read_fd()?);
                let mut s = String::new();
                f.read_to_string(&mut s)
                    .map_err(|e| io_status("reading the fd", e))?;
                reply.write(&s)
            }
            codes::MAKE_FD => {
                let (r, w) = rustix::pipe::pipe().map_err(|e| io_status("pipe", e.into()))?;
                let mut w = std::fs::File::from(w);
                writeln!(w, "an fd from pid {}", std::process::id())
                    .map_err(|e| io_status("writing the pipe", e))?;
                drop(w);
                reply.write_fd(r)
            }
            codes::ECHO_BYTES => {
                let b = data.read_bytes()?.to_vec();
                reply.write_bytes(&b)
            }
            codes::ONEWAY_LOG => {
                let seq: u32 = data.read()?;
                self.log
                    .seqs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(seq);
                self.log.cv.notify_all();
                Ok(())
            }
            codes::GET_LOG => {
                let n: usize = data.read()?;
                let deadline = Instant::now() + Duration::from_secs(30);
                let mut seqs = self.log.seqs.lock().unwrap_or_else(|e| e.into_inner());
                while seqs.len() < n {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    seqs = self
                        .log
                        .cv
                        .wait_timeout(seqs, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                reply.write(&*seqs)
            }
            codes::NEW_SESSION => {
                reply.write_binder(&TestObject::binder("session:", self.latch.clone()))
            }
            codes::BLOCK => {
                let w = who()?;
                println!("in-call txn={} from={}", w.txn, w.pid);
                self.latch.wait();
                reply.write(&w)
            }
            codes::FAIL_SPECIFIC => Err(Status::service_specific(42, "the answer is 42")),
            codes::KEEP => {
                *self.kept.lock().unwrap() = Some(data.read_binder()?);
                Ok(())
            }
            codes::CALL_KEPT => {
                let k = self.kept()?;
                reply.write(&TestProxy(k).echo("k")?)
            }
            codes::KEPT_TID => {
                let k = self.kept()?;
                reply.write(&TestProxy(k).tid()?)
            }
            codes::BLOCK_CALL_KEPT | codes::WINDOW_BLOCK_CALL_KEPT => {
                let k = self.kept()?;
                if code == codes::WINDOW_BLOCK_CALL_KEPT {
                    capbinder::ProcessState::get()?.set_oneway_window(4);
                    TestProxy(k.clone()).log(1)?;
                }
                println!("in-call");
                self.latch.wait();
                let r = TestProxy(k).echo("k");
                println!("handler-done ok={}", r.is_ok());
                reply.write(&r?)
            }
            codes::RELAY => {
                capbinder::ProcessState::get()?.set_oneway_window(4);
                let cb = TestProxy(data.read_binder()?);
                let seq: u32 = data.read()?;
                cb.log(seq)
            }
            codes::FAIL_WITH => {
                let status: Status = data.read()?;
                reply.write(&7i32)?;
                Err(status)
            }
            _ => Err(Status::from_code(
                StatusCode::UnknownTransaction,
                format!("{DESCRIPTOR} has no method with code {code}"),
            )),
        }
    }

    fn dump(&self, out: &mut dyn Write, args: &[String]) -> Result<()> {
        writeln!(
            out,
            "ITest dump: prefix={:?} args={}",
            self.prefix,
            args.join(",")
        )
        .map_err(|e| io_status("writing the dump", e))
    }
}

/// A typed proxy for `capbinder.test.ITest`.
#[derive(Clone, Debug)]
pub struct TestProxy(pub SpIBinder);

impl TestProxy {
    fn call(&self, code: u32, p: Parcel) -> Result<Parcel> {
        self.0.transact(code, p, false)
    }

    /// `echo(s)`.
    pub fn echo(&self, s: &str) -> Result<String> {
        let mut p = Parcel::new();
        p.write(s)?;
        self.call(codes::ECHO, p)?.read()
    }

    /// `callBack(cb, s)`.
    pub fn call_back(&self, cb: &SpIBinder, s: &str) -> Result<(String, i32)> {
        let mut p = Parcel::new();
        p.write_binder(cb)?;
        p.write(s)?;
        self.call(codes::CALL_BACK, p)?.read()
    }

    /// `recurse(peer, back, n)`.
    pub fn recurse(&self, peer: &SpIBinder, back: &SpIBinder, n: u32) -> Result<Vec<Level>> {
        let mut p = Parcel::new();
        p.write_binder(peer)?;
        p.write_binder(back)?;
        p.write(&n)?;
        self.call(codes::RECURSE, p)?.read()
    }

    /// `tid()`.
    pub fn tid(&self) -> Result<i32> {
        self.call(codes::TID, Parcel::new())?.read()
    }

    /// `pid()`.
    pub fn pid(&self) -> Result<i32> {
        self.call(codes::PID, Parcel::new())?.read()
    }

    /// `whoami()`.
    pub fn whoami(&self) -> Result<Who> {
        self.call(codes::WHOAMI, Parcel::new())?.read()
    }

    /// `readFd(fd)`.
    pub fn read_fd(&self, fd: OwnedFd) -> Result<String> {
        let mut p = Parcel::new();
        p.write_fd(fd)?;
        self.call(codes::READ_FD, p)?.read()
    }

    /// `makeFd()`.
    pub fn make_fd(&self) -> Result<OwnedFd> {
        self.call(codes::MAKE_FD, Parcel::new())?.read_fd()
    }

    /// `echoBytes(b)`.
    pub fn echo_bytes(&self, b: &[u8]) -> Result<Vec<u8>> {
        let mut p = Parcel::new();
        p.write_bytes(b)?;
        Ok(self.call(codes::ECHO_BYTES, p)?.read_bytes()?.to_vec())
    }

    /// `oneway log(seq)`.
    pub fn log(&self, seq: u32) -> Result<()> {
        let mut p = Parcel::new();
        p.write(&seq)?;
        self.0.transact(codes::ONEWAY_LOG, p, true).map(|_| ())
    }

    /// `oneway log(seq)` with `pad` more bytes after `seq` (the service
    /// reads only `seq`): payloads of any size, for the oneway window.
    pub fn log_padded(&self, seq: u32, pad: usize) -> Result<()> {
        let mut p = Parcel::new();
        p.write(&seq)?;
        p.write_bytes(&vec![0xa5; pad])?;
        self.0.transact(codes::ONEWAY_LOG, p, true).map(|_| ())
    }

    /// `oneway keep(b)`: the service keeps `b` for `callKept`.
    pub fn keep(&self, b: &SpIBinder) -> Result<()> {
        let mut p = Parcel::new();
        p.write_binder(b)?;
        self.0.transact(codes::KEEP, p, true).map(|_| ())
    }

    /// `callKept()`: calls the kept object (its `name`).
    pub fn call_kept(&self) -> Result<String> {
        self.call(codes::CALL_KEPT, Parcel::new())?.read()
    }

    /// `blockCallKept()`.
    pub fn block_call_kept(&self) -> Result<String> {
        self.call(codes::BLOCK_CALL_KEPT, Parcel::new())?.read()
    }

    /// `windowBlockCallKept()`.
    pub fn window_block_call_kept(&self) -> Result<String> {
        self.call(codes::WINDOW_BLOCK_CALL_KEPT, Parcel::new())?
            .read()
    }

    /// `keptTid()`: the tid the kept object was served on, from inside
    /// this call.
    pub fn kept_tid(&self) -> Result<i32> {
        self.call(codes::KEPT_TID, Parcel::new())?.read()
    }

    /// `oneway relay(cb, seq)`: the service logs `seq` on `cb` with a
    /// oneway call through a window of 4.
    pub fn relay(&self, cb: &SpIBinder, seq: u32) -> Result<()> {
        let mut p = Parcel::new();
        p.write_binder(cb)?;
        p.write(&seq)?;
        self.0.transact(codes::RELAY, p, true).map(|_| ())
    }

    /// `getLog(n)`.
    pub fn get_log(&self, n: usize) -> Result<Vec<u32>> {
        let mut p = Parcel::new();
        p.write(&n)?;
        self.call(codes::GET_LOG, p)?.read()
    }

    /// `newSession()`.
    pub fn new_session(&self) -> Result<SpIBinder> {
        self.call(codes::NEW_SESSION, Parcel::new())?.read_binder()
    }

    /// `block()`.
    pub fn block(&self) -> Result<Who> {
        self.call(codes::BLOCK, Parcel::new())?.read()
    }

    /// `failSpecific()`.
    pub fn fail_specific(&self) -> Result<()> {
        self.call(codes::FAIL_SPECIFIC, Parcel::new()).map(|_| ())
    }

    /// `failWith(status)`: the service's 7 if its status says nothing
    /// failed, else that status.
    pub fn fail_with(&self, status: &Status) -> Result<i32> {
        let mut p = Parcel::new();
        p.write(status)?;
        self.call(codes::FAIL_WITH, p)?.read()
    }
}
