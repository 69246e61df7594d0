//! Kernel binder beside capbinder: the same echo through the Linux binder
//! driver, where the kernel has one (`CONFIG_ANDROID_BINDER_IPC`;
//! `/dev/binder` by default, or a binderfs device).
//!
//! One round trip, as libbinder's `IPCThreadState` drives the driver:
//!
//! - client: `BINDER_WRITE_READ` with `[BC_FREE_BUFFER(previous reply),
//!   BC_TRANSACTION(handle 0, data = the request, where the client wrote
//!   it)]`, reading until `BR_REPLY`; copies the reply out of its mapping;
//! - server (the context manager, one looper thread): reads
//!   `BR_TRANSACTION`; `[BC_REPLY(data = the received buffer, in place in
//!   its mapping), BC_FREE_BUFFER(it)]`; reads `BR_TRANSACTION_COMPLETE`,
//!   then blocks for the next call.
//!
//! Copies of the payload: the driver's, once per direction (sender's
//! memory into the receiver's mapping), plus the client's copy of the reply
//! out of its mapping. The server echoes in place, the best the binder API
//! allows (capbinder's echo does the same with a splice).
//!
//! The encoding is the uapi header's (`linux/android/binder.h`), 64-bit:
//! every command and return is a `u32` code whose `_IOC_SIZE` is the size
//! of the payload that follows it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rustix::ioctl::opcode;

use super::procs::{self_command, spawn_on, Helper};
use super::{BenchError, Rig};
use crate::sys::kbinder::{KernelBinder, MAX_MAP};

/// Where the driver's one device usually is.
pub const DEFAULT_DEVICE: &str = "/dev/binder";

/// Why kernel binder does not run when no device was named. Only a named
/// device is used: the benchmark's server becomes its context manager, and
/// the driver then lets no other uid manage it until reboot, which would
/// break an Android container (Waydroid, Anbox) that needs it later.
pub fn unnamed_reason() -> String {
    if Path::new(DEFAULT_DEVICE).exists() {
        format!(
            "no --kbinder DEVICE; {DEFAULT_DEVICE} exists, but its benchmark server would become its context manager, and the driver lets no other uid manage it until reboot: name it (or a binderfs device of your own) with --kbinder to measure"
        )
    } else {
        "no --kbinder DEVICE, and no /dev/binder: this kernel has no binder driver (CONFIG_ANDROID_BINDER_IPC); tests/bench/vm/run-in-vm.sh runs the benchmark in a VM whose kernel has one".into()
    }
}

/// `struct binder_transaction_data` on a 64-bit kernel.
const TXN_DATA: usize = 64;
/// `struct binder_ptr_cookie`.
const PTR_COOKIE: usize = 16;

/// A command or return code as it sits in the write and read buffers (a
/// `u32`). rustix's `Opcode` is `u32` with its own syscalls but `c_ulong`
/// with libc's (`--cfg rustix_use_libc`, which valgrind needs), so the
/// same code builds with both.
#[allow(clippy::unnecessary_cast)]
const fn cmd(op: rustix::ioctl::Opcode) -> u32 {
    op as u32
}

/// `BC_TRANSACTION`: `_IOW('c', 0, struct binder_transaction_data)`.
pub const BC_TRANSACTION: u32 = cmd(opcode::write::<[u8; TXN_DATA]>(b'c', 0));
/// `BC_REPLY`: `_IOW('c', 1, struct binder_transaction_data)`.
pub const BC_REPLY: u32 = cmd(opcode::write::<[u8; TXN_DATA]>(b'c', 1));
/// `BC_FREE_BUFFER`: `_IOW('c', 3, binder_uintptr_t)`.
pub const BC_FREE_BUFFER: u32 = cmd(opcode::write::<u64>(b'c', 3));
/// `BC_INCREFS_DONE`: `_IOW('c', 8, struct binder_ptr_cookie)`.
pub const BC_INCREFS_DONE: u32 = cmd(opcode::write::<[u8; PTR_COOKIE]>(b'c', 8));
/// `BC_ACQUIRE_DONE`: `_IOW('c', 9, struct binder_ptr_cookie)`.
pub const BC_ACQUIRE_DONE: u32 = cmd(opcode::write::<[u8; PTR_COOKIE]>(b'c', 9));
/// `BC_ENTER_LOOPER`: `_IO('c', 12)`.
pub const BC_ENTER_LOOPER: u32 = cmd(opcode::none(b'c', 12));

