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
//! | 9 | replies with a binder (ptr 4) that does not accept fds |
//! | 10 | keeps object 0 (a handle: a service registering), replies `registered` |
//! | 11 | calls the registered service with code 12, the payload and its own objects, replies `b:` + its answer (payload `sched…`: appends ` b-during=` + its scheduling, and records it again after the reply) |
//! | 12 | (a service) replies `c:` + the payload, and if object 0 is a handle, first calls it with code 7 `ping` and appends `+` + its answer (payload `sched…`: appends ` c-during=` + its scheduling and records it after the reply; payload `after…`: appends ` c-after=` + that record) |
//! | 13 | maps the blob (object 0) `MAP_PRIVATE`/`PROT_READ`, checks it against `peer::pattern`, replies `blob ok LEN` or where it differs |
//! | 14 | spins for the payload's decimal microseconds, then replies `slow` |
//! | 16 | prints `holding`, waits for a line on stdin, replies `held`, then prints `reply-complete` or `reply-failed: …` |
//! | 17 | replies with its own scheduling (`sched_getattr`) and the caller's as the mediator reported it; after the reply completes, records its scheduling again |
//! | 18 | replies with the scheduling recorded after the last code 17 |
//! | 19 | replies with the caller's identity: `pid=… uid=… euid=…` |
//!
//! Other modes (each opens its own connection to SOCKET):
//!
//! - `client SOCKET`: calls handle 0 with code 1 and prints the reply;
//! - `service SOCKET`: registers a binder (ptr 3) with handle 0 (code 10),
//!   prints `ready`, then serves like `server`;
//! - `oneway SOCKET NAME COUNT`: sends COUNT oneway calls (code 4,
//!   `NAME-i`) to handle 0, prints `done`, then waits to be killed;
//! - `call SOCKET CODE`: prints `calling`, calls handle 0 with CODE and
//!   prints `call ended: …` or `call failed: …`, then exits;
//! - `freeze SOCKET PID`: asks to freeze PID and prints the answer;
//! - `whoami SOCKET`: sets its real uid to 65534 keeping effective uid 0
//!   (as root), then calls code 19 and prints the reply;
//! - `prepare SOCKET`: becomes uid 65534 for good (as root), asks the
//!   mediator to prepare an app connection and prints `prepare refused:
//!   REASON` or `prepare allowed`;
//! - `fork SOCKET`: connects, forks, and has the child try its parent's
//!   thread channel (prints `child: refused (…)`, `child: wrote` or
//!   `child: failed (…)`), then asks the mediator for its state itself
//!   and prints `parent: served` if it still answers.

#[path = "../../tests/common/peer.rs"]
mod peer;

use std::io::{BufRead, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use capbinder_core::{Command, Handle, NodeFlags, Object, Return, Rights, TxnIn};
use capbinder_kmod_shim::sys::memfd::Mapping;
use capbinder_kmod_shim::sys::sched;
use peer::{pattern, Outcome, Peer};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(socket)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: capbinder-shim-testpeer MODE SOCKET [ARGS]");
        std::process::exit(2);
    };
    let socket = Path::new(socket);
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    match mode.as_str() {
        "fork" => fork_then_use(socket),
        "server" => server(socket),
        "service" => service(socket),
        "client" => {
            let mut p = Peer::open(socket).expect("open");
            let out = p
                .call(Handle(0), 1, b"from-client", vec![], &[], &mut no_nested)
                .expect("call");
            say(&String::from_utf8_lossy(&out.data()));
        }
        "oneway" => {
            let name = arg(3);
            let count: usize = arg(4).parse().expect("COUNT");
            let mut p = Peer::open(socket).expect("open");
            for i in 0..count {
                if let Err(r) = p.oneway(Handle(0), 4, format!("{name}-{i}").as_bytes()) {
                    say(&format!("oneway {i} failed: {r:?}"));
                    std::process::exit(1);
                }
            }
            say("done");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
        "call" => {
            let code: u32 = arg(3).parse().expect("CODE");
            let mut p = Peer::open(socket).expect("open");
            say("calling");
            match p.call(Handle(0), code, b"", vec![], &[], &mut no_nested) {
                Ok(Outcome::Reply { data, .. }) => say(&format!(
                    "call ended: reply {}",
                    String::from_utf8_lossy(&data)
                )),
                Ok(Outcome::Failed(r)) => say(&format!("call ended: {r:?}")),
                Err(e) => say(&format!("call failed: {e}")),
            }
            // A second attempt must fail at once too, never hang.
            match p.call(Handle(0), 1, b"again", vec![], &[], &mut no_nested) {
                Ok(o) => say(&format!("second call: {o:?}")),
                Err(e) => say(&format!("second call failed: {e}")),
            }
        }
        "freeze" => {
            let pid: i32 = arg(3).parse().expect("PID");
            let mut p = Peer::open(socket).expect("open");
            let r = p
                .command(Command::Freeze {
                    pid,
                    enable: true,
                    hold: false,
                })
                .expect("freeze");
            say(&format!("freeze: {r:?}"));
            let out = p
                .call(Handle(0), 1, b"after-freeze", vec![], &[], &mut no_nested)
                .expect("call");
            say(&String::from_utf8_lossy(&out.data()));
        }
        "whoami" => {
            use rustix::process::Uid;
            // One thread only, so the thread's credentials are the process's.
            rustix::thread::set_thread_res_uid(Uid::from_raw(65534), Uid::ROOT, Uid::ROOT)
                .expect("setresuid(65534, 0, 0): run as root");
            let mut p = Peer::open(socket).expect("open");
            let out = p
                .call(Handle(0), 19, b"", vec![], &[], &mut no_nested)
                .expect("call");
            say(&String::from_utf8_lossy(&out.data()));
        }
        "prepare" => {
            use rustix::process::Uid;
            let nobody = Uid::from_raw(65534);
            rustix::thread::set_thread_res_uid(nobody, nobody, nobody)
                .expect("setresuid(65534, 65534, 65534): run as root");
            let dev = capbinder_kmod_shim::device::Device::open(Some(socket)).expect("open");
            match dev.prepare_app("t.forged", 65534, 65534) {
                Ok(_) => say("prepare allowed"),
                Err(e) => say(&format!("prepare refused: {e}")),
            }
        }
        other => {
            eprintln!("unknown mode {other}");
            std::process::exit(2);
        }
    }
}

