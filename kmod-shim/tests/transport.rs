//! The transport end to end: a real `capbinderd`, real processes. Every
//! test runs against both event loops (`uring::NAME`, `epoll::NAME`; see
//! `common::both_loops!`).

mod common;

use std::os::fd::{AsFd, OwnedFd};
use std::process::Command as Cmd;

use capbinder_core::{
    Command, DataRange, Failure, Handle, Hello, Object, Return, Splice, TxnFlags, TxnOut,
    PROTOCOL_MAJOR,
};
use capbinder_kmod_shim::device::{Device, DeviceError};
use capbinder_kmod_shim::mediator::config::{Config, LoopChoice};
use capbinder_kmod_shim::mediator::event_loop::LoopKind;
use capbinder_kmod_shim::mediator::Mediator;
use capbinder_kmod_shim::sys::channel::Channel;
use capbinder_kmod_shim::sys::memfd::{self, Mapping};
use capbinder_kmod_shim::sys::protect;
use capbinder_kmod_shim::wire::{self, ClientMsg, ServerMsg, ThreadMsg};
use common::peer::{pattern, Outcome, Peer};
use common::{fail, wait_for, Daemon, Loop, Proc, Rng};

both_loops!(
    call_and_reply_cross_two_processes,
    nested_call_lands_on_the_waiting_thread,
    oneway_calls_to_one_node_arrive_in_order,
    an_fd_passes_through_a_call,
    the_client_cannot_write_its_receive_buffer,
    killing_the_server_mid_call_gives_a_dead_reply_and_leaves_nothing,
    garbage_and_forged_handles_get_errors_and_others_are_still_served,
    an_unknown_protocol_major_is_refused_naming_both_versions,
    a_thread_id_of_another_process_is_refused,
    a_closed_connection_is_a_dead_process_and_leaves_nothing,
    the_mediator_runs_in_process_and_shuts_down,
    sigterm_stops_the_daemon_cleanly,
    a_death_subscription_fires_when_the_server_process_dies,
    threads_of_one_process_each_get_their_own_channel,
    a_call_chain_crosses_three_processes_and_comes_back,
    oneway_order_holds_per_sender_under_load_from_several_senders,
    a_4_mib_payload_travels_as_a_sealed_blob_mapped_read_only,
    a_refused_reply_fails_the_call_it_answers,
    a_state_dump_too_large_for_one_message_is_refused_by_name,
    the_send_area_cannot_be_resized_and_rewriting_it_mid_send_harms_only_the_writer,
    killing_capbinderd_fails_every_client_clearly_and_nothing_hangs,
    killing_servers_mid_call_at_random_moments_leaves_nothing_behind,
    killing_a_client_mid_call_drops_the_reply_cleanly,
    misbehaving_clients_get_errors_and_everyone_else_is_still_served,
    an_unprivileged_process_cannot_freeze_another,
    priority_migrates_to_the_server_thread_and_is_restored,
    a_migrated_call_restores_what_the_thread_set_for_itself,
    without_migration_the_priority_is_only_reported,
    real_and_effective_uid_are_told_apart,
    the_blob_threshold_is_configurable_and_announced,
    the_loop_thread_takes_a_longer_scheduler_slice,
    a_client_that_never_reads_is_disconnected_and_others_are_served,
    a_write_asking_for_huge_answers_is_cut_off_and_the_mediator_stays_small,
    a_prepared_app_connection_is_served_only_after_binding,
    binding_an_app_to_a_process_of_another_uid_or_a_non_pidfd_is_refused,
    an_unprivileged_process_cannot_prepare_an_app_identity,
    a_launcher_that_dies_before_binding_drops_the_pending_connection,
    a_forked_child_cannot_use_its_parents_channel_and_the_parent_keeps_it,
    a_sensitive_payload_is_zeroed_in_the_receivers_buffer_once_freed,
);

/// binder's `TF_CLEAR_BUF`: the receiver of a sensitive call frees its
/// range and then finds it zeroed by the mediator; without the flag the
/// bytes stay until the range is reused. The sender's own copy, in its
/// send area, is wiped once the mediator has copied it (libbinder zeroes a
/// sensitive parcel's memory when it frees it).
fn a_sensitive_payload_is_zeroed_in_the_receivers_buffer_once_freed(lp: Loop) {
    let d = Daemon::start(lp);
    let _server = d.server();
    let mut me = Peer::open(d.socket()).unwrap();
    let secret = b"a secret the server must not keep";
    for (flags, want) in [
        (
            TxnFlags::CLEAR_BUF,
            "flag=true nonzero-before=true zero-after=true",
        ),
        (0, "flag=false nonzero-before=true zero-after=false"),
    ] {
        let out = me
            .call_with_flags(Handle(0), 21, flags, secret, vec![], &[], &mut no_nested())
            .unwrap()
            .data();
        assert_eq!(String::from_utf8(out).unwrap(), want);
        let area = me.tc.send_area().try_lease().expect("the area is free");
        let sent = area.bytes(secret.len()).unwrap();
        if flags == 0 {
            assert_eq!(sent, secret, "a plain payload stays where it was written");
        } else {
            assert!(sent.iter().all(|&b| b == 0), "the sender's copy: {sent:?}");
        }
    }
}

fn no_nested() -> impl FnMut(&capbinder_core::TxnIn, &[u8], Vec<std::os::fd::OwnedFd>) -> Vec<u8> {
    |t, _, _| panic!("unexpected nested call {t:?}")
}

fn state(p: &mut Peer) -> capbinder_core::StateDump {
    match p.command(Command::DumpState).expect("dump") {
        Return::State(s) => *s,
        other => panic!("expected State, got {other:?}"),
    }
}

/// binder's `CannotUseBinderAfterFork`: the child of a process that forks
/// gets a clear error from its parent's thread channel, in the child,
/// before anything reaches the mediator; the parent's connection goes on
/// serving (a message from the child's pid on the parent's channel would
/// make the mediator disconnect the parent).
fn a_forked_child_cannot_use_its_parents_channel_and_the_parent_keeps_it(lp: Loop) {
    let d = Daemon::start(lp);
    let mut cmd = Cmd::new(env!("CARGO_BIN_EXE_capbinder-shim-testpeer"));
    cmd.arg("fork").arg(d.socket());
    let p = Proc::spawn(cmd);
    let child = p.next_line();
    assert!(
        child.starts_with("child: refused") && child.contains("forked child"),
        "{child}"
    );
    assert_eq!(p.next_line(), "parent: served (child exited 0)");
}