/// `BR_ERROR`: `_IOR('r', 0, __s32)`.
pub const BR_ERROR: u32 = cmd(opcode::read::<i32>(b'r', 0));
/// `BR_TRANSACTION`: `_IOR('r', 2, struct binder_transaction_data)`.
pub const BR_TRANSACTION: u32 = cmd(opcode::read::<[u8; TXN_DATA]>(b'r', 2));
/// `BR_REPLY`: `_IOR('r', 3, struct binder_transaction_data)`.
pub const BR_REPLY: u32 = cmd(opcode::read::<[u8; TXN_DATA]>(b'r', 3));
/// `BR_DEAD_REPLY`: `_IO('r', 5)`.
pub const BR_DEAD_REPLY: u32 = cmd(opcode::none(b'r', 5));
/// `BR_TRANSACTION_COMPLETE`: `_IO('r', 6)`.
pub const BR_TRANSACTION_COMPLETE: u32 = cmd(opcode::none(b'r', 6));
/// `BR_INCREFS`: `_IOR('r', 7, struct binder_ptr_cookie)`.
pub const BR_INCREFS: u32 = cmd(opcode::read::<[u8; PTR_COOKIE]>(b'r', 7));
/// `BR_ACQUIRE`: `_IOR('r', 8, struct binder_ptr_cookie)`.
pub const BR_ACQUIRE: u32 = cmd(opcode::read::<[u8; PTR_COOKIE]>(b'r', 8));
/// `BR_RELEASE`: `_IOR('r', 9, struct binder_ptr_cookie)`.
pub const BR_RELEASE: u32 = cmd(opcode::read::<[u8; PTR_COOKIE]>(b'r', 9));
/// `BR_DECREFS`: `_IOR('r', 10, struct binder_ptr_cookie)`.
pub const BR_DECREFS: u32 = cmd(opcode::read::<[u8; PTR_COOKIE]>(b'r', 10));
/// `BR_NOOP`: `_IO('r', 12)`.
pub const BR_NOOP: u32 = cmd(opcode::none(b'r', 12));
/// `BR_SPAWN_LOOPER`: `_IO('r', 13)`.
pub const BR_SPAWN_LOOPER: u32 = cmd(opcode::none(b'r', 13));
/// `BR_FAILED_REPLY`: `_IO('r', 17)`.
pub const BR_FAILED_REPLY: u32 = cmd(opcode::none(b'r', 17));

/// `_IOC_SIZE`: the bytes that follow a command or return code.
fn ioc_size(code: u32) -> usize {
    ((code >> 16) & 0x3fff) as usize
}

/// The fields of `struct binder_transaction_data` this benchmark uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxnData {
    /// `target.handle` (outgoing) or `target.ptr` (incoming).
    pub target: u64,
    /// `cookie`.
    pub cookie: u64,
    /// `code`.
    pub code: u32,
    /// `flags` (`TF_*`).
    pub flags: u32,
    /// `data_size`: payload bytes.
    pub data_size: u64,
    /// `offsets_size`: bytes of object offsets (none here).
    pub offsets_size: u64,
    /// `data.ptr.buffer`: where the payload is (a user address).
    pub buffer: u64,
    /// `data.ptr.offsets`.
    pub offsets: u64,
}

impl TxnData {
    /// Appends the 64-byte struct (`sender_pid` and `sender_euid`, which
    /// the driver fills in on delivery, as zero).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.target.to_ne_bytes());
        out.extend_from_slice(&self.cookie.to_ne_bytes());
        out.extend_from_slice(&self.code.to_ne_bytes());
        out.extend_from_slice(&self.flags.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes()); // sender_pid
        out.extend_from_slice(&0u32.to_ne_bytes()); // sender_euid
        out.extend_from_slice(&self.data_size.to_ne_bytes());
        out.extend_from_slice(&self.offsets_size.to_ne_bytes());
        out.extend_from_slice(&self.buffer.to_ne_bytes());
        out.extend_from_slice(&self.offsets.to_ne_bytes());
    }

    /// Reads the struct from exactly 64 bytes.
    pub fn decode(b: &[u8; TXN_DATA]) -> TxnData {
        let u64_at = |i: usize| u64::from_ne_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let u32_at = |i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        TxnData {
            target: u64_at(0),
            cookie: u64_at(8),
            code: u32_at(16),
            flags: u32_at(20),
            data_size: u64_at(32),
            offsets_size: u64_at(40),
            buffer: u64_at(48),
            offsets: u64_at(56),
        }
    }
}

