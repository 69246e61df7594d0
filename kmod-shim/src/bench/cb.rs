//! capbinder through a real `capbinderd`, with the device API only (no
//! runtime): the orchestrator is the client, a re-executed
//! `capbinder-rawbench serve` is the server holding handle 0.
//!
//! One round trip, as the client and server here write it (what libbinder
//! does, with the free of the previous reply riding on the next call):
//!
//! - client: payload into its send area; `Write[FreeBuffer(previous reply),
//!   Transaction(handle 0)]`; reads `TransactionComplete`, then `Reply`,
//!   whose payload it copies out of its receive buffer;
//! - server: reads `Transaction`, copies the payload out of its receive
//!   buffer into a buffer of its own and from there into its send area;
//!   `Write[FreeBuffer, Reply, WaitForWork]`; reads `TransactionComplete`.
//!
//! Copies of the payload per direction: sender into its send area (1), the
//! mediator's copy (as the mediator does it today), receiver out of its
//! receive buffer (1).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use capbinder_core::{Command, DataRange, Failure, Handle, Return, TxnFlags, TxnOut};

use super::procs::{self_command, spawn_on, tied_command, Helper};
use super::{BenchError, Rig};
use crate::device::{Device, DeviceError, ThreadChannel};

/// Which event loop the mediator is asked for. Both are measured, each
/// by name, so that the default (`auto`, which is epoll) can be checked
/// against the other in the same run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loop {
    /// `CAPBINDER_LOOP=io_uring`.
    Uring,
    /// `--epoll`.
    Epoll,
}

impl Loop {
    /// Its label in mechanism names.
    pub fn label(self) -> &'static str {
        match self {
            Loop::Uring => "uring",
            Loop::Epoll => "epoll",
        }
    }

    /// The loop `capbinderd` runs when nobody asks for one (`auto`).
    pub const DEFAULT: Loop = Loop::Epoll;
}

/// The mediator configuration: receive buffers and send areas that hold a
/// `max_msg`-byte payload with room to spare, every payload inline.
pub fn config_toml(max_msg: usize) -> String {
    let page = 4096;
    let round = |n: usize| n.div_ceil(page) * page;
    let send_area = round(max_msg + (64 << 10)).max(256 << 10);
    let recv_buffer = round(2 * max_msg + (64 << 10)).max(1 << 20);
    format!(
        "# written by capbinder-rawbench\n[limits]\nrecv_buffer = {recv_buffer}\nsend_area = {send_area}\nblob_threshold = {recv_buffer}\n"
    )
}

/// `log` without ANSI escape sequences (`ESC [ ... letter`).
fn strip_ansi(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Which loop the mediator says it runs: its ready line's `(io_uring)` or
/// `(epoll)` if there is one, else a mention in its log, else "not
/// logged". The socket path (which both name) is left out.
fn loop_seen(ready: &str, log: &str, socket: &Path) -> &'static str {
    let ready = ready.replace(&*socket.to_string_lossy(), "");
    if ready.contains("(io_uring)") {
        return "io_uring";
    }
    if ready.contains("(epoll)") {
        return "epoll";
    }
    let l = log
        .replace(&*socket.to_string_lossy(), "")
        .to_ascii_lowercase();
    if l.contains("uring") {
        "io_uring"
    } else if l.contains("epoll") {
        "epoll"
    } else {
        "not logged"
    }
}

/// A mediator, a server process and the client's device and channel.
pub struct CbRig {
    // Field order is drop order: the client's channel and device close
    // first, then the server (which then sees the mediator go), then the
    // mediator.
    tc: ThreadChannel,
    dev: Device,
    /// The previous reply's buffer, freed with the next call.
    pending_free: Option<u64>,
    server: Helper,
    mediator: Helper,
    /// What the mediator's log says about its loop.
    pub loop_seen: &'static str,
    log: PathBuf,
}