fn call_and_reply_cross_two_processes(lp: Loop) {
    let d = Daemon::start(lp);
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

fn nested_call_lands_on_the_waiting_thread(lp: Loop) {
    let d = Daemon::start(lp);
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

fn oneway_calls_to_one_node_arrive_in_order(lp: Loop) {
    let d = Daemon::start(lp);
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

fn an_fd_passes_through_a_call(lp: Loop) {
    let d = Daemon::start(lp);
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
    // A node that does not accept fds: a clear failure.
    let Outcome::Reply { objects, .. } = me
        .call(Handle(0), 9, b"", vec![], &[], &mut no_nested())
        .unwrap()
    else {
        panic!("no no-fd service")
    };
    let Some(&Object::Handle { handle, .. }) = objects.first() else {
        panic!("expected a handle, got {objects:?}")
    };
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

fn the_client_cannot_write_its_receive_buffer(lp: Loop) {
    let d = Daemon::start(lp);
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

fn killing_the_server_mid_call_gives_a_dead_reply_and_leaves_nothing(lp: Loop) {
    let d = Daemon::start(lp);
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
    // The dead reply comes with the server thread's channel closing; its
    // connection's close may be read in a later pass (the io_uring loop
    // takes them as they complete): poll the dump (bounded) until it is.
    let deadline = std::time::Instant::now() + common::TIMEOUT;
    let s = loop {
        let s = state(&mut me);
        if s.processes.iter().all(|p| p.pid != server_pid) {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "server still in the dump: {s:#?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
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

fn garbage_and_forged_handles_get_errors_and_others_are_still_served(lp: Loop) {
    let d = Daemon::start(lp);
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
    let out_of_area = TxnOut {
        code: 1,
        data: DataRange {
            offset: u64::MAX - 1,
            len: 10,
        },
        ..TxnOut::default()
    };
    assert!(matches!(
        raw_call(&mut bad, out_of_area, &[]),
        Return::FailedReply {
            error: Failure::DataOutOfBounds { .. },
            ..
        }
    ));
    // A blob that is not write-sealed.
    let unsealed = memfd::memfd_create("unsealed").unwrap();
    memfd::ftruncate(&unsealed, 4096).unwrap();
    let txn = TxnOut {
        code: 1,
        objects: vec![Object::Blob { index: 0, len: 10 }],
        ..TxnOut::default()
    };
    // Refused as a call: its sender hears of it as of any failed call.
    match raw_call(&mut bad, txn, &[unsealed.as_fd()]) {
        Return::FailedReply {
            error: Failure::BadMemfd { object: 0, why },
            ..
        } => assert!(why.contains("F_SEAL_WRITE"), "{why}"),
        other => panic!("{other:?}"),
    }
    // A call naming an fd that did not come with it: no fd can be matched
    // to its object, and the call fails back to its sender.
    let txn = TxnOut {
        code: 1,
        objects: vec![Object::Fd { index: 0 }],
        ..TxnOut::default()
    };
    match raw_call(&mut bad, txn, &[]) {
        Return::FailedReply {
            error: Failure::Transport(m),
            ..
        } => assert!(m.contains("0 fds came with the write"), "{m}"),
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

fn an_unknown_protocol_major_is_refused_naming_both_versions(lp: Loop) {
    let d = Daemon::start(lp);
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

fn a_thread_id_of_another_process_is_refused(lp: Loop) {
    let d = Daemon::start(lp);
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

fn a_closed_connection_is_a_dead_process_and_leaves_nothing(lp: Loop) {
    let d = Daemon::start(lp);
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

fn the_mediator_runs_in_process_and_shuts_down(lp: Loop) {
    let dir = tempfile::Builder::new()
        .prefix("cb")
        .tempdir_in("/tmp")
        .unwrap();
    let path = dir.path().join("m.sock");
    let config = Config {
        event_loop: match lp {
            Loop::Uring => LoopChoice::Uring,
            Loop::Epoll => LoopChoice::Epoll,
        },
        ..Config::default()
    };
    let m = Mediator::bind(&path, config).unwrap();
    assert_eq!(
        m.event_loop(),
        match lp {
            Loop::Uring => LoopKind::Uring,
            Loop::Epoll => LoopKind::Epoll,
        }
    );
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

fn sigterm_stops_the_daemon_cleanly(lp: Loop) {
    let mut d = Daemon::start(lp);
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

fn a_death_subscription_fires_when_the_server_process_dies(lp: Loop) {
    let d = Daemon::start(lp);
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
    // A barrier: the subscription must be in place before the kill, or the
    // mediator may see the death first and refuse it (no handle 0 then).
    state(&mut me);
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

fn threads_of_one_process_each_get_their_own_channel(lp: Loop) {
    let d = Daemon::start(lp);
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

/// A local binder object of the calling test process.
fn binder(ptr: u64) -> Object {
    Object::Binder {
        ptr,
        cookie: ptr,
        strong: true,
        flags: Default::default(),
    }
}

/// Nothing of process `pid` is left in the dump: no process, no
/// transaction, no node holder, no ref naming it as owner.
#[track_caller]
fn assert_gone(s: &capbinder_core::StateDump, pid: i32) {
    let named = s.processes.iter().any(|p| {
        p.pid == pid
            || p.refs.iter().any(|r| r.owner_pid == Some(pid))
            || p.nodes.iter().any(|n| n.holders.contains(&pid))
    }) || s
        .transactions
        .iter()
        .any(|t| t.from_pid == pid || t.to_pid == Some(pid))
        || s.context_manager == Some(pid);
    if named {
        fail(format!("pid {pid} is still in the state"));
    }
}

fn a_call_chain_crosses_three_processes_and_comes_back(lp: Loop) {
    let d = Daemon::start(lp);
    let _b = d.server();
    let c = Proc::spawn(d.peer("service", &[]));
    c.expect_line("ready");
    let mut a = Peer::open(d.socket()).unwrap();
    // A -> B -> C, and the replies back.
    let out = a
        .call(Handle(0), 11, b"hi", vec![], &[], &mut no_nested())
        .unwrap();
    assert_eq!(out.data(), b"b:c:hi");
    // A -> B -> C -> A: C calls an object of A, passed along by B; the call
    // lands on A's thread that is waiting for B.
    let mut seen = Vec::new();
    let out = a
        .call(
            Handle(0),
            11,
            b"deep",
            vec![binder(0xa)],
            &[],
            &mut |t, data, _| {
                seen.push((t.code, t.target, data.to_vec(), t.sender.pid));
                b"pong-from-A".to_vec()
            },
        )
        .unwrap();
    assert_eq!(out.data(), b"b:c:deep+pong-from-A");
    assert_eq!(seen, vec![(7, Some((0xa, 0xa)), b"ping".to_vec(), c.pid())]);
    let s = d.state();
    assert!(s.transactions.is_empty(), "{s:#?}");
}

fn oneway_order_holds_per_sender_under_load_from_several_senders(lp: Loop) {
    const SENDERS: usize = 4;
    const EACH: usize = 150;
    let d = Daemon::start(lp);
    let _server = d.server();
    let senders: Vec<Proc> = (0..SENDERS)
        .map(|i| Proc::spawn(d.peer("oneway", &[&format!("s{i}"), &EACH.to_string()])))
        .collect();
    // This process sends too, interleaved with the others.
    let mut me = Peer::open(d.socket()).unwrap();
    for j in 0..EACH {
        me.oneway(Handle(0), 4, format!("me-{j}").as_bytes())
            .unwrap();
    }
    for s in &senders {
        s.expect_line("done");
    }
    let total = (SENDERS + 1) * EACH;
    let got = wait_for("every oneway call to arrive", || {
        let data = me
            .call(Handle(0), 5, b"", vec![], &[], &mut no_nested())
            .unwrap()
            .data();
        let got: Vec<String> = String::from_utf8(data)
            .unwrap()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        (got.len() >= total).then_some(got)
    });
    assert_eq!(got.len(), total, "calls arrived twice: {got:?}");
    let names = (0..SENDERS)
        .map(|i| format!("s{i}"))
        .chain(["me".to_string()]);
    for name in names {
        let prefix = format!("{name}-");
        let mine: Vec<&String> = got.iter().filter(|m| m.starts_with(&prefix)).collect();
        let want: Vec<String> = (0..EACH).map(|j| format!("{name}-{j}")).collect();
        assert_eq!(
            mine.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            want.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "oneway calls of {name} out of order or lost"
        );
    }
}

fn a_4_mib_payload_travels_as_a_sealed_blob_mapped_read_only(lp: Loop) {
    const LEN: usize = 4 << 20;
    let d = Daemon::start(lp);
    let _server = d.server();
    let mut me = Peer::open(d.socket()).unwrap();
    assert!(
        LEN as u64 > me.dev.limits().recv_buffer,
        "the payload must not fit the receive buffer"
    );
    let data: Vec<u8> = (0..LEN).map(pattern).collect();
    // Made by the client: filled, then sealed against write, shrink, grow.
    let blob = memfd::create_blob("payload", &data).unwrap();
    memfd::verify_blob_seals(&blob).unwrap();
    let out = me
        .call(
            Handle(0),
            13,
            b"",
            vec![Object::Blob {
                index: 0,
                len: LEN as u64,
            }],
            &[blob.as_fd()],
            &mut no_nested(),
        )
        .unwrap();
    assert_eq!(
        String::from_utf8(out.data()).unwrap(),
        format!("blob ok {LEN} kind=PrivateSealed shared-writable=false")
    );
    // Nobody can change it now, the sender included.
    assert!(rustix::io::pwrite(&blob, b"x", 0).is_err());
    assert!(memfd::ftruncate(&blob, 1).is_err());
    // A blob that could still change (only F_SEAL_FUTURE_WRITE) is refused.
    let weak = memfd::memfd_create("weak").unwrap();
    memfd::ftruncate(&weak, 4096).unwrap();
    memfd::fcntl_add_seals(
        &weak,
        memfd::SealFlags::FUTURE_WRITE | memfd::SealFlags::SHRINK | memfd::SealFlags::GROW,
    )
    .unwrap();
    let txn = TxnOut {
        code: 13,
        objects: vec![Object::Blob {
            index: 0,
            len: 4096,
        }],
        ..TxnOut::default()
    };
    match raw_call(&mut me, txn, &[weak.as_fd()]) {
        Return::FailedReply {
            error: Failure::BadMemfd { object: 0, why },
            ..
        } => assert!(why.contains("F_SEAL_FUTURE_WRITE"), "{why}"),
        other => panic!("{other:?}"),
    }
}

/// A state dump over the largest message (a process with thousands of
/// objects) is answered by `StateTooLarge` in its place, so a runtime that
/// uses a dump as a barrier is not left waiting; a dump under the limit
/// but over the kernel's default socket buffer (about 208 KiB) is sent.
fn a_state_dump_too_large_for_one_message_is_refused_by_name(lp: Loop) {
    let d = Daemon::start(lp);
    let _server = d.server();
    let mut me = Peer::open(d.socket()).unwrap();
    let mut ptr = 0x1000;
    let mut last_ok = 0;
    for _ in 0..64 {
        // Each call exports 500 more objects of this process to the
        // server, which keeps its references to them.
        let objects = (0..500)
            .map(|_| {
                ptr += 1;
                binder(ptr)
            })
            .collect();
        me.call(Handle(0), 1, b"", objects, &[], &mut no_nested())
            .unwrap();
        match me.command(Command::DumpState).unwrap() {
            Return::State(s) => {
                last_ok = wire::encode_return(&Return::State(s)).unwrap().len();
            }
            Return::Error(Failure::StateTooLarge { len, limit }) => {
                assert!(len > limit && limit == wire::MAX_MSG as u64);
                assert!(
                    last_ok > 212_992,
                    "a dump over the default socket buffer was sent before ({last_ok} bytes)"
                );
                // Still served.
                assert_eq!(
                    me.call(Handle(0), 1, b"after", vec![], &[], &mut no_nested())
                        .unwrap()
                        .data(),
                    b"echo:after"
                );
                return;
            }
            other => panic!("{other:?}"),
        }
    }
    fail(format!(
        "the dump never outgrew one message (last {last_ok} bytes)"
    ));
}

/// A reply the mediator refuses (here a blob that is not write-sealed)
/// fails the call it answers: the caller hears why instead of waiting for
/// good, the replier's stack is unwound, and both go on.
fn a_refused_reply_fails_the_call_it_answers(lp: Loop) {
    let d = Daemon::start(lp);
    let server = d.server();
    let mut me = Peer::open(d.socket()).unwrap();
    // Code 6: the server calls us back (code 7) and answers with what
    // that nested call gave it, a failure's text included.
    me.tc.write_send_area(0, b"").unwrap();
    me.tc
        .write(
            &[Command::Transaction {
                handle: Handle(0),
                txn: TxnOut {
                    code: 6,
                    flags: TxnFlags(TxnFlags::ACCEPT_FDS),
                    objects: vec![binder(0xb)],
                    ..TxnOut::default()
                },
            }],
            &[],
        )
        .unwrap();
    let nested = loop {
        match me.next_return().unwrap() {
            Return::TransactionComplete => {}
            Return::Transaction(t) => break t,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(nested.code, 7);
    let unsealed = memfd::memfd_create("unsealed-reply").unwrap();
    memfd::ftruncate(&unsealed, 4096).unwrap();
    me.tc
        .write(
            &[
                Command::FreeBuffer {
                    offset: nested.buffer.offset,
                },
                Command::Reply(TxnOut {
                    flags: TxnFlags(TxnFlags::DATA_IN_BLOB),
                    objects: vec![Object::Blob {
                        index: 0,
                        len: 4096,
                    }],
                    ..TxnOut::default()
                }),
            ],
            &[unsealed.as_fd()],
        )
        .unwrap();
    let out = me.wait_reply(&mut no_nested()).unwrap().data();
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("cb:FailedReply")
            && text.contains("BadMemfd")
            && text.contains("F_SEAL_WRITE"),
        "the server's nested call ends with the refusal: {text}"
    );
    // Nothing is left on either stack; both are still served.
    let s = d.state();
    assert!(s.transactions.is_empty(), "{s:#?}");
    assert_eq!(
        me.call(Handle(0), 1, b"after", vec![], &[], &mut no_nested())
            .unwrap()
            .data(),
        b"echo:after"
    );
    drop(server);
}

/// A thread channel registered by hand: the channel, the send-area memfd
/// and the read-only receive buffer, with nothing in between.
struct RawThread {
    _conn: Channel,
    chan: Channel,
    area: OwnedFd,
    area_len: usize,
    recv: Mapping,
    buf: Vec<u8>,
}

impl RawThread {
    fn register(socket: &std::path::Path) -> RawThread {
        let (conn, recv_fd, recv_len) = raw_handshake(socket);
        let recv = Mapping::shared_read_only(recv_fd.as_fd(), recv_len as usize).unwrap();
        let tid = rustix::thread::gettid().as_raw_nonzero().get();
        conn.send(
            &wire::encode(&ClientMsg::RegisterThread { tid }).unwrap(),
            &[],
        )
        .unwrap();
        let mut buf = vec![0u8; 4096];
        let got = conn.recv(&mut buf, 2).unwrap();
        let ServerMsg::ThreadReady { send_area_len } = wire::decode(&buf[..got.len]).unwrap()
        else {
            panic!("registration refused")
        };
        let mut fds = got.fds.into_iter();
        let chan = Channel::from_owned_fd(fds.next().unwrap()).unwrap();
        let area = fds.next().unwrap();
        RawThread {
            _conn: conn,
            chan,
            area,
            area_len: send_area_len as usize,
            recv,
            buf: vec![0u8; wire::MAX_MSG + 1],
        }
    }

    fn write(&self, cmds: Vec<Command>) {
        self.chan
            .send(&wire::encode(&ThreadMsg::Write(cmds)).unwrap(), &[])
            .unwrap();
    }

    fn read(&mut self) -> Return {
        let got = self.chan.recv(&mut self.buf, 8).unwrap();
        assert!(got.full_len > 0, "the mediator closed the channel");
        wire::decode(&self.buf[..got.len]).unwrap()
    }

    /// Calls handle 0 with code 1 on `len` bytes at offset 0 of the send
    /// area and returns the reply's bytes.
    fn echo(&mut self, len: usize) -> Vec<u8> {
        self.write(vec![Command::Transaction {
            handle: Handle(0),
            txn: TxnOut {
                code: 1,
                data: DataRange {
                    offset: 0,
                    len: len as u64,
                },
                ..TxnOut::default()
            },
        }]);
        loop {
            match self.read() {
                Return::TransactionComplete => {}
                Return::Reply(t) => {
                    let out = self
                        .recv
                        .read_vec(t.buffer.offset as usize, t.buffer.len as usize)
                        .unwrap();
                    self.write(vec![Command::FreeBuffer {
                        offset: t.buffer.offset,
                    }]);
                    return out;
                }
                other => panic!("{other:?}"),
            }
        }
    }
}

fn the_send_area_cannot_be_resized_and_rewriting_it_mid_send_harms_only_the_writer(lp: Loop) {
    let d = Daemon::start(lp);
    let _server = d.server();
    let mut bad = RawThread::register(d.socket());
    // Sealed before the client got it: no shrinking, no growing, no unsealing.
    let seals = memfd::fcntl_get_seals(&bad.area).unwrap();
    assert!(
        seals.contains(memfd::SealFlags::SHRINK | memfd::SealFlags::GROW | memfd::SealFlags::SEAL),
        "{seals:?}"
    );
    for len in [0, 4096, 2 * bad.area_len as u64] {
        let err = memfd::ftruncate(&bad.area, len).unwrap_err();
        assert_eq!(
            err.raw_os_error(),
            Some(libc::EPERM),
            "ftruncate({len}): {err}"
        );
    }
    assert!(memfd::fcntl_add_seals(&bad.area, memfd::SealFlags::WRITE).is_err());

    // Rewrite the send area from another thread while calls are in flight.
    const N: usize = 64 << 10;
    let mut mine = Mapping::shared_read_write(bad.area.as_fd(), bad.area_len).unwrap();
    let mut scribble = Mapping::shared_read_write(bad.area.as_fd(), bad.area_len).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = std::sync::Arc::clone(&stop);
    let scribbler = std::thread::spawn(move || {
        let (a, b) = (vec![0xaa; N], vec![0x55; N]);
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            scribble.write_at(0, &a).unwrap();
            scribble.write_at(0, &b).unwrap();
        }
    });
    let mut good = Peer::open(d.socket()).unwrap();
    for i in 0..40 {
        mine.write_at(0, &vec![b'x'; N]).unwrap();
        let out = bad.echo(N);
        assert_eq!(out.len(), N + 5, "iteration {i}");
        assert_eq!(&out[..5], b"echo:");
        assert!(
            out[5..].iter().all(|b| [b'x', 0xaa, 0x55].contains(b)),
            "iteration {i}: bytes nobody wrote"
        );
        let msg = format!("good-{i}");
        let out = good
            .call(Handle(0), 1, msg.as_bytes(), vec![], &[], &mut no_nested())
            .unwrap();
        assert_eq!(out.data(), format!("echo:{msg}").as_bytes());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    scribbler.join().unwrap();
    // Once it stops scribbling, its own calls are exact again.
    mine.write_at(0, b"steady").unwrap();
    assert_eq!(bad.echo(6), b"echo:steady");
    let s = d.state();
    assert!(s.transactions.is_empty(), "{s:#?}");
}

fn killing_capbinderd_fails_every_client_clearly_and_nothing_hangs(lp: Loop) {
    let mut d = Daemon::start(lp);
    let mut server = Proc::spawn_with(d.peer("server", &[]), true);
    server.expect_line("ready");
    // One idle client here, and one blocked in a call the (one-threaded)
    // server holds.
    let mut me = Peer::open(d.socket()).unwrap();
    assert_eq!(
        me.call(Handle(0), 1, b"before", vec![], &[], &mut no_nested())
            .unwrap()
            .data(),
        b"echo:before"
    );
    let mut blocked = Proc::spawn(d.peer("call", &["16"]));
    blocked.expect_line("calling");
    server.expect_line("holding");

    d.proc.kill9();

    // The blocked call fails at once with a clear error, and so does the
    // next; the process exits by itself.
    let line = blocked.expect_line("call failed");
    assert!(line.contains("every remote object is now dead"), "{line}");
    blocked.expect_line("second call failed");
    assert!(blocked.wait_exit().success());
    // The idle client's next call fails the same way.
    match me.call(Handle(0), 1, b"after", vec![], &[], &mut no_nested()) {
        Err(DeviceError::Closed) => {}
        other => panic!("expected the connection to be lost, got {other:?}"),
    }
    assert!(DeviceError::Closed
        .to_string()
        .contains("every remote object is now dead"));
    // The server, answering its held call, learns the same, and stops.
    server.write_line("go");
    let line = server.expect_line("reply-failed");
    assert!(line.contains("closed"), "{line}");
    server.expect_line("mediator gone");
    assert!(server.wait_exit().success());
    // Connecting again names the socket and says what to do.
    let err = Device::open(Some(d.socket())).unwrap_err().to_string();
    assert!(
        err.contains(&d.socket().display().to_string()) && err.contains("mediator running"),
        "{err}"
    );
    // A new mediator replaces the stale socket and serves.
    d.restart();
    let _server = d.server();
    let mut again = Peer::open(d.socket()).unwrap();
    assert_eq!(
        again
            .call(Handle(0), 1, b"back", vec![], &[], &mut no_nested())
            .unwrap()
            .data(),
        b"echo:back"
    );
}

fn killing_servers_mid_call_at_random_moments_leaves_nothing_behind(lp: Loop) {
    const ROUNDS: u64 = 20;
    let d = Daemon::start(lp);
    let mut rng = Rng::new("killing_servers_mid_call");
    let mut me = Peer::open(d.socket()).unwrap();
    let my_pid = std::process::id() as i32;
    me.tc.write(&[Command::EnterLooper], &[]).unwrap();
    let (mut replies, mut dead) = (0, 0);
    for round in 0..ROUNDS {
        let mut server = d.server();
        let pid = server.pid();
        let cookie = 100 + round;
        // A handle on one of the server's objects (not handle 0, which
        // would name no object at all once the server is gone).
        let Outcome::Reply { objects, .. } = me
            .call(Handle(0), 8, b"", vec![], &[], &mut no_nested())
            .unwrap()
        else {
            fail(format!("round {round}: no object from the server"))
        };
        let Some(&Object::Handle { handle: h, .. }) = objects.first() else {
            fail(format!("round {round}: {objects:?}"))
        };
        // Subscribe to its death, and wait until the mediator took it.
        let r = returns_of(&mut me, vec![Command::RequestDeath { handle: h, cookie }]);
        assert!(r.is_empty(), "round {round}: {r:?}");
        let spin_us = rng.below(2000);
        let kill_after_us = rng.below(2000);
        let killer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_micros(kill_after_us));
            server.kill9();
        });
        let out = me
            .call(
                h,
                14,
                spin_us.to_string().as_bytes(),
                vec![],
                &[],
                &mut no_nested(),
            )
            .unwrap();
        killer.join().unwrap();
        match out {
            Outcome::Reply { data, .. } if data == b"slow" => replies += 1,
            Outcome::Failed(Return::DeadReply { .. }) => dead += 1,
            other => fail(format!(
                "round {round} (spin {spin_us} us, kill after {kill_after_us} us): {other:?}"
            )),
        }
        // The death notice comes as process work.
        me.tc.write(&[Command::WaitForWork], &[]).unwrap();
        match me.next_return().unwrap() {
            Return::DeadBinder { cookie: c } if c == cookie => {}
            other => fail(format!(
                "round {round}: expected DeadBinder {cookie}, got {other:?}"
            )),
        }
        // Acknowledge, unsubscribe and let go of the dead object.
        me.tc
            .write(
                &[
                    Command::DeadBinderDone { cookie },
                    Command::ClearDeath { handle: h, cookie },
                    Command::Release(h),
                    Command::WaitForWork,
                ],
                &[],
            )
            .unwrap();
        match me.next_return().unwrap() {
            Return::ClearDeathDone { cookie: c } if c == cookie => {}
            other => fail(format!(
                "round {round}: expected ClearDeathDone {cookie}, got {other:?}"
            )),
        }
        let s = state(&mut me);
        assert_gone(&s, pid);
        assert_eq!(s.context_manager, None);
        assert!(s.transactions.is_empty(), "round {round}: {s:#?}");
        let mine = s.processes.iter().find(|p| p.pid == my_pid).unwrap();
        assert_eq!(
            (
                mine.pending_out,
                mine.buffer.used,
                mine.pending_deaths,
                mine.refs.len()
            ),
            (0, 0, 0, 0),
            "round {round}: {mine:#?}"
        );
    }
    eprintln!("{ROUNDS} rounds: {replies} replies, {dead} dead replies");
    // The mediator still serves.
    let _server = d.server();
    assert_eq!(
        me.call(Handle(0), 1, b"alive", vec![], &[], &mut no_nested())
            .unwrap()
            .data(),
        b"echo:alive"
    );
}

fn killing_a_client_mid_call_drops_the_reply_cleanly(lp: Loop) {
    let d = Daemon::start(lp);
    let mut server = Proc::spawn_with(d.peer("server", &[]), true);
    server.expect_line("ready");
    let mut client = Proc::spawn(d.peer("call", &["16"]));
    client.expect_line("calling");
    server.expect_line("holding");
    let client_pid = client.pid();
    client.kill9();
    wait_for("the mediator to see the client die", || {
        d.state()
            .processes
            .iter()
            .all(|p| p.pid != client_pid)
            .then_some(())
    });
    // The server answers a call whose caller is gone: its reply is dropped,
    // and for the server the reply simply completes.
    server.write_line("go");
    server.expect_line("reply-complete");
    let mut me = Peer::open(d.socket()).unwrap();
    assert_eq!(
        me.call(Handle(0), 1, b"next", vec![], &[], &mut no_nested())
            .unwrap()
            .data(),
        b"echo:next"
    );
    let s = d.state();
    assert_gone(&s, client_pid);
    assert!(s.transactions.is_empty(), "{s:#?}");
    let srv = s.processes.iter().find(|p| p.pid == server.pid()).unwrap();
    assert_eq!((srv.buffer.used, srv.pending_out), (0, 0), "{srv:#?}");
}

/// Calls handle 0 (code 1) with `data` and returns the reply, its buffer
/// still held (not freed).
fn call_held(p: &mut Peer, data: &[u8]) -> capbinder_core::TxnIn {
    p.tc.write_send_area(0, data).unwrap();
    let txn = TxnOut {
        code: 1,
        data: DataRange {
            offset: 0,
            len: data.len() as u64,
        },
        ..TxnOut::default()
    };
    p.tc.write(
        &[Command::Transaction {
            handle: Handle(0),
            txn,
        }],
        &[],
    )
    .unwrap();
    loop {
        match p.next_return().unwrap() {
            Return::TransactionComplete => {}
            Return::Reply(t) => return *t,
            other => panic!("{other:?}"),
        }
    }
}

/// Writes `txn` as a call on handle 0 with `fds`, as it is, and returns the
/// first return that is not a reference notice.
fn raw_call(p: &mut Peer, txn: TxnOut, fds: &[std::os::fd::BorrowedFd<'_>]) -> Return {
    p.tc.write(
        &[Command::Transaction {
            handle: Handle(0),
            txn,
        }],
        fds,
    )
    .unwrap();
    p.next_return().unwrap()
}

/// Writes `cmds` then a `DumpState` and returns every return before the
/// dump (the dump answers after the commands before it were applied).
fn returns_of(p: &mut Peer, mut cmds: Vec<Command>) -> Vec<Return> {
    cmds.push(Command::DumpState);
    p.tc.write(&cmds, &[]).unwrap();
    let mut out = Vec::new();
    loop {
        match p.next_return().unwrap() {
            Return::State(_) => return out,
            r => out.push(r),
        }
    }
}

fn misbehaving_clients_get_errors_and_everyone_else_is_still_served(lp: Loop) {
    let d = Daemon::start(lp);
    let _server = d.server();
    let mut good = Peer::open(d.socket()).unwrap();
    let mut bad = Peer::open(d.socket()).unwrap();

    // Double free of a delivered buffer.
    let reply = call_held(&mut bad, b"x");
    let off = reply.buffer.offset;
    let r = returns_of(
        &mut bad,
        vec![
            Command::FreeBuffer { offset: off },
            Command::FreeBuffer { offset: off },
            Command::FreeBuffer { offset: 1 << 40 },
        ],
    );
    assert!(
        matches!(r[..], [Return::Error(Failure::BadFree(a)), Return::Error(Failure::BadFree(b))] if a == off && b == 1 << 40),
        "{r:?}"
    );

    // Reference counts below zero, then a stale handle.
    let Outcome::Reply { objects, .. } = bad
        .call(Handle(0), 8, b"", vec![], &[], &mut no_nested())
        .unwrap()
    else {
        panic!("no handle")
    };
    let Some(&Object::Handle { handle: h, .. }) = objects.first() else {
        panic!("{objects:?}")
    };
    let r = returns_of(
        &mut bad,
        vec![
            Command::IncRefs(h),
            Command::Release(h),
            Command::Release(h),
        ],
    );
    assert!(
        matches!(&r[..], [Return::Error(Failure::RefUnderflow { handle, kind })] if *handle == h && kind == "strong"),
        "{r:?}"
    );
    let r = returns_of(&mut bad, vec![Command::DecRefs(h), Command::DecRefs(h)]);
    assert!(
        matches!(r[..], [Return::Error(Failure::BadHandle(x))] if x == h),
        "{r:?}"
    );
    let out = bad
        .call(h, 1, b"stale", vec![], &[], &mut no_nested())
        .unwrap();
    assert!(
        matches!(out, Outcome::Failed(Return::FailedReply { error: Failure::BadHandle(x), .. }) if x == h),
        "a stale handle must not reach any object: {out:?}"
    );
    // A forged handle with the stale one's slot and a later generation.
    let forged = Handle(h.0 + (1 << 32));
    let out = bad
        .call(forged, 1, b"forged", vec![], &[], &mut no_nested())
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

    // Entering the looper twice; asking for work without being a looper.
    let mut idle = Peer::open(d.socket()).unwrap();
    let r = returns_of(&mut idle, vec![Command::WaitForWork]);
    assert!(
        matches!(r[..], [Return::Error(Failure::Looper(_))]),
        "{r:?}"
    );
    let r = returns_of(&mut bad, vec![Command::EnterLooper, Command::EnterLooper]);
    assert!(
        matches!(r[..], [Return::Error(Failure::Looper(_))]),
        "{r:?}"
    );

    // A reply with nothing to answer, and a free of a range never delivered.
    let r = returns_of(&mut bad, vec![Command::Reply(TxnOut::default())]);
    assert!(
        matches!(r[..], [Return::Error(Failure::NoTransactionToReply)]),
        "{r:?}"
    );

    // Splices name only bytes of a range delivered to this process and not
    // yet freed; a good one crosses receive buffer to receive buffer.
    let held = call_held(&mut bad, b"held!");
    assert_eq!(bad.dev.read_buffer(held.buffer).unwrap(), b"echo:held!");
    let mut spliced_call = |splice: Splice| {
        bad.tc.write_send_area(0, b"[----------]").unwrap();
        let txn = TxnOut {
            code: 1,
            data: DataRange { offset: 0, len: 12 },
            splices: vec![splice],
            ..TxnOut::default()
        };
        bad.tc
            .write(
                &[Command::Transaction {
                    handle: Handle(0),
                    txn,
                }],
                &[],
            )
            .unwrap();
        bad.wait_reply(&mut no_nested()).unwrap()
    };
    let within_held = |offset, len| Splice {
        at: 1,
        buffer: held.buffer.offset,
        offset,
        len,
    };
    // The 10 bytes "echo:held!" between the brackets.
    assert_eq!(
        spliced_call(within_held(0, 10)).data(),
        b"echo:[echo:held!]"
    );
    for (splice, why) in [
        (within_held(8, 10), "not in a range this process holds"),
        (
            Splice {
                buffer: held.buffer.offset + 8,
                ..within_held(0, 4)
            },
            "not in a range this process holds",
        ),
        (within_held(0, 12), "do not lie inside"),
    ] {
        match spliced_call(splice) {
            Outcome::Failed(Return::FailedReply {
                error: Failure::BadSplice { why: w, .. },
                ..
            }) => assert!(w.contains(why), "{splice:?}: {w}"),
            other => panic!("{splice:?} should fail with BadSplice: {other:?}"),
        }
    }
    let r = returns_of(
        &mut bad,
        vec![Command::FreeBuffer {
            offset: held.buffer.offset,
        }],
    );
    assert!(r.is_empty(), "{r:?}");

    // Garbage on a process connection (after the handshake) disconnects
    // that connection only.
    let (conn, _memfd, _) = raw_handshake(d.socket());
    conn.send(b"\x01\xff\xff\xff\xff garbage", &[]).unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(
        conn.recv(&mut buf, 4).unwrap().full_len,
        0,
        "not disconnected"
    );

    // Everyone is still served, the offender included.
    for p in [&mut good, &mut bad] {
        let out = p
            .call(Handle(0), 1, b"still", vec![], &[], &mut no_nested())
            .unwrap();
        assert_eq!(out.data(), b"echo:still");
    }
}

fn an_unprivileged_process_cannot_freeze_another(lp: Loop) {
    use std::os::unix::process::CommandExt;
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to run a client as another uid");
        return;
    }
    let d = Daemon::start(lp);
    let server = d.server();
    // Run the helper from the socket's 0755 directory, so that uid 65534
    // can execute it wherever the build directory lies.
    let exe = d.socket().with_file_name("testpeer");
    std::fs::copy(env!("CARGO_BIN_EXE_capbinder-shim-testpeer"), &exe).unwrap();
    let mut cmd = Cmd::new(&exe);
    cmd.arg("freeze")
        .arg(d.socket())
        .arg(server.pid().to_string())
        .uid(65534)
        .gid(65534);
    let mut nobody = Proc::spawn(cmd);
    let line = nobody.expect_line("freeze:");
    assert!(
        line.contains("NotPrivileged"),
        "an unprivileged freeze must be refused: {line}"
    );
    // The target is not frozen: the same process is still served.
    nobody.expect_line("echo:after-freeze");
    assert!(nobody.wait_exit().success());
    let s = d.state();
    assert!(s.processes.iter().all(|p| !p.frozen), "{s:#?}");
    // Root may freeze, and a frozen process gets no sync calls.
    let mut me = Peer::open(d.socket()).unwrap();
    let r = returns_of(
        &mut me,
        vec![Command::Freeze {
            pid: server.pid(),
            enable: true,
            hold: false,
        }],
    );
    assert!(r.is_empty(), "{r:?}");
    let out = me
        .call(Handle(0), 1, b"frozen?", vec![], &[], &mut no_nested())
        .unwrap();
    assert!(
        matches!(out, Outcome::Failed(Return::FrozenReply { .. })),
        "{out:?}"
    );
    let r = returns_of(
        &mut me,
        vec![Command::Freeze {
            pid: server.pid(),
            enable: false,
            hold: false,
        }],
    );
    assert!(r.is_empty(), "{r:?}");
    assert_eq!(
        me.call(Handle(0), 1, b"thawed", vec![], &[], &mut no_nested())
            .unwrap()
            .data(),
        b"echo:thawed"
    );
}

/// Makes the calling thread SCHED_FIFO at `rt`; `false` if the kernel
/// refuses (no CAP_SYS_NICE, or a cgroup without real-time runtime).
fn make_me_fifo(rt: u8) -> bool {
    use capbinder_kmod_shim::sys::sched::{self, SchedPolicy, ThreadSched};
    let fifo = ThreadSched {
        policy: SchedPolicy::Fifo,
        nice: 0,
        rt_priority: rt,
        reset_on_fork: false,
    };
    match sched::set_thread_sched(rustix::thread::gettid(), &fifo) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("skipped: this thread cannot become SCHED_FIFO here ({e})");
            false
        }
    }
}

fn make_me_normal() {
    use capbinder_kmod_shim::sys::sched::{self, ThreadSched};
    sched::set_thread_sched(rustix::thread::gettid(), &ThreadSched::normal(0)).unwrap();
}

/// Calls code 17 as SCHED_FIFO 10, then code 18; returns both answers.
fn call_as_fifo(me: &mut Peer) -> Option<(String, String)> {
    if !make_me_fifo(10) {
        return None;
    }
    let during = me.call(Handle(0), 17, b"", vec![], &[], &mut no_nested());
    make_me_normal();
    let during = String::from_utf8(during.unwrap().data()).unwrap();
    let after = me
        .call(Handle(0), 18, b"", vec![], &[], &mut no_nested())
        .unwrap()
        .data();
    Some((during, String::from_utf8(after).unwrap()))
}

fn a_migrated_call_restores_what_the_thread_set_for_itself(lp: Loop) {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: priority migration needs CAP_SYS_NICE (root)");
        return;
    }
    let d = Daemon::start(lp);
    let _server = d.server();
    let mut me = Peer::open(d.socket()).unwrap();
    // The server thread sets itself to nice 5 after it registered.
    let set = me
        .call(Handle(0), 20, b"", vec![], &[], &mut no_nested())
        .unwrap()
        .data();
    let set = String::from_utf8(set).unwrap();
    assert!(set.starts_with("set Normal/rt=0/nice=5"), "{set}");
    let Some((during, after)) = call_as_fifo(&mut me) else {
        return;
    };
    assert!(during.starts_with("during=Fifo/rt=10"), "{during}");
    assert!(
        after.starts_with("after=Normal/rt=0/nice=5"),
        "the thread's own nice 5 must come back, not its registration's 0: {after}"
    );
}

fn priority_migrates_to_the_server_thread_and_is_restored(lp: Loop) {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: priority migration needs CAP_SYS_NICE (root)");
        return;
    }
    let d = Daemon::start(lp);
    let _server = d.server();
    let mut me = Peer::open(d.socket()).unwrap();
    assert_ne!(
        me.dev.welcome().features & capbinder_core::features::PRIORITY_MIGRATION,
        0,
        "a root mediator migrates priorities"
    );
    let Some((during, after)) = call_as_fifo(&mut me) else {
        return;
    };
    assert!(
        during.starts_with("during=Fifo/rt=10/nice=0/reset_on_fork=true "),
        "the server thread must run the call at the caller's priority: {during}"
    );
    assert!(
        during.contains("policy: Fifo") && during.contains("rt: 10"),
        "{during}"
    );
    assert!(
        after.starts_with("after=Normal/rt=0/nice=0/reset_on_fork=false "),
        "the server thread's own priority must be back after the reply: {after}"
    );

    // Through a nested chain A -> B -> C: both servers run at A's priority
    // while the chain stands, and each gets its own back after its reply.
    let c = Proc::spawn(d.peer("service", &[]));
    c.expect_line("ready");
    assert!(make_me_fifo(10));
    let during = me.call(Handle(0), 11, b"sched", vec![], &[], &mut no_nested());
    make_me_normal();
    let during = String::from_utf8(during.unwrap().data()).unwrap();
    let fifo = "=Fifo/rt=10/nice=0/reset_on_fork=true";
    assert!(
        during.contains(&format!("c-during{fifo}")) && during.contains(&format!("b-during{fifo}")),
        "{during}"
    );
    let b_after = me
        .call(Handle(0), 18, b"", vec![], &[], &mut no_nested())
        .unwrap()
        .data();
    let b_after = String::from_utf8(b_after).unwrap();
    assert!(
        b_after.starts_with("after=Normal/rt=0/nice=0/reset_on_fork=false "),
        "{b_after}"
    );
    let c_after = me
        .call(Handle(0), 11, b"after", vec![], &[], &mut no_nested())
        .unwrap()
        .data();
    let c_after = String::from_utf8(c_after).unwrap();
    assert!(
        c_after.ends_with("c-after=Normal/rt=0/nice=0/reset_on_fork=false"),
        "{c_after}"
    );
}

fn without_migration_the_priority_is_only_reported(lp: Loop) {
    let d = Daemon::start_with(lp, "migrate_priority = \"off\"\n");
    let _server = d.server();
    let mut me = Peer::open(d.socket()).unwrap();
    assert_eq!(
        me.dev.welcome().features & capbinder_core::features::PRIORITY_MIGRATION,
        0
    );
    let Some((during, after)) = call_as_fifo(&mut me) else {
        return;
    };
    assert!(
        during.starts_with("during=Normal/rt=0/nice=0/reset_on_fork=false "),
        "without migration no thread's priority changes: {during}"
    );
    assert!(
        during.contains("sender=Some(Priority { policy: Fifo, nice: 0, rt: 10 })"),
        "the caller's priority is still reported: {during}"
    );
    assert!(
        after.starts_with("after=Normal/rt=0/nice=0/reset_on_fork=false "),
        "{after}"
    );
}

fn real_and_effective_uid_are_told_apart(lp: Loop) {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to make a process with real uid != effective uid");
        return;
    }
    let d = Daemon::start(lp);
    let _server = d.server();
    let who = Proc::spawn(d.peer("whoami", &[]));
    let line = who.expect_line("pid=");
    assert_eq!(line, format!("pid={} uid=65534 euid=0", who.pid()));
    // This process: both 0.
    let mut me = Peer::open(d.socket()).unwrap();
    let out = me
        .call(Handle(0), 19, b"", vec![], &[], &mut no_nested())
        .unwrap();
    assert_eq!(
        String::from_utf8(out.data()).unwrap(),
        format!("pid={} uid=0 euid=0", std::process::id())
    );
}

fn the_blob_threshold_is_configurable_and_announced(lp: Loop) {
    let d = Daemon::start_with(lp, "[limits]\nblob_threshold = 65536\n");
    let dev = Device::open(Some(d.socket())).unwrap();
    assert_eq!(dev.limits().blob_threshold, 65536);
    assert_ne!(dev.welcome().features & capbinder_core::features::BLOBS, 0);
}

fn the_loop_thread_takes_a_longer_scheduler_slice(lp: Loop) {
    use capbinder_kmod_shim::mediator::config::SLICE_FACTOR;
    use capbinder_kmod_shim::sys::sched::{self, SLICE_RANGE_NS};
    // What any new thread gets: `None` before Linux 6.12, which has no
    // slice to report or take.
    let default = std::thread::spawn(|| sched::set_own_slice(None).unwrap())
        .join()
        .unwrap();
    let cases = [
        (
            "",
            default.map(|ns| (ns * SLICE_FACTOR).min(*SLICE_RANGE_NS.end())),
        ),
        ("slice_us = 2500\n", default.map(|_| 2_500_000)),
        ("slice_us = 0\n", default),
    ];
    for (config, want) in cases {
        let d = Daemon::start_with(lp, config);
        // An answer means the loop runs, and it took its slice first.
        d.state();
        let pid = capbinder_kmod_shim::sys::Pid::from_raw(d.proc.pid()).unwrap();
        // capbinderd runs its loop on its main thread.
        assert_eq!(sched::slice_of(pid).unwrap(), want, "config {config:?}");
    }
}

fn a_client_that_never_reads_is_disconnected_and_others_are_served(lp: Loop) {
    let d = Daemon::start(lp);
    let _server = d.server();
    let mut flood = Peer::open(d.socket()).unwrap();
    let flood_pid = std::process::id() as i32;
    let mut good = Peer::open(d.socket()).unwrap();
    // 20 000 answers asked for, none read: more than the 4096 the
    // mediator keeps queued for one channel plus what the socket holds
    // (its send buffer takes the largest message, 256 KiB, so thousands
    // of small ones).
    for _ in 0..20 {
        flood
            .tc
            .write(&vec![Command::DumpState; 1000], &[])
            .unwrap();
    }
    // Not one read until the mediator has let it go: reading while it
    // still answers would race the mediator to its queue's limit.
    wait_for("the flooder's connection to go", || {
        let s = d.state();
        (s.processes.iter().filter(|p| p.pid == flood_pid).count() == 2).then_some(())
    });
    // It reads what was queued in the socket, then the end.
    let mut read = 0;
    loop {
        match flood.tc.read() {
            Ok(_) => read += 1,
            Err(DeviceError::Closed) => break,
            Err(e) => fail(format!("after {read} returns: {e}")),
        }
        if read >= 20_000 {
            fail("the flooding client was never disconnected");
        }
    }
    assert!(read < 20_000, "{read}");
    // Only that connection went: this process keeps `good` (and the
    // dump's own connection), which is still served.
    assert_eq!(
        good.call(Handle(0), 1, b"fine", vec![], &[], &mut no_nested())
            .unwrap()
            .data(),
        b"echo:fine"
    );
}

/// The peak memory of process `pid`, in KiB (`VmHWM`).
fn peak_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| fail(format!("no VmHWM for pid {pid}")))
}

/// One write of cheap commands that each ask for a large answer (a state
/// dump, for one byte) has the mediator queue a bounded amount for its
/// writer in a pass: the writer is disconnected, the mediator's peak
/// memory stays small, and it keeps serving. It used to encode every
/// answer of the write before any bound applied.
fn a_write_asking_for_huge_answers_is_cut_off_and_the_mediator_stays_small(lp: Loop) {
    let d = Daemon::start(lp);
    let _server = d.server();
    let mut flood = Peer::open(d.socket()).unwrap();
    let flood_pid = std::process::id() as i32;
    let mut good = Peer::open(d.socket()).unwrap();
    let one = state(&mut flood);
    let dump = postcard::to_allocvec(&one).unwrap().len();
    let n = 200_000;
    let before = peak_kib(d.proc.pid());
    flood.tc.write(&vec![Command::DumpState; n], &[]).unwrap();
    wait_for("the flooder's connection to go", || {
        let s = d.state();
        (s.processes.iter().filter(|p| p.pid == flood_pid).count() == 2).then_some(())
    });
    let grew = peak_kib(d.proc.pid()).saturating_sub(before);
    eprintln!("{n} dumps of {dump} bytes asked for; the mediator's peak grew {grew} KiB");
    assert!(grew < 64 << 10, "the peak grew {grew} KiB");
    assert_eq!(
        good.call(Handle(0), 1, b"fine", vec![], &[], &mut no_nested())
            .unwrap()
            .data(),
        b"echo:fine"
    );
}

/// The uid and gid of this process.
fn my_ids() -> (u32, u32) {
    (
        rustix::process::getuid().as_raw(),
        rustix::process::getgid().as_raw(),
    )
}

/// A daemon that lets this process prepare app connections even when the
/// tests do not run as root.
fn launcher_daemon(lp: Loop) -> Daemon {
    let (uid, _) = my_ids();
    Daemon::start_with(lp, &format!("privileged_uids = [{uid}]\n"))
}

/// Whether `c` has a message to read within `ms` milliseconds.
fn readable_within(c: &Channel, ms: i32) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let t = Timespec {
        tv_sec: (ms / 1000).into(),
        tv_nsec: ((ms % 1000) * 1_000_000).into(),
    };
    let mut fds = [PollFd::new(c, PollFlags::IN)];
    poll(&mut fds, Some(&t)).unwrap() > 0
}

fn a_prepared_app_connection_is_served_only_after_binding(lp: Loop) {
    let d = launcher_daemon(lp);
    let launcher = Device::open(Some(d.socket())).unwrap();
    let (uid, gid) = my_ids();
    let (end, token) = launcher.prepare_app("t.app", uid, gid).unwrap();
    let app = Channel::from_owned_fd(end).unwrap();
    let hello = ClientMsg::Hello(Hello {
        major: PROTOCOL_MAJOR,
        minor: 0,
        features: 0,
    });
    app.send(&wire::encode(&hello).unwrap(), &[]).unwrap();
    // Nothing answers the Hello: the connection is not read before binding,
    // though the mediator answers this process's other requests.
    assert!(
        !readable_within(&app, 300),
        "a pending connection was served"
    );
    let e = launcher.prepare_app("Not A Name", uid, gid).unwrap_err();
    assert!(e.to_string().contains("[a-z0-9._-]"), "{e}");
    assert!(!readable_within(&app, 0), "a pending connection was served");
    assert!(
        !d.state()
            .processes
            .iter()
            .any(|p| p.label.as_deref() == Some("t.app")),
        "an unbound app is a process already"
    );
    // Bound to this very process (its uid and gid are the prepared ones):
    // the Hello sent before is answered now.
    let me = rustix::process::getpid();
    let pidfd = capbinder_kmod_shim::sys::cred::pidfd_open(me).unwrap();
    let pid = launcher.bind_app(token, pidfd.as_fd()).unwrap();
    assert_eq!(pid, me.as_raw_nonzero().get());
    let mut buf = vec![0u8; 4096];
    let got = app.recv(&mut buf, 1).unwrap();
    match wire::decode(&buf[..got.len]).unwrap() {
        ServerMsg::Welcome(w) => assert_eq!(w.major, PROTOCOL_MAJOR),
        other => panic!("expected Welcome, got {other:?}"),
    }
    assert_eq!(got.fds.len(), 1, "the receive buffer comes with Welcome");
    // The mediator knows it by its name: that is its label.
    let s = d.state();
    let p = s
        .processes
        .iter()
        .find(|p| p.label.as_deref() == Some("t.app"))
        .unwrap_or_else(|| panic!("no process labelled t.app in {:?}", s.processes));
    assert_eq!((p.pid, p.uid), (pid, uid));
    // A token binds once.
    let e = launcher.bind_app(token, pidfd.as_fd()).unwrap_err();
    assert!(e.to_string().contains("no prepared app connection"), "{e}");
}

fn binding_an_app_to_a_process_of_another_uid_or_a_non_pidfd_is_refused(lp: Loop) {
    let d = launcher_daemon(lp);
    let launcher = Device::open(Some(d.socket())).unwrap();
    let (uid, gid) = my_ids();
    let other = if uid == 65534 { 65533 } else { 65534 };
    let (end, token) = launcher.prepare_app("t.other", other, other).unwrap();
    let app = Channel::from_owned_fd(end).unwrap();
    let pidfd = capbinder_kmod_shim::sys::cred::pidfd_open(rustix::process::getpid()).unwrap();
    let e = launcher.bind_app(token, pidfd.as_fd()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("runs as uid {uid}")) && msg.contains(&format!("not {other}")),
        "{msg}"
    );
    // The refused connection is gone: its end reads end-of-file.
    let mut buf = vec![0u8; 64];
    let got = app.recv(&mut buf, 0).unwrap();
    assert_eq!((got.full_len, got.fds.len()), (0, 0), "{got:?}");
    // A gid that differs is refused too.
    if gid != 65534 {
        let (_end, token) = launcher.prepare_app("t.gid", uid, 65534).unwrap();
        let e = launcher.bind_app(token, pidfd.as_fd()).unwrap_err();
        assert!(e.to_string().contains(&format!("runs as gid {gid}")), "{e}");
    }
    // Something that is not a pidfd.
    let (_end, token) = launcher.prepare_app("t.memfd", uid, gid).unwrap();
    let (not_pidfd, _map) = memfd::create_receive_buffer("not-a-pidfd", 4096).unwrap();
    let e = launcher.bind_app(token, not_pidfd.as_fd()).unwrap_err();
    assert!(e.to_string().contains("not a pidfd"), "{e}");
    // Still the same connection, still served.
    launcher.register_thread().unwrap();
}

fn an_unprivileged_process_cannot_prepare_an_app_identity(lp: Loop) {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to run a helper as uid 65534");
        return;
    }
    let d = Daemon::start(lp);
    let p = Proc::spawn(d.peer("prepare", &[]));
    let line = p.expect_line("prepare");
    assert!(
        line.starts_with("prepare refused:") && line.contains("effective uid 65534"),
        "{line}"
    );
    // Root may (the daemon's default configuration).
    let launcher = Device::open(Some(d.socket())).unwrap();
    launcher.prepare_app("t.root", 65534, 65534).unwrap();
}

fn a_launcher_that_dies_before_binding_drops_the_pending_connection(lp: Loop) {
    let d = launcher_daemon(lp);
    let launcher = Device::open(Some(d.socket())).unwrap();
    let (uid, gid) = my_ids();
    let (end, _token) = launcher.prepare_app("t.orphan", uid, gid).unwrap();
    let app = Channel::from_owned_fd(end).unwrap();
    drop(launcher);
    let mut buf = vec![0u8; 64];
    let got = app.recv(&mut buf, 0).unwrap();
    assert_eq!((got.full_len, got.fds.len()), (0, 0), "{got:?}");
}