/// Appends a command: its code, then its payload.
fn put(out: &mut Vec<u8>, code: u32, payload: &[u8]) {
    debug_assert_eq!(payload.len(), ioc_size(code));
    out.extend_from_slice(&code.to_ne_bytes());
    out.extend_from_slice(payload);
}

/// Appends `BC_FREE_BUFFER(buffer)`.
fn put_free(out: &mut Vec<u8>, buffer: u64) {
    put(out, BC_FREE_BUFFER, &buffer.to_ne_bytes());
}

/// Appends `BC_TRANSACTION` or `BC_REPLY` with `txn`.
fn put_txn(out: &mut Vec<u8>, code: u32, txn: &TxnData) {
    out.extend_from_slice(&code.to_ne_bytes());
    txn.encode(out);
}

/// One return from the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    /// `BR_NOOP`.
    Noop,
    /// `BR_TRANSACTION_COMPLETE`.
    TransactionComplete,
    /// `BR_TRANSACTION`.
    Transaction(TxnData),
    /// `BR_REPLY`.
    Reply(TxnData),
    /// `BR_INCREFS` (ptr, cookie): answer `BC_INCREFS_DONE`.
    IncRefs(u64, u64),
    /// `BR_ACQUIRE` (ptr, cookie): answer `BC_ACQUIRE_DONE`.
    Acquire(u64, u64),
    /// `BR_RELEASE` or `BR_DECREFS`: nothing to answer.
    Release,
    /// `BR_SPAWN_LOOPER`.
    SpawnLooper,
    /// `BR_DEAD_REPLY`: the target died.
    DeadReply,
    /// `BR_FAILED_REPLY`: the transaction failed.
    FailedReply,
    /// `BR_ERROR(e)`.
    Error(i32),
    /// Any other return, by code.
    Other(u32),
}

/// Splits the bytes one `BINDER_WRITE_READ` read into returns.
pub struct Returns<'a> {
    rest: &'a [u8],
}

/// The returns in `buf`.
pub fn returns(buf: &[u8]) -> Returns<'_> {
    Returns { rest: buf }
}

impl Iterator for Returns<'_> {
    type Item = Result<Ret, BenchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let Some((code, rest)) = self.rest.split_first_chunk::<4>() else {
            self.rest = &[];
            return Some(Err(BenchError::Helper(
                "the binder driver returned a truncated code".into(),
            )));
        };
        let code = u32::from_ne_bytes(*code);
        let size = ioc_size(code);
        if rest.len() < size {
            self.rest = &[];
            return Some(Err(BenchError::Helper(format!(
                "the binder driver returned {code:#x} with {} of its {size} bytes",
                rest.len()
            ))));
        }
        let (body, rest) = rest.split_at(size);
        self.rest = rest;
        let ptr_cookie = || {
            (
                u64::from_ne_bytes(body[..8].try_into().expect("8 bytes")),
                u64::from_ne_bytes(body[8..16].try_into().expect("8 bytes")),
            )
        };
        let txn = || TxnData::decode(body.try_into().expect("64 bytes"));
        Some(Ok(match code {
            BR_NOOP => Ret::Noop,
            BR_TRANSACTION_COMPLETE => Ret::TransactionComplete,
            BR_TRANSACTION => Ret::Transaction(txn()),
            BR_REPLY => Ret::Reply(txn()),
            BR_INCREFS => {
                let (p, c) = ptr_cookie();
                Ret::IncRefs(p, c)
            }
            BR_ACQUIRE => {
                let (p, c) = ptr_cookie();
                Ret::Acquire(p, c)
            }
            BR_RELEASE | BR_DECREFS => Ret::Release,
            BR_SPAWN_LOOPER => Ret::SpawnLooper,
            BR_DEAD_REPLY => Ret::DeadReply,
            BR_FAILED_REPLY => Ret::FailedReply,
            BR_ERROR => Ret::Error(i32::from_ne_bytes(body.try_into().expect("4 bytes"))),
            other => Ret::Other(other),
        }))
    }
}