impl CbRig {
    /// Starts `capbinderd` (socket and config in `dir`) and the server on
    /// CPU `far`, then connects from here.
    pub fn start(
        capbinderd: &Path,
        dir: &Path,
        which: Loop,
        max_msg: usize,
        far: usize,
        home: usize,
    ) -> Result<CbRig, BenchError> {
        let tag = which.label();
        // Numbered, so that no path the mediator logs names a loop.
        let n = match which {
            Loop::Uring => 1,
            Loop::Epoll => 2,
        };
        let socket = dir.join(format!("m{n}.sock"));
        let conf = dir.join(format!("m{n}.toml"));
        let log = dir.join(format!("m{n}.log"));
        std::fs::write(&conf, config_toml(max_msg)).map_err(|source| BenchError::Io {
            what: format!("writing {}", conf.display()),
            source,
        })?;
        let log_file = std::fs::File::create(&log).map_err(|source| BenchError::Io {
            what: format!("creating {}", log.display()),
            source,
        })?;
        let mut cmd = tied_command(capbinderd)?;
        cmd.arg("--socket").arg(&socket).arg("--config").arg(&conf);
        match which {
            Loop::Uring => cmd.env("CAPBINDER_LOOP", "io_uring"),
            Loop::Epoll => cmd.arg("--epoll").env("CAPBINDER_LOOP", "epoll"),
        };
        cmd.env("CAPBINDER_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        let mut mediator = Helper::new(
            format!("capbinderd ({tag})"),
            spawn_on(far, home, &mut cmd)?,
        );
        let read_log = || strip_ansi(&std::fs::read_to_string(&log).unwrap_or_default());
        let ready = match mediator.wait_line("listening on") {
            Ok(line) => line,
            Err(e) => return Err(BenchError::Helper(format!("{e}; its log:\n{}", read_log()))),
        };
        let loop_seen = loop_seen(&ready, &read_log(), &socket);

        let mut cmd = self_command("serve")?;
        cmd.arg("--socket")
            .arg(&socket)
            .arg("--max")
            .arg(max_msg.to_string());
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        let mut server = Helper::new(format!("server ({tag})"), spawn_on(far, home, &mut cmd)?);
        server.wait_line("ready")?;

        let dev = Device::open(Some(&socket))?;
        let tc = dev.register_thread()?;
        if tc.send_area_len() < max_msg {
            return Err(BenchError::Helper(format!(
                "the mediator gave a {}-byte send area, below the {max_msg}-byte payload",
                tc.send_area_len()
            )));
        }
        Ok(CbRig {
            tc,
            dev,
            pending_free: None,
            server,
            mediator,
            loop_seen,
            log,
        })
    }

    /// The helpers' pids and CPUs, for the progress log.
    pub fn describe(&self) -> String {
        format!(
            "{} pid {} cpus {:?} (loop in its log: {}), {} pid {} cpus {:?}",
            self.mediator.name,
            self.mediator.pid(),
            self.mediator.cpus(),
            self.loop_seen,
            self.server.name,
            self.server.pid(),
            self.server.cpus()
        )
    }

    /// The mediator's log so far.
    pub fn log(&self) -> String {
        strip_ansi(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }
}

/// A reference notice's answer, if it needs one (`None` for everything
/// that is not a reference notice).
fn notice_answer(ret: &Return) -> Option<Option<Command>> {
    match *ret {
        Return::IncRefs { ptr, cookie } => Some(Some(Command::IncRefsDone { ptr, cookie })),
        Return::Acquire { ptr, cookie } => Some(Some(Command::AcquireDone { ptr, cookie })),
        Return::Release { .. }
        | Return::DecRefs { .. }
        | Return::SpawnLooper
        | Return::OnewaySpamSuspect => Some(None),
        _ => None,
    }
}

fn txn_out(code: u32, len: usize) -> TxnOut {
    TxnOut {
        code,
        flags: TxnFlags(0),
        data: DataRange {
            offset: 0,
            len: len as u64,
        },
        objects: Vec::new(),
        splices: Vec::new(),
        work_source: None,
    }
}

impl Rig for CbRig {
    fn helpers(&self) -> Vec<(String, u32)> {
        vec![self.server.role(), self.mediator.role()]
    }