fn no_nested(t: &TxnIn, _: &[u8], _: Vec<OwnedFd>) -> Vec<u8> {
    format!("unexpected nested call {}", t.code).into_bytes()
}

/// binder's `CannotUseBinderAfterFork`: a forked child's use of its
/// parent's thread channel is refused in the child, before anything
/// reaches the mediator (which would take a message from another pid on
/// the parent's channel as an impostor and disconnect the parent).
fn fork_then_use(socket: &Path) {
    let mut p = Peer::open(socket).expect("open");
    let code = capbinder_kmod_shim::sys::fork::fork_single_threaded(|| {
        match p.tc.write(&[Command::DumpState], &[]) {
            Err(e @ capbinder_kmod_shim::device::DeviceError::Forked { .. }) => {
                say(&format!("child: refused ({e})"));
                0
            }
            Ok(()) => {
                say("child: wrote");
                1
            }
            Err(e) => {
                say(&format!("child: failed ({e})"));
                2
            }
        }
    })
    .expect("fork");
    match p.command(Command::DumpState) {
        Ok(Return::State(_)) => say(&format!("parent: served (child exited {code})")),
        other => say(&format!("parent: not served: {other:?}")),
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
            // Real-time callers' priority migrates here (the transport
            // tests check it).
            Command::SetContextManager {
                ptr: 1,
                cookie: 1,
                flags: NodeFlags {
                    inherit_rt: true,
                    ..NodeFlags::default()
                },
            },
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
    say("ready");
    serve_loop(p);
}

fn service(socket: &Path) {
    let mut p = Peer::open(socket).expect("open the device");
    let me = Object::Binder {
        ptr: 3,
        cookie: 3,
        strong: true,
        flags: NodeFlags {
            inherit_rt: true,
            ..NodeFlags::default()
        },
    };
    let out = p
        .call(Handle(0), 10, b"", vec![me], &[], &mut no_nested)
        .expect("register");
    assert_eq!(out.data(), b"registered");
    p.tc.write(&[Command::EnterLooper], &[]).expect("enter");
    say("ready");
    serve_loop(p);
}

/// What a server remembers between calls.
#[derive(Default)]
struct State {
    recorded: Vec<String>,
    service: Option<Handle>,
    sched_after: String,
}

fn serve_loop(mut p: Peer) {
    let mut st = State::default();
    loop {
        if let Err(e) = p.tc.write(&[Command::WaitForWork], &[]) {
            say(&format!("mediator gone: {e}"));
            return;
        }
        loop {
            let (ret, fds) = match p.tc.read() {
                Ok(r) => r,
                Err(e) => {
                    // The mediator went away: nothing left to serve.
                    say(&format!("mediator gone: {e}"));
                    return;
                }
            };
            match ret {
                Return::Transaction(t) => {
                    serve(&mut p, &t, fds, &mut st);
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
                Return::DeadBinder { cookie } => {
                    eprintln!("testpeer: dead binder {cookie}");
                    let _ = p.tc.write(&[Command::DeadBinderDone { cookie }], &[]);
                    break;
                }
                r @ Return::ClearDeathDone { .. } => {
                    eprintln!("testpeer: notice {r:?}");
                    break;
                }
                other => eprintln!("testpeer: unexpected {other:?}"),
            }
        }
    }
}

fn my_sched() -> String {
    match sched::thread_sched(rustix::thread::gettid()) {
        Ok(s) => format!(
            "{:?}/rt={}/nice={}/reset_on_fork={}",
            s.policy, s.rt_priority, s.nice, s.reset_on_fork
        ),
        Err(e) => format!("unreadable: {e}"),
    }
}

/// Waits until the mediator has applied the reply just sent: a reply gets
/// no acknowledgement of its own, so a `DumpState` after it is the barrier
/// (an error before the state is the reply's).
fn reply_outcome(p: &mut Peer) -> Result<(), String> {
    p.tc.write(&[Command::DumpState], &[])
        .map_err(|e| e.to_string())?;
    loop {
        match p.tc.read() {
            Ok((Return::State(_), _)) => return Ok(()),
            Ok((r, _)) if p.answer_notice(&r) => {}
            Ok((other, _)) => return Err(format!("{other:?}")),
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn serve(p: &mut Peer, t: &TxnIn, fds: Vec<OwnedFd>, st: &mut State) {
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
            st.recorded
                .push(String::from_utf8_lossy(&data).into_owned());
            p.tc.write(
                &[Command::FreeBuffer {
                    offset: t.buffer.offset,
                }],
                &[],
            )
            .expect("free");
        }
        5 => {
            let out = st.recorded.join(",");
            p.reply(t, out.as_bytes(), vec![]).expect("reply");
        }
        6 => {
            let Some(Object::Handle { handle, .. }) = t.objects.first().cloned() else {
                p.reply(t, b"no handle", vec![]).expect("reply");
                return;
            };
            let out = match p
                .call(handle, 7, b"ping", vec![], &[], &mut no_nested)
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
                    inherit_rt: false,
                },
            };
            p.reply(t, b"fd-service", vec![obj]).expect("reply");
        }
        9 => {
            let obj = Object::Binder {
                ptr: 4,
                cookie: 4,
                strong: true,
                flags: NodeFlags::default(),
            };
            p.reply(t, b"no-fd-service", vec![obj]).expect("reply");
        }
        10 => {
            st.service = match t.objects.first() {
                Some(&Object::Handle { handle, .. }) => Some(handle),
                _ => None,
            };
            let out: &[u8] = if st.service.is_some() {
                b"registered"
            } else {
                b"no handle"
            };
            p.reply(t, out, vec![]).expect("reply");
        }
        11 => {
            let Some(service) = st.service else {
                p.reply(t, b"no service registered", vec![]).expect("reply");
                return;
            };
            let objects: Vec<Object> = t
                .objects
                .iter()
                .filter_map(|o| match *o {
                    Object::Handle { handle, .. } => Some(Object::Handle {
                        handle,
                        strong: true,
                        rights: Rights::ALL,
                    }),
                    _ => None,
                })
                .collect();
            let out = match p
                .call(service, 12, &data, objects, &[], &mut no_nested)
                .expect("call the service")
            {
                Outcome::Reply { data, .. } => data,
                Outcome::Failed(r) => format!("{r:?}").into_bytes(),
            };
            let mut reply = b"b:".to_vec();
            reply.extend_from_slice(&out);
            let sched = data.starts_with(b"sched");
            if sched {
                reply.extend_from_slice(format!(" b-during={}", my_sched()).as_bytes());
            }
            p.reply(t, &reply, vec![]).expect("reply");
            if sched {
                st.sched_after = match reply_outcome(p) {
                    Ok(()) => my_sched(),
                    Err(e) => format!("reply failed: {e}"),
                };
            }
        }
        12 => {
            let mut reply = b"c:".to_vec();
            reply.extend_from_slice(&data);
            if let Some(&Object::Handle { handle, .. }) = t.objects.first() {
                let out = match p
                    .call(handle, 7, b"ping", vec![], &[], &mut no_nested)
                    .expect("call back")
                {
                    Outcome::Reply { data, .. } => data,
                    Outcome::Failed(r) => format!("{r:?}").into_bytes(),
                };
                reply.push(b'+');
                reply.extend_from_slice(&out);
            }
            let sched = data.starts_with(b"sched");
            if sched {
                reply.extend_from_slice(format!(" c-during={}", my_sched()).as_bytes());
            } else if data.starts_with(b"after") {
                reply.extend_from_slice(format!(" c-after={}", st.sched_after).as_bytes());
            }
            p.reply(t, &reply, vec![]).expect("reply");
            if sched {
                st.sched_after = match reply_outcome(p) {
                    Ok(()) => my_sched(),
                    Err(e) => format!("reply failed: {e}"),
                };
            }
        }
        13 => {
            let answer = check_blob(t, &fds);
            p.reply(t, answer.as_bytes(), vec![]).expect("reply");
        }
        14 => {
            let us: u64 = String::from_utf8_lossy(&data).parse().unwrap_or(0);
            let until = std::time::Instant::now() + std::time::Duration::from_micros(us);
            while std::time::Instant::now() < until {
                std::hint::spin_loop();
            }
            p.reply(t, b"slow", vec![]).expect("reply");
        }
        16 => {
            say("holding");
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
            match p.reply(t, b"held", vec![]).map_err(|e| e.to_string()) {
                Ok(()) => match reply_outcome(p) {
                    Ok(()) => say("reply-complete"),
                    Err(e) => say(&format!("reply-failed: {e}")),
                },
                Err(e) => say(&format!("reply-failed: {e}")),
            }
        }
        17 => {
            let out = format!("during={} sender={:?}", my_sched(), t.sender.priority);
            p.reply(t, out.as_bytes(), vec![]).expect("reply");
            st.sched_after = match reply_outcome(p) {
                Ok(()) => my_sched(),
                Err(e) => format!("reply failed: {e}"),
            };
        }
        18 => {
            let out = format!("after={} now={}", st.sched_after, my_sched());
            p.reply(t, out.as_bytes(), vec![]).expect("reply");
        }
        20 => {
            // The serving thread changes its own priority (nice 5).
            let r =
                sched::set_thread_sched(rustix::thread::gettid(), &sched::ThreadSched::normal(5));
            let out = match r {
                Ok(()) => format!("set {}", my_sched()),
                Err(e) => format!("failed: {e}"),
            };
            p.reply(t, out.as_bytes(), vec![]).expect("reply");
        }
        21 => {
            // A sensitive call (TF_CLEAR_BUF) frees its buffer, waits until
            // the mediator has applied the free, and reads the range again
            // through its read-only mapping.
            let before = data.iter().any(|&b| b != 0);
            p.tc.write(
                &[Command::FreeBuffer {
                    offset: t.buffer.offset,
                }],
                &[],
            )
            .expect("free");
            let after = match reply_outcome(p) {
                Ok(()) => p
                    .dev
                    .read_buffer(t.buffer)
                    .map(|b| b.iter().all(|&x| x == 0).to_string())
                    .unwrap_or_else(|e| e.to_string()),
                Err(e) => format!("free failed: {e}"),
            };
            let out = format!(
                "flag={} nonzero-before={before} zero-after={after}",
                t.flags.clear_buf()
            );
            let txn = p.txn(0, 0, out.as_bytes(), vec![]);
            p.tc.write(&[Command::Reply(txn)], &[]).expect("reply");
        }
        19 => {
            let s = &t.sender;
            let out = format!("pid={} uid={} euid={}", s.pid, s.uid, s.euid);
            p.reply(t, out.as_bytes(), vec![]).expect("reply");
        }
        other => {
            p.reply(t, format!("unknown code {other}").as_bytes(), vec![])
                .expect("reply");
        }
    }
}

/// Maps the blob of object 0 and checks it against `peer::pattern`.
fn check_blob(t: &TxnIn, fds: &[OwnedFd]) -> String {
    let Some(&Object::Blob { index, len }) = t.objects.first() else {
        return format!("no blob in {:?}", t.objects);
    };
    let Some(fd) = fds.get(index as usize) else {
        return format!("blob fd {index} missing ({} fds came)", fds.len());
    };
    let Ok(len) = usize::try_from(len) else {
        return "blob too large".into();
    };
    let map = match Mapping::private_sealed(fd.as_fd(), len) {
        Ok(m) => m,
        Err(e) => return format!("mapping the blob failed: {e}"),
    };
    let Some(bytes) = map.as_slice() else {
        return "blob mapping not lent as a slice".into();
    };
    if let Some(i) = bytes.iter().enumerate().position(|(i, &b)| b != pattern(i)) {
        return format!("blob differs at byte {i}");
    }
    // The mapping cannot be made writable (sealed F_SEAL_WRITE): probe it.
    let writable = capbinder_kmod_shim::sys::protect::mprotect_shared_writable(fd.as_fd(), len);
    format!(
        "blob ok {len} kind={:?} shared-writable={}",
        map.kind(),
        writable.is_ok()
    )
}