/// The mapping each side makes: the payload and room to spare, within
/// the driver's 4 MiB.
fn map_len(max_msg: usize) -> usize {
    (max_msg + (64 << 10)).next_multiple_of(4096).min(MAX_MAP)
}

/// The largest payload a round trip can carry: a sync transaction's buffer
/// must fit the receiver's mapping, less what the driver keeps for itself.
pub const MAX_PAYLOAD: usize = MAX_MAP - (64 << 10);

/// A kernel binder server process (the context manager) and the client's
/// open device.
pub struct KbRig {
    dev: KernelBinder,
    /// The previous reply's buffer, freed with the next call.
    pending_free: Option<u64>,
    cmds: Vec<u8>,
    read: [u8; 256],
    server: Helper,
    device: PathBuf,
}

impl KbRig {
    /// Opens the device here (its error, if any, says why kernel binder
    /// cannot run), then starts the server on CPU `far`, which becomes the
    /// device's context manager.
    pub fn start(
        device: &Path,
        max_msg: usize,
        far: usize,
        home: usize,
    ) -> Result<KbRig, BenchError> {
        if max_msg > MAX_PAYLOAD {
            return Err(BenchError::Usage(format!(
                "a {max_msg}-byte payload does not fit the driver's 4 MiB mapping"
            )));
        }
        // Fail here, with the device's own error, before spawning anything.
        let dev = KernelBinder::open(device, map_len(max_msg)).map_err(|source| {
            let hint = if source.kind() == std::io::ErrorKind::NotFound {
                " (this kernel has no binder driver, CONFIG_ANDROID_BINDER_IPC; tests/bench/vm/run-in-vm.sh runs the benchmark in a VM whose kernel has one)"
            } else {
                ""
            };
            BenchError::Io {
                what: format!("opening {}{hint}", device.display()),
                source,
            }
        })?;
        let mut cmd = self_command("kbinder-serve")?;
        cmd.arg("--device")
            .arg(device)
            .arg("--max")
            .arg(max_msg.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let mut server = Helper::new("kernel binder server", spawn_on(far, home, &mut cmd)?);
        server.wait_line("ready")?;
        Ok(KbRig {
            dev,
            pending_free: None,
            cmds: Vec::with_capacity(128),
            read: [0; 256],
            server,
            device: device.to_path_buf(),
        })
    }

    /// The device and the server's pid and CPUs, for the progress log.
    pub fn describe(&self) -> String {
        format!(
            "{}: {} pid {} cpus {:?}",
            self.device.display(),
            self.server.name,
            self.server.pid(),
            self.server.cpus()
        )
    }
}

impl Rig for KbRig {
    fn helpers(&self) -> Vec<(String, u32)> {
        vec![self.server.role()]
    }

