//! Test harness: a real `capbinderd` on a short temporary socket path, and
//! real helper processes. Every wait is on a line of output with a timeout.
#![allow(dead_code)]

pub mod peer;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long any wait in these tests may take before it is a failure.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A child process whose stdout lines arrive on a channel.
pub struct Proc {
    pub child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn helper process");
        let out = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc { child, lines: rx }
    }

    /// Waits for a line containing `want`; panics after [`TIMEOUT`].
    pub fn expect_line(&self, want: &str) -> String {
        loop {
            match self.lines.recv_timeout(TIMEOUT) {
                Ok(l) if l.contains(want) => return l,
                Ok(_) => {}
                Err(e) => panic!("waiting for a line with {want:?}: {e}"),
            }
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `capbinderd` on its own temporary socket.
pub struct Daemon {
    pub proc: Proc,
    pub socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_with("")
    }

    pub fn start_with(config: &str) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("cb")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let socket = dir.path().join("c.sock");
        let conf = dir.path().join("c.toml");
        std::fs::write(&conf, config).expect("write config");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_capbinderd"));
        cmd.arg("--socket").arg(&socket).arg("--config").arg(&conf);
        cmd.env("CAPBINDER_LOG", "warn");
        let proc = Proc::spawn(cmd);
        proc.expect_line("listening on");
        Daemon {
            proc,
            socket,
            _dir: dir,
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The test peer serving handle 0, ready.
    pub fn server(&self) -> Proc {
        spawn_server(&self.socket)
    }
}

pub fn spawn_server(socket: &Path) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_capbinder-shim-testpeer"));
    cmd.arg("server").arg(socket);
    let p = Proc::spawn(cmd);
    p.expect_line("ready");
    p
}
