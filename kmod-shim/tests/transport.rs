//! The transport end to end: a real `capbinderd`, real processes.

mod common;

use std::os::fd::AsFd;
use std::process::Command as Cmd;

use capbinder_core::{
    Command, DataRange, Failure, Handle, Hello, Object, Return, TxnFlags, TxnOut, PROTOCOL_MAJOR,
};
use capbinder_kmod_shim::device::{Device, DeviceError};
use capbinder_kmod_shim::mediator::{config::Config, Mediator};
use capbinder_kmod_shim::sys::channel::Channel;
use capbinder_kmod_shim::sys::memfd::{self, Mapping};
use capbinder_kmod_shim::sys::protect;
use capbinder_kmod_shim::wire::{self, ClientMsg, ServerMsg, ThreadMsg};
use common::peer::{Outcome, Peer};
use common::{Daemon, Proc};

fn no_nested() -> impl FnMut(&capbinder_core::TxnIn, &[u8], Vec<std::os::fd::OwnedFd>) -> Vec<u8> {
    |t, _, _| panic!("unexpected nested call {t:?}")
}

fn state(p: &mut Peer) -> capbinder_core::StateDump {
    match p.command(Command::DumpState).expect("dump") {
        Return::State(s) => *s,
        other => panic!("expected State, got {other:?}"),
    }
}

#[test]
fn call_and_reply_cross_two_processes() {
    let d = Daemon::start();
    let _server = d.server();
    let mut me = Peer::open(d.socket()).unwrap();
    let out = me
        .call(Handle(0), 1, b"hello", vec![], &[], &mut no_nested())
        .unwrap();
    assert_eq!(out.data(), b"echo:hello");
    // And a second, separate client process.
    let mut cmd = Cmd::new(env!("CARGO_BIN_EXE_capbinder-shim-testpeer"));
    cmd.arg("client").arg(d.socket());
    let client = Proc::spawn(cmd);
    client.expect_line("echo:from-client");
}

#[test]
fn nested_call_lands_on_the_waiting_thread() {
    let d = Daemon::start();
    let _server = d.server();
    let mut me = Peer::open(d.socket()).unwrap();
    let my_tid = me.tc.tid();
    let mut seen = Vec::new();
    let out = me
        .call(
            Handle(0),
            6,
            b"",
            vec![Object::Binder {
                ptr: 0xa,
                cookie: 0xa,
                strong: true,
                flags: Default::default(),
            }],
            &[],
            &mut |t, data, _| {
                seen.push((t.code, t.target, data.to_vec()));
                b"pong-from-A".to_vec()
            },
        )
        .unwrap();
    assert_eq!(out.data(), b"cb:pong-from-A");
    assert_eq!(seen, vec![(7, Some((0xa, 0xa)), b"ping".to_vec())]);
    // The nested call ran on this very thread channel (the only one), and
    // its caller was the server thread serving our call.
    assert_eq!(me.tc.tid(), my_tid);
}

#[test]
fn oneway_calls_to_one_node_arrive_in_order() {
    let d = Daemon::start();
    let _server = d.server();
    let mut me = Peer::open(d.socket()).unwrap();
    let n = 20;
    for i in 0..n {
        me.oneway(Handle(0), 4, format!("m{i}").as_bytes()).unwrap();
    }
    let want: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    let deadline = std::time::Instant::now() + common::TIMEOUT;
    loop {
        let got = me
            .call(Handle(0), 5, b"", vec![], &[], &mut no_nested())
            .unwrap()
            .data();
        let got: Vec<String> = String::from_utf8(got)
            .unwrap()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        assert_eq!(got[..], want[..got.len()], "oneway calls out of order");
        if got.len() == n {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "only {got:?} arrived");
    }
}

#[test]
fn an_fd_passes_through_a_call() {
    let d = Daemon::start();
    let _server = d.server();
    let mut me = Peer::open(d.socket()).unwrap();
    let Outcome::Reply { objects, .. } = me
        .call(Handle(0), 8, b"", vec![], &[], &mut no_nested())
        .unwrap()
    else {
        panic!("no fd service")
    };
    let Some(&Object::Handle { handle, .. }) = objects.first() else {
        panic!("expected a handle, got {objects:?}")
    };
    let fd = memfd::create_blob("secret", b"the secret").unwrap();
    let out = me
        .call(
            handle,
            2,
            b"",
            vec![Object::Fd { index: 0 }],
            &[fd.as_fd()],
            &mut no_nested(),
        )
        .unwrap();
    assert_eq!(out.data(), b"the secret");
    // The context manager node does not accept fds: a clear failure.
    let out = me
        .call(
            Handle(0),
            2,
            b"",
            vec![Object::Fd { index: 0 }],
            &[fd.as_fd()],
            &mut no_nested(),
        )
        .unwrap();
    match out {
        Outcome::Failed(Return::FailedReply {
            error: Failure::FdsNotAccepted { .. },
            ..
        }) => {}
        other => panic!("expected FdsNotAccepted, got {other:?}"),
    }
}