    fn call(&mut self, req: &[u8], resp: &mut [u8]) -> Result<usize, BenchError> {
        self.cmds.clear();
        if let Some(b) = self.pending_free.take() {
            put_free(&mut self.cmds, b);
        }
        let txn = TxnData {
            target: 0,
            code: 1,
            data_size: req.len() as u64,
            buffer: req.as_ptr() as u64,
            ..TxnData::default()
        };
        put_txn(&mut self.cmds, BC_TRANSACTION, &txn);
        let io = |e| BenchError::Io {
            what: "kernel binder: BINDER_WRITE_READ".into(),
            source: e,
        };
        // `req` is borrowed for this whole call, so the address in the
        // command stays valid while the driver copies from it.
        let mut write = &self.cmds[..];
        loop {
            let (w, n) = self.dev.write_read(write, &mut self.read).map_err(io)?;
            write = &write[w..];
            for r in returns(&self.read[..n]) {
                match r? {
                    Ret::Noop | Ret::TransactionComplete => {}
                    Ret::Reply(t) => {
                        // Ours to free whatever happens next.
                        self.pending_free = Some(t.buffer);
                        let len = usize::try_from(t.data_size).unwrap_or(usize::MAX);
                        if len > resp.len() {
                            return Err(BenchError::Helper(format!(
                                "a {len}-byte kernel binder reply does not fit {} bytes",
                                resp.len()
                            )));
                        }
                        self.dev.read_at(t.buffer, &mut resp[..len]).map_err(io)?;
                        return Ok(len);
                    }
                    Ret::DeadReply => {
                        return Err(BenchError::Helper(
                            "kernel binder: the server died (BR_DEAD_REPLY)".into(),
                        ))
                    }
                    other => {
                        return Err(BenchError::Helper(format!(
                            "kernel binder: the call ended with {other:?} instead of a reply"
                        )))
                    }
                }
            }
        }
    }
}

/// `TF_ONE_WAY`: a call that gets no reply.
const TF_ONE_WAY: u32 = 0x01;

/// How long the server retries `BINDER_SET_CONTEXT_MGR` while the
/// previous server's release is still pending in the driver.
const CONTEXT_MGR_WAIT: Duration = Duration::from_secs(5);

/// Becomes the context manager; `EBUSY` is retried until
/// [`CONTEXT_MGR_WAIT`]: the driver clears the previous owner (the
/// server of the case before) in deferred work after its fd closes.
fn claim_context_mgr(dev: &KernelBinder, device: &Path) -> Result<(), BenchError> {
    let deadline = Instant::now() + CONTEXT_MGR_WAIT;
    loop {
        let e = match dev.set_context_mgr() {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let why = match e.raw_os_error() {
            Some(libc::EBUSY) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            Some(libc::EBUSY) => {
                ": another process is its context manager (on Android, servicemanager); name a device of your own (a new binderfs device) with --kbinder"
            }
            Some(libc::EPERM) => {
                ": the driver keeps the uid of the first process that managed this device until reboot, and that was another uid; run as it, or name a device of your own with --kbinder"
            }
            _ => "",
        };
        return Err(BenchError::Helper(format!(
            "kernel binder server: BINDER_SET_CONTEXT_MGR on {}: {e}{why}",
            device.display()
        )));
    }
}

/// The hidden `kbinder-serve` role: becomes the context manager of
/// `device`, enters the looper, prints `ready`, then echoes every call in
/// place until killed.
pub fn serve_role(device: &Path, max_msg: usize) -> Result<(), BenchError> {
    let io = |what: &str| {
        let what = format!("kernel binder server: {what} ({})", device.display());
        move |source| BenchError::Io { what, source }
    };
    let dev = KernelBinder::open(device, map_len(max_msg)).map_err(io("open"))?;
    dev.set_max_threads(0)
        .map_err(io("BINDER_SET_MAX_THREADS"))?;
    claim_context_mgr(&dev, device)?;
    let mut cmds = Vec::with_capacity(256);
    put(&mut cmds, BC_ENTER_LOOPER, &[]);
    dev.write_read(&cmds, &mut [])
        .map_err(io("BC_ENTER_LOOPER"))?;
    cmds.clear();
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ready");
        let _ = out.flush();
    }
    let mut read = [0u8; 256];
    loop {
        let (w, n) = dev
            .write_read(&cmds, &mut read)
            .map_err(io("BINDER_WRITE_READ"))?;
        // What the driver did not take (it stops after a failed command)
        // goes again, ahead of the answers to these returns.
        cmds.drain(..w);
        for r in returns(&read[..n]) {
            match r? {
                Ret::Transaction(t) if t.flags & TF_ONE_WAY != 0 => put_free(&mut cmds, t.buffer),
                Ret::Transaction(t) => {
                    let len = usize::try_from(t.data_size).unwrap_or(usize::MAX);
                    if !dev.maps(t.buffer, len) {
                        return Err(BenchError::Helper(format!(
                            "kernel binder server: a {len}-byte transaction outside the mapping"
                        )));
                    }
                    // The reply's data is the received buffer itself; the
                    // driver copies it before the free that follows.
                    let reply = TxnData {
                        data_size: t.data_size,
                        buffer: t.buffer,
                        ..TxnData::default()
                    };
                    put_txn(&mut cmds, BC_REPLY, &reply);
                    put_free(&mut cmds, t.buffer);
                }
                Ret::IncRefs(p, c) => put_ptr_cookie(&mut cmds, BC_INCREFS_DONE, p, c),
                Ret::Acquire(p, c) => put_ptr_cookie(&mut cmds, BC_ACQUIRE_DONE, p, c),
                Ret::Noop | Ret::TransactionComplete | Ret::Release | Ret::SpawnLooper => {}
                // Our reply found its caller gone.
                Ret::FailedReply | Ret::DeadReply => {}
                other => eprintln!("kernel binder server: unexpected {other:?}"),
            }
        }
    }
}

fn put_ptr_cookie(out: &mut Vec<u8>, code: u32, ptr: u64, cookie: u64) {
    let mut b = [0u8; PTR_COOKIE];
    b[..8].copy_from_slice(&ptr.to_ne_bytes());
    b[8..].copy_from_slice(&cookie.to_ne_bytes());
    put(out, code, &b);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes as `linux/android/binder.h` computes them on x86-64.
    #[test]
    fn codes_match_the_uapi_header() {
        assert_eq!(BC_TRANSACTION, 0x4040_6300);
        assert_eq!(BC_REPLY, 0x4040_6301);
        assert_eq!(BC_FREE_BUFFER, 0x4008_6303);
        assert_eq!(BC_INCREFS_DONE, 0x4010_6308);
        assert_eq!(BC_ACQUIRE_DONE, 0x4010_6309);
        assert_eq!(BC_ENTER_LOOPER, 0x630c);
        assert_eq!(BR_ERROR, 0x8004_7200);
        assert_eq!(BR_TRANSACTION, 0x8040_7202);
        assert_eq!(BR_REPLY, 0x8040_7203);
        assert_eq!(BR_DEAD_REPLY, 0x7205);
        assert_eq!(BR_TRANSACTION_COMPLETE, 0x7206);
        assert_eq!(BR_INCREFS, 0x8010_7207);
        assert_eq!(BR_NOOP, 0x720c);
        assert_eq!(BR_FAILED_REPLY, 0x7211);
    }

    #[test]
    fn a_transaction_round_trips_through_its_encoding() {
        let t = TxnData {
            target: 7,
            cookie: 9,
            code: 1,
            flags: 0x10,
            data_size: 32,
            offsets_size: 0,
            buffer: 0x7f00_1234_5000,
            offsets: 0,
        };
        let mut out = Vec::new();
        put_txn(&mut out, BR_REPLY, &t);
        assert_eq!(out.len(), 4 + TXN_DATA);
        let got: Vec<Ret> = returns(&out).collect::<Result<_, _>>().unwrap();
        assert_eq!(got, [Ret::Reply(t)]);
    }

    #[test]
    fn returns_are_split_by_their_encoded_sizes() {
        let mut out = Vec::new();
        put(&mut out, BR_NOOP, &[]);
        put_ptr_cookie(&mut out, BR_INCREFS, 0x10, 0x20);
        put(&mut out, BR_ERROR, &(-22i32).to_ne_bytes());
        put(&mut out, BR_TRANSACTION_COMPLETE, &[]);
        // An unknown return with a 4-byte payload is skipped over whole.
        put(&mut out, cmd(opcode::read::<u32>(b'r', 99)), &[1, 2, 3, 4]);
        put(&mut out, BR_DEAD_REPLY, &[]);
        let got: Vec<Ret> = returns(&out).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            got,
            [
                Ret::Noop,
                Ret::IncRefs(0x10, 0x20),
                Ret::Error(-22),
                Ret::TransactionComplete,
                Ret::Other(cmd(opcode::read::<u32>(b'r', 99))),
                Ret::DeadReply
            ]
        );
        // A return cut short is an error, not a panic.
        let cut = &out[..out.len() - 6];
        let last = returns(cut).last().unwrap();
        assert!(last.is_err());
    }

    #[test]
    fn the_skip_reason_says_how_to_measure() {
        let r = unnamed_reason();
        assert!(r.contains("--kbinder"), "{r}");
    }

    #[test]
    fn oversized_payloads_are_refused_before_anything_starts() {
        match KbRig::start(Path::new(DEFAULT_DEVICE), MAX_PAYLOAD + 1, 0, 0) {
            Err(BenchError::Usage(m)) => assert!(m.contains("4 MiB"), "{m}"),
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("a payload over the mapping was accepted"),
        }
    }
}