    fn call(&mut self, req: &[u8], resp: &mut [u8]) -> Result<usize, BenchError> {
        self.tc.write_send_area(0, req)?;
        let call = Command::Transaction {
            handle: Handle::CONTEXT_MANAGER,
            txn: txn_out(1, req.len()),
        };
        match self.pending_free.take() {
            Some(offset) => self
                .tc
                .write(&[Command::FreeBuffer { offset }, call], &[])?,
            None => self.tc.write(&[call], &[])?,
        }
        loop {
            let (ret, _fds) = self.tc.read()?;
            match ret {
                Return::TransactionComplete => {}
                Return::Reply(t) => {
                    let len = usize::try_from(t.buffer.len).unwrap_or(usize::MAX);
                    if len > resp.len() {
                        return Err(BenchError::Helper(format!(
                            "a {len}-byte reply does not fit {} bytes",
                            resp.len()
                        )));
                    }
                    self.dev.read_buffer_into(t.buffer, &mut resp[..len])?;
                    self.pending_free = Some(t.buffer.offset);
                    return Ok(len);
                }
                r => match notice_answer(&r) {
                    Some(Some(cmd)) => self.tc.write(&[cmd], &[])?,
                    Some(None) => {}
                    None => {
                        return Err(BenchError::Helper(format!(
                            "the call ended with {r:?} instead of a reply"
                        )))
                    }
                },
            }
        }
    }
}

/// The hidden `serve` role: claims handle 0, enters the looper, prints
/// `ready`, then echoes every call's payload until the mediator goes.
pub fn serve_role(socket: &Path, max_msg: usize) -> Result<(), BenchError> {
    let dev = Device::open(Some(socket))?;
    let mut tc = dev.register_thread()?;
    tc.write(
        &[
            Command::SetContextManager {
                ptr: 1,
                cookie: 1,
                flags: capbinder_core::NodeFlags::default(),
            },
            Command::EnterLooper,
            Command::DumpState,
        ],
        &[],
    )?;
    // The dump comes back after the commands before it took effect.
    loop {
        match tc.read()?.0 {
            Return::State(_) => break,
            Return::Error(e) => {
                return Err(BenchError::Helper(format!(
                    "serve: claiming handle 0 failed: {e}"
                )))
            }
            r => {
                if let Some(Some(cmd)) = notice_answer(&r) {
                    tc.write(&[cmd], &[])?;
                }
            }
        }
    }
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ready");
        let _ = out.flush();
    }
    let mut buf = vec![0u8; max_msg];
    tc.write(&[Command::WaitForWork], &[])?;
    loop {
        let ret = match tc.read() {
            Ok((ret, _fds)) => ret,
            Err(DeviceError::Closed) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        match ret {
            Return::Transaction(t) => {
                let len = usize::try_from(t.buffer.len)
                    .unwrap_or(usize::MAX)
                    .min(max_msg);
                let range = DataRange {
                    offset: t.buffer.offset,
                    len: len as u64,
                };
                dev.read_buffer_into(range, &mut buf[..len])?;
                tc.write_send_area(0, &buf[..len])?;
                tc.write(
                    &[
                        Command::FreeBuffer {
                            offset: t.buffer.offset,
                        },
                        Command::Reply(txn_out(0, len)),
                        Command::WaitForWork,
                    ],
                    &[],
                )?;
            }
            Return::TransactionComplete => {}
            // A notice handed straight to this idle thread leaves it
            // idle; one taken from the process queue does not.
            Return::Error(Failure::Looper(_)) => {}
            Return::Error(e) => eprintln!("capbinder-rawbench serve: error: {e}"),
            r => match notice_answer(&r) {
                Some(Some(cmd)) => tc.write(&[cmd, Command::WaitForWork], &[])?,
                Some(None) if matches!(r, Return::Release { .. } | Return::DecRefs { .. }) => {
                    tc.write(&[Command::WaitForWork], &[])?
                }
                Some(None) => {}
                None => eprintln!("capbinder-rawbench serve: unexpected {r:?}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_is_read_from_the_log_not_the_path() {
        let sock = Path::new("/tmp/x/epoll.sock");
        let log = "\u{1b}[2mINFO\u{1b}[0m mediator bound socket=/tmp/x/epoll.sock migrate=true";
        assert_eq!(
            strip_ansi(log),
            "INFO mediator bound socket=/tmp/x/epoll.sock migrate=true"
        );
        let ready = "capbinderd: listening on /tmp/x/epoll.sock";
        assert_eq!(loop_seen(ready, &strip_ansi(log), sock), "not logged");
        assert_eq!(loop_seen(ready, "event loop: io_uring", sock), "io_uring");
        assert_eq!(loop_seen(ready, "using the epoll loop", sock), "epoll");
        let said = "capbinderd: listening on /tmp/x/epoll.sock (io_uring)";
        assert_eq!(loop_seen(said, "io_uring refused, epoll", sock), "io_uring");
        let said = "capbinderd: listening on /tmp/x/m.sock (epoll)";
        assert_eq!(loop_seen(said, "io_uring_setup failed", sock), "epoll");
    }
}