/// Does the handshake by hand and returns the receive-buffer memfd.
fn raw_handshake(socket: &std::path::Path) -> (Channel, std::os::fd::OwnedFd, u64) {
    let c = Channel::connect(socket).unwrap();
    let hello = ClientMsg::Hello(Hello {
        major: PROTOCOL_MAJOR,
        minor: 0,
        features: 0,
    });
    c.send(&wire::encode(&hello).unwrap(), &[]).unwrap();
    let mut buf = vec![0u8; 4096];
    let mut got = c.recv(&mut buf, 4).unwrap();
    let ServerMsg::Welcome(w) = wire::decode(&buf[..got.len]).unwrap() else {
        panic!("refused")
    };
    (c, got.fds.pop().unwrap(), w.limits.recv_buffer)
}

#[test]
fn the_client_cannot_write_its_receive_buffer() {
    let d = Daemon::start();
    let (_conn, memfd, len) = raw_handshake(d.socket());
    let len = len as usize;
    let err = Mapping::shared_read_write(memfd.as_fd(), len).unwrap_err();
    assert!(err.to_string().contains("mmap"), "{err}");
    let err = protect::mprotect_shared_writable(memfd.as_fd(), len).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EACCES), "{err}");
    assert!(rustix::io::pwrite(&memfd, b"x", 0).is_err());
    assert!(memfd::ftruncate(&memfd, 1).is_err());
    Mapping::shared_read_only(memfd.as_fd(), len).expect("read-only mapping works");
    // The device maps it the same way and reads bounds-checked.
    let dev = Device::open(Some(d.socket())).unwrap();
    assert!(dev
        .read_buffer(DataRange {
            offset: dev.limits().recv_buffer,
            len: 1
        })
        .is_err());
}

#[test]
fn killing_the_server_mid_call_gives_a_dead_reply_and_leaves_nothing() {
    let d = Daemon::start();
    let server = d.server();
    let server_pid = server.pid();
    let mut me = Peer::open(d.socket()).unwrap();
    let killer = std::thread::spawn(move || {
        let mut server = server;
        server.expect_line("hang");
        server.child.kill().unwrap();
        server.child.wait().unwrap();
    });
    let out = me
        .call(Handle(0), 3, b"", vec![], &[], &mut no_nested())
        .unwrap();
    killer.join().unwrap();
    assert!(
        matches!(out, Outcome::Failed(Return::DeadReply { .. })),
        "{out:?}"
    );
    let s = state(&mut me);
    assert!(
        s.processes.iter().all(|p| p.pid != server_pid),
        "server still in the dump: {s:#?}"
    );
    assert!(s.transactions.is_empty(), "{s:#?}");
    assert_eq!(s.context_manager, None);
    let mine = s
        .processes
        .iter()
        .find(|p| p.pid == std::process::id() as i32)
        .unwrap();
    assert_eq!(mine.pending_out, 0);
    assert_eq!(mine.buffer.used, 0, "{mine:#?}");
    // Handle 0 now has no owner.
    let out = me
        .call(Handle(0), 1, b"x", vec![], &[], &mut no_nested())
        .unwrap();
    assert!(
        matches!(
            out,
            Outcome::Failed(Return::FailedReply {
                error: Failure::NoContextManager,
                ..
            })
        ),
        "{out:?}"
    );
}

