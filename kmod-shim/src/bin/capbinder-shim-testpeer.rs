//! `capbinder-shim-testpeer`: a helper process for kmod-shim's integration
//! tests (not an example to copy; the runtime is what users link).
//!
//! `capbinder-shim-testpeer server SOCKET` claims handle 0, enters the
//! looper and prints `ready` on stdout; then it serves these codes:
//!
//! | code | does |
//! |---|---|
//! | 1 | replies `echo:` + the payload |
//! | 2 | reads the attached fd (object 0) and replies with its contents |
//! | 3 | prints `hang` and never replies |
//! | 4 | (oneway) records the payload |
//! | 5 | replies with the recorded payloads joined by `,` |
//! | 6 | calls object 0 (a handle) with code 7 `ping`, replies `cb:` + its answer |
//! | 8 | replies with a binder (ptr 2) that accepts fds |
//!
//! `capbinder-shim-testpeer client SOCKET` calls handle 0 with code 1 and
//! prints the reply.

#[path = "../../tests/common/peer.rs"]
mod peer;

use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::Path;

use capbinder_core::{Command, Handle, NodeFlags, Object, Return, TxnIn};
use peer::{Outcome, Peer};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(socket)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: capbinder-shim-testpeer server|client SOCKET");
        std::process::exit(2);
    };
    let socket = Path::new(socket);
    match mode.as_str() {
        "server" => server(socket),
        "client" => {
            let mut p = Peer::open(socket).expect("open");
            let out = p
                .call(
                    Handle(0),
                    1,
                    b"from-client",
                    vec![],
                    &[],
                    &mut |_, _, _| vec![],
                )
                .expect("call");
            println!("{}", String::from_utf8_lossy(&out.data()));
        }
        other => {
            eprintln!("unknown mode {other}");
            std::process::exit(2);
        }
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn server(socket: &Path) {
    let mut p = Peer::open(socket).expect("open the device");
    p.tc.write(
        &[
            Command::SetContextManager { ptr: 1, cookie: 1 },
            Command::EnterLooper,
            Command::DumpState,
        ],
        &[],
    )
    .expect("write");
    // The dump comes back after the commands before it took effect: only
    // then may clients call handle 0.
    match p.next_return().expect("read") {
        Return::State(_) => {}
        other => panic!("claiming handle 0 failed: {other:?}"),
    }
    let mut recorded: Vec<String> = Vec::new();
    say("ready");
    loop {
        if p.tc.write(&[Command::WaitForWork], &[]).is_err() {
            return; // the mediator went away
        }
        loop {
            let (ret, fds) = match p.tc.read() {
                Ok(r) => r,
                // The mediator went away: nothing left to serve.
                Err(capbinder_kmod_shim::device::DeviceError::Closed) => return,
                Err(e) => panic!("read: {e}"),
            };
            match ret {
                Return::Transaction(t) => {
                    serve(&mut p, &t, fds, &mut recorded);
                    break;
                }
                Return::TransactionComplete => {}
                // A notice handed to this thread directly (not from the
                // process queue) leaves it idle, so the WaitForWork sent
                // after it can meet a call delivered meanwhile; the core
                // refuses that one harmlessly (see the transport report).
                Return::Error(capbinder_core::Failure::Looper(_)) => {}
                Return::Error(e) => {
                    eprintln!("testpeer: error: {e}");
                }
                r if p.answer_notice(&r) => {
                    if !matches!(r, Return::SpawnLooper | Return::OnewaySpamSuspect) {
                        break; // that was process work: ask for more
                    }
                }
                r @ (Return::DeadBinder { .. } | Return::ClearDeathDone { .. }) => {
                    eprintln!("testpeer: notice {r:?}");
                    break;
                }
                other => eprintln!("testpeer: unexpected {other:?}"),
            }
        }
    }
}

fn serve(p: &mut Peer, t: &TxnIn, fds: Vec<OwnedFd>, recorded: &mut Vec<String>) {
    let data = p.dev.read_buffer(t.buffer).expect("read buffer");
    match t.code {
        1 => {
            let mut out = b"echo:".to_vec();
            out.extend_from_slice(&data);
            p.reply(t, &out, vec![]).expect("reply");
        }
        2 => {
            let mut buf = [0u8; 256];
            let n = fds
                .first()
                .map(|fd| rustix::io::pread(fd, &mut buf, 0).unwrap_or(0))
                .unwrap_or(0);
            p.reply(t, &buf[..n], vec![]).expect("reply");
        }
        3 => {
            say("hang");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
        4 => {
            recorded.push(String::from_utf8_lossy(&data).into_owned());
            p.tc.write(
                &[Command::FreeBuffer {
                    offset: t.buffer.offset,
                }],
                &[],
            )
            .expect("free");
        }
        5 => {
            let out = recorded.join(",");
            p.reply(t, out.as_bytes(), vec![]).expect("reply");
        }
        6 => {
            let Some(Object::Handle { handle, .. }) = t.objects.first().cloned() else {
                p.reply(t, b"no handle", vec![]).expect("reply");
                return;
            };
            let out = match p
                .call(handle, 7, b"ping", vec![], &[], &mut |_, _, _| vec![])
                .expect("nested call")
            {
                Outcome::Reply { data, .. } => data,
                Outcome::Failed(r) => format!("{r:?}").into_bytes(),
            };
            let mut reply = b"cb:".to_vec();
            reply.extend_from_slice(&out);
            p.reply(t, &reply, vec![]).expect("reply");
        }
        8 => {
            let obj = Object::Binder {
                ptr: 2,
                cookie: 2,
                strong: true,
                flags: NodeFlags {
                    accepts_fds: true,
                    min_priority: None,
                },
            };
            p.reply(t, b"fd-service", vec![obj]).expect("reply");
        }
        other => {
            p.reply(t, format!("unknown code {other}").as_bytes(), vec![])
                .expect("reply");
        }
    }
}