#[test]
fn garbage_and_forged_handles_get_errors_and_others_are_still_served() {
    let d = Daemon::start();
    let _server = d.server();
    let mut bad = Peer::open(d.socket()).unwrap();
    let mut good = Peer::open(d.socket()).unwrap();

    // Garbage bytes on a thread channel.
    bad.tc.write_raw(&[0xff; 40], &[]).unwrap();
    match bad.next_return().unwrap() {
        Return::Error(Failure::Transport(m)) => assert!(m.contains("malformed"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Truncated postcard.
    let full = wire::encode(&ThreadMsg::Write(vec![Command::Transaction {
        handle: Handle(0),
        txn: TxnOut {
            code: 1,
            data: DataRange { offset: 0, len: 3 },
            ..TxnOut::default()
        },
    }]))
    .unwrap();
    bad.tc.write_raw(&full[..full.len() - 2], &[]).unwrap();
    assert!(matches!(
        bad.next_return().unwrap(),
        Return::Error(Failure::Transport(_))
    ));
    // A forged handle.
    let out = bad
        .call(
            Handle(0x0000_0007_0000_0003),
            1,
            b"x",
            vec![],
            &[],
            &mut no_nested(),
        )
        .unwrap();
    assert!(
        matches!(
            out,
            Outcome::Failed(Return::FailedReply {
                error: Failure::BadHandle(_),
                ..
            })
        ),
        "{out:?}"
    );
    // An fd no object names.
    let fd = memfd::create_blob("stray", b"x").unwrap();
    bad.tc.write(&[Command::DumpState], &[fd.as_fd()]).unwrap();
    match bad.next_return().unwrap() {
        Return::Error(Failure::Transport(m)) => assert!(m.contains("1 fds"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A payload range outside the send area.
    bad.tc
        .write(
            &[Command::Transaction {
                handle: Handle(0),
                txn: TxnOut {
                    code: 1,
                    flags: TxnFlags(0),
                    data: DataRange {
                        offset: u64::MAX - 1,
                        len: 10,
                    },
                    objects: vec![],
                },
            }],
            &[],
        )
        .unwrap();
    assert!(matches!(
        bad.next_return().unwrap(),
        Return::FailedReply {
            error: Failure::DataOutOfBounds { .. },
            ..
        }
    ));
    // A blob that is not write-sealed.
    let unsealed = memfd::memfd_create("unsealed").unwrap();
    memfd::ftruncate(&unsealed, 4096).unwrap();
    bad.tc
        .write(
            &[Command::Transaction {
                handle: Handle(0),
                txn: TxnOut {
                    code: 1,
                    objects: vec![Object::Blob { index: 0, len: 10 }],
                    ..TxnOut::default()
                },
            }],
            &[unsealed.as_fd()],
        )
        .unwrap();
    match bad.next_return().unwrap() {
        Return::Error(Failure::Transport(m)) => assert!(m.contains("F_SEAL_WRITE"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A connection that sends garbage instead of Hello is refused.
    let raw = Channel::connect(d.socket()).unwrap();
    raw.send(b"\xff\xff\xff garbage", &[]).unwrap();
    let mut buf = [0u8; 1024];
    let got = raw.recv(&mut buf, 0).unwrap();
    assert!(matches!(
        wire::decode::<ServerMsg>(&buf[..got.len]).unwrap(),
        ServerMsg::Refused { .. }
    ));
    assert_eq!(raw.recv(&mut buf, 0).unwrap().full_len, 0, "then closed");

    // Everyone is still served, the offender included.
    for p in [&mut good, &mut bad] {
        let out = p
            .call(Handle(0), 1, b"still", vec![], &[], &mut no_nested())
            .unwrap();
        assert_eq!(out.data(), b"echo:still");
    }
}

#[test]
fn an_unknown_protocol_major_is_refused_naming_both_versions() {
    let d = Daemon::start();
    let c = Channel::connect(d.socket()).unwrap();
    let hello = ClientMsg::Hello(Hello {
        major: 99,
        minor: 0,
        features: 0,
    });
    c.send(&wire::encode(&hello).unwrap(), &[]).unwrap();
    let mut buf = vec![0u8; 4096];
    let got = c.recv(&mut buf, 0).unwrap();
    let ServerMsg::Refused { reason } = wire::decode(&buf[..got.len]).unwrap() else {
        panic!("accepted major 99")
    };
    assert!(
        reason.contains("99") && reason.contains(&format!("{PROTOCOL_MAJOR}.")),
        "{reason}"
    );
}

#[test]
fn a_thread_id_of_another_process_is_refused() {
    let d = Daemon::start();
    let (c, _memfd, _) = raw_handshake(d.socket());
    c.send(
        &wire::encode(&ClientMsg::RegisterThread { tid: 1 }).unwrap(),
        &[],
    )
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let got = c.recv(&mut buf, 2).unwrap();
    assert!(got.fds.is_empty());
    match wire::decode(&buf[..got.len]).unwrap() {
        ServerMsg::ThreadRefused { reason } => assert!(reason.contains("thread 1"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_closed_connection_is_a_dead_process_and_leaves_nothing() {
    let d = Daemon::start();
    let server = d.server();
    let server_pid = server.pid();
    let mut me = Peer::open(d.socket()).unwrap();
    // A second device in this process (a second connection), then dropped.
    let other = Peer::open(d.socket()).unwrap();
    drop(other);
    drop(server);
    // The dump is answered after the mediator saw both closes only if we
    // wait for them: poll the dump (bounded) until both are gone.
    let deadline = std::time::Instant::now() + common::TIMEOUT;
    loop {
        let s = state(&mut me);
        let mine = std::process::id() as i32;
        let gone = s.processes.iter().filter(|p| p.pid == mine).count() == 1
            && s.processes.iter().all(|p| p.pid != server_pid);
        if gone {
            assert_eq!(s.context_manager, None);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{s:#?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn the_mediator_runs_in_process_and_shuts_down() {
    let dir = tempfile::Builder::new()
        .prefix("cb")
        .tempdir_in("/tmp")
        .unwrap();
    let path = dir.path().join("m.sock");
    let m = Mediator::bind(&path, Config::default()).unwrap();
    let stop = m.shutdown_handle().unwrap();
    let t = std::thread::spawn(move || m.run());
    let _server = common::spawn_server(&path);
    let mut me = Peer::open(&path).unwrap();
    let out = me
        .call(Handle(0), 1, b"in-process", vec![], &[], &mut no_nested())
        .unwrap();
    assert_eq!(out.data(), b"echo:in-process");
    stop.trigger();
    t.join().unwrap().unwrap();
    assert!(!path.exists(), "socket removed at shutdown");
    // Our thread channel is closed now.
    assert!(matches!(me.tc.read(), Err(DeviceError::Closed)));
}

#[test]
fn sigterm_stops_the_daemon_cleanly() {
    let mut d = Daemon::start();
    let pid = rustix::process::Pid::from_raw(d.proc.pid()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = d.proc.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!d.socket.exists());
}

#[test]
fn open_without_a_socket_names_every_place_it_looked() {
    // Only meaningful where no system mediator runs.
    if std::path::Path::new("/run/capbinder/capbinder.sock").exists() {
        return;
    }
    if std::env::var_os("CAPBINDER_SOCKET").is_some() {
        return;
    }
    let err = Device::open(None).unwrap_err().to_string();
    assert!(err.contains("CAPBINDER_SOCKET"), "{err}");
    assert!(err.contains("/run/capbinder/capbinder.sock"), "{err}");
    assert!(err.contains("XDG_RUNTIME_DIR"), "{err}");
}

#[test]
fn a_death_subscription_fires_when_the_server_process_dies() {
    let d = Daemon::start();
    let server = d.server();
    let mut me = Peer::open(d.socket()).unwrap();
    me.tc
        .write(
            &[
                Command::RequestDeath {
                    handle: Handle(0),
                    cookie: 77,
                },
                Command::EnterLooper,
            ],
            &[],
        )
        .unwrap();
    drop(server); // SIGKILL
                  // The notice is process work: wait for it as a looper.
    me.tc.write(&[Command::WaitForWork], &[]).unwrap();
    match me.next_return().unwrap() {
        Return::DeadBinder { cookie: 77 } => {}
        other => panic!("expected DeadBinder, got {other:?}"),
    }
    me.tc
        .write(&[Command::DeadBinderDone { cookie: 77 }], &[])
        .unwrap();
    let s = state(&mut me);
    let mine = s
        .processes
        .iter()
        .find(|p| p.pid == std::process::id() as i32)
        .unwrap();
    assert_eq!(mine.pending_deaths, 0, "{mine:#?}");
}

#[test]
fn threads_of_one_process_each_get_their_own_channel() {
    let d = Daemon::start();
    let _server = d.server();
    let dev = std::sync::Arc::new(Device::open(Some(d.socket())).unwrap());
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let dev = std::sync::Arc::clone(&dev);
            std::thread::spawn(move || {
                let mut tc = dev.register_thread().unwrap();
                for j in 0..20 {
                    let msg = format!("t{i}-{j}");
                    tc.write_send_area(0, msg.as_bytes()).unwrap();
                    let txn = TxnOut {
                        code: 1,
                        data: DataRange {
                            offset: 0,
                            len: msg.len() as u64,
                        },
                        ..TxnOut::default()
                    };
                    tc.write(
                        &[Command::Transaction {
                            handle: Handle(0),
                            txn,
                        }],
                        &[],
                    )
                    .unwrap();
                    let reply = loop {
                        match tc.read().unwrap().0 {
                            Return::TransactionComplete => {}
                            Return::Reply(t) => break t,
                            other => panic!("{other:?}"),
                        }
                    };
                    let got = dev.read_buffer(reply.buffer).unwrap();
                    assert_eq!(got, format!("echo:{msg}").as_bytes());
                    tc.write(
                        &[Command::FreeBuffer {
                            offset: reply.buffer.offset,
                        }],
                        &[],
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
}

#[test]
fn a_bad_config_stops_the_daemon_naming_the_key() {
    let dir = tempfile::Builder::new()
        .prefix("cb")
        .tempdir_in("/tmp")
        .unwrap();
    let conf = dir.path().join("bad.toml");
    std::fs::write(&conf, "[limits]\nrecv_buffer = 100\n").unwrap();
    let out = Cmd::new(env!("CARGO_BIN_EXE_capbinderd"))
        .arg("--socket")
        .arg(dir.path().join("x.sock"))
        .arg("--config")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("recv_buffer") && err.contains("4096"), "{err}");
}
