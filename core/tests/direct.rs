//! Direct channels (`capbinder_core::direct`): who may have one, what
//! ends it, and how a call made over one is adopted onto the stacks.

mod common;

use capbinder_core::*;
use common::*;

/// A server process with a pool thread owning object 0x10, a client
/// thread holding a strong handle to it, and a grant asked for.
struct Rig {
    w: World,
    server: ProcId,
    st: ThreadId,
    client: ProcId,
    ct: ThreadId,
    h: Handle,
}

fn rig() -> Rig {
    let mut w = World::with_sm();
    let (server, client) = (w.process(), w.process());
    let (st, ct) = (w.looper(server), w.thread(client));
    let h = w.give(st, 0x10, ct);
    Rig {
        w,
        server,
        st,
        client,
        ct,
        h,
    }
}

/// Asks for a channel on `h`; the slots are the caller's end, the
/// server's end and the mediator's duplicate.
fn request(w: &mut World, t: ThreadId, h: Handle) -> ([FdSlot; 3], Return, Vec<FdSlot>) {
    let fds = w.fds(3);
    w.cmd_full(t, Command::RequestDirect { handle: h }, fds.clone(), None);
    let (ret, got) = w.next_mail(t);
    (fds.try_into().unwrap(), ret, got)
}

/// The server's pool thread takes the channel: (grant, first ID).
fn take_serve(w: &mut World, st: ThreadId, end: FdSlot, caller: ThreadId) -> (u64, TxnId) {
    let (ret, fds) = w.next_mail(st);
    let Return::DirectServe {
        grant,
        target,
        sender,
        first_id,
    } = ret
    else {
        panic!("expected DirectServe, got {ret:?}")
    };
    assert_eq!(fds, vec![end], "the server's end goes with it");
    assert_eq!(target, (0x10, 0x10));
    assert_eq!(
        sender.tid,
        w.tid(caller),
        "the caller as the mediator knows it"
    );
    assert_eq!(sender.pid, w.pid(w.core.thread_proc(caller).unwrap()));
    // Process work done: the pool thread asks for more, as a looper does.
    w.ok(st, Command::WaitForWork);
    (grant, first_id)
}

#[test]
fn a_channel_is_granted_on_a_strong_handle_and_each_side_gets_its_end() {
    let Rig {
        mut w, st, ct, h, ..
    } = rig();
    let ([mine, theirs, _dup], ret, got) = request(&mut w, ct, h);
    assert_eq!(ret, Return::DirectGranted { handle: h });
    assert_eq!(got, vec![mine]);
    let (_, first_id) = take_serve(&mut w, st, theirs, ct);
    // Its calls' IDs are set aside: a later call's ID is past them all.
    w.call(ct, h, 1, vec![]);
    let tx = w.incoming(st);
    assert!(
        tx.id.0 >= first_id.0 + direct::ID_BLOCK,
        "{:?} vs {first_id:?}",
        tx.id
    );
    let d = w.dump();
    assert_eq!(d.direct.len(), 1);
    assert!(d.direct[0].served);
    assert_eq!(d.direct[0].handle, h.0);
}

#[test]
fn a_channel_is_refused_where_the_mediator_must_see_the_call() {
    let Rig {
        mut w,
        server,
        st,
        ct,
        h,
        ..
    } = rig();
    // Handle 0, a forged handle: refused, and all three fds closed.
    for bad in [Handle::CONTEXT_MANAGER, Handle(99)] {
        let (fds, ret, got) = request(&mut w, ct, bad);
        assert!(
            matches!(ret, Return::DirectRefused { handle, .. } if handle == bad),
            "{ret:?}"
        );
        assert!(got.is_empty());
        assert!(fds.iter().all(|f| w.closed.contains(f)));
    }
    // One channel per thread and node.
    let ([_, theirs, _], ret, _) = request(&mut w, ct, h);
    assert!(matches!(ret, Return::DirectGranted { .. }));
    take_serve(&mut w, st, theirs, ct);
    let (_, ret, _) = request(&mut w, ct, h);
    assert!(matches!(ret, Return::DirectRefused { .. }), "{ret:?}");
    // A server that serves on its own threads only (no pool threads):
    // the channel it served ends, and none is granted.
    let ct2 = w.thread(w.core.thread_proc(ct).unwrap());
    w.ok(st, Command::SetMaxThreads(0));
    assert_eq!(w.revoked.len(), 1);
    assert!(w.dump().direct.is_empty());
    let (_, ret, _) = request(&mut w, ct2, h);
    let Return::DirectRefused { error, .. } = ret else {
        panic!("{ret:?}")
    };
    assert!(error.to_string().contains("max threads 0"), "{error}");
    let _ = server;
}

#[test]
fn releasing_the_handle_revokes_the_channel() {
    let Rig {
        mut w, st, ct, h, ..
    } = rig();
    let ([_, theirs, dup], _, _) = request(&mut w, ct, h);
    take_serve(&mut w, st, theirs, ct);
    w.ok(ct, Command::Release(h));
    assert_eq!(
        w.revoked,
        vec![(dup, false)],
        "no new calls; one read is answered"
    );
    assert!(w.dump().direct.is_empty());
}

#[test]
fn the_servers_death_revokes_hard_and_the_callers_thread_exit_soft() {
    let Rig {
        mut w,
        server,
        st,
        ct,
        h,
        client,
    } = rig();
    let ([_, theirs, dup], _, _) = request(&mut w, ct, h);
    take_serve(&mut w, st, theirs, ct);
    let ct2 = w.thread(client);
    let h2 = w.give(st, 0x10, ct2);
    let ([_, theirs2, dup2], _, _) = request(&mut w, ct2, h2);
    take_serve(&mut w, st, theirs2, ct2);
    w.thread_exit(ct2);
    assert_eq!(w.revoked, vec![(dup2, false)]);
    w.exit(server);
    // A caller waiting for an answer is told at once.
    assert_eq!(w.revoked, vec![(dup2, false), (dup, true)]);
    assert!(w.dump().direct.is_empty());
}

#[test]
fn a_channel_not_yet_taken_closes_the_servers_end_when_revoked() {
    let Rig {
        mut w,
        st,
        ct,
        h,
        client,
        ..
    } = rig();
    // The only pool thread is busy: the channel waits in the queue.
    w.call(ct, h, 1, vec![]);
    let _busy = w.incoming(st);
    let caller = w.thread(client);
    let ([_, theirs, dup], ret, _) = request(&mut w, caller, h);
    assert!(matches!(ret, Return::DirectGranted { .. }), "{ret:?}");
    assert!(!w.dump().direct[0].served);
    // The handle goes before any thread took the channel.
    w.ok(caller, Command::Release(h));
    assert!(w.closed.contains(&theirs), "its server end is closed");
    assert_eq!(w.revoked, vec![(dup, false)]);
}

#[test]
fn freezing_the_server_revokes_its_channels_and_none_is_granted_while_frozen() {
    let mut w = World::with_sm();
    let (server, client, freezer) = (w.process(), w.process(), w.privileged_process());
    let (st, ct, ft) = (w.looper(server), w.thread(client), w.thread(freezer));
    let h = w.give(st, 0x10, ct);
    let ([_, theirs, dup], _, _) = request(&mut w, ct, h);
    take_serve(&mut w, st, theirs, ct);
    let pid = w.pid(server);
    w.ok(
        ft,
        Command::Freeze {
            pid,
            enable: true,
            hold: false,
        },
    );
    assert_eq!(w.revoked, vec![(dup, false)]);
    let ct2 = w.thread(client);
    let (_, ret, _) = request(&mut w, ct2, h);
    let Return::DirectRefused { error, .. } = ret else {
        panic!("{ret:?}")
    };
    assert!(error.to_string().contains("frozen"), "{error}");
}

#[test]
fn an_adopted_call_is_an_ordinary_call_to_the_thread_that_asked() {
    let Rig {
        mut w,
        server,
        st,
        ct,
        h,
        ..
    } = rig();
    let ([_, theirs, _], _, _) = request(&mut w, ct, h);
    take_serve(&mut w, st, theirs, ct);
    // The server's channel thread registers, and asks (on the channel)
    // to be adopted; the caller tells the mediator.
    let dt = w.thread(server);
    let tid = w.tid(dt);
    w.ok(
        ct,
        Command::AdoptDirect {
            handle: h,
            server_tid: tid,
        },
    );
    let tx = w.incoming(dt);
    assert!(tx.flags.adopted());
    assert_eq!(tx.buffer.len, 0);
    assert_eq!(tx.sender.tid, w.tid(ct));
    // It is on both stacks: the channel thread's reply answers the caller.
    w.free(dt, &tx);
    w.reply(dt, vec![]);
    assert!(matches!(w.answer(ct), Return::Reply(_)));
    assert!(w.dump().transactions.is_empty());
}

#[test]
fn an_adoption_is_refused_unless_the_mediator_makes_it() {
    let Rig {
        mut w,
        server,
        st,
        ct,
        h,
        ..
    } = rig();
    // No channel yet.
    let dt = w.thread(server);
    let tid = w.tid(dt);
    w.ok(
        ct,
        Command::AdoptDirect {
            handle: h,
            server_tid: tid,
        },
    );
    assert!(matches!(w.answer(ct), Return::FailedReply { .. }));
    // A plain call may not carry the mediator's flag.
    w.cmd(
        ct,
        Command::Transaction {
            handle: h,
            txn: TxnOut {
                code: 1,
                flags: TxnFlags(TxnFlags::ADOPTED),
                ..TxnOut::default()
            },
        },
    );
    let Return::FailedReply { error, .. } = w.answer(ct) else {
        panic!("a forged adoption went through")
    };
    assert!(matches!(error, Failure::DirectUnavailable(_)), "{error}");
    // A tid that is not the server's.
    let ([_, theirs, _], _, _) = request(&mut w, ct, h);
    take_serve(&mut w, st, theirs, ct);
    let other = w.thread(w.core.thread_proc(ct).unwrap());
    let tid = w.tid(other);
    w.ok(
        ct,
        Command::AdoptDirect {
            handle: h,
            server_tid: tid,
        },
    );
    assert!(matches!(w.answer(ct), Return::FailedReply { .. }));
    assert!(w.idle(dt));
}

#[test]
fn everything_is_freed_when_all_exit() {
    let Rig {
        mut w,
        server,
        st,
        ct,
        h,
        client,
    } = rig();
    let ([_, theirs, _], _, _) = request(&mut w, ct, h);
    take_serve(&mut w, st, theirs, ct);
    w.exit(client);
    w.exit(server);
    let sm = w.sm.unwrap().0;
    w.exit(sm);
    assert!(w.core.is_empty(), "{:#?}", w.dump());
}

#[test]
fn a_server_that_starts_polling_serves_no_channel() {
    let Rig {
        mut w, st, ct, h, ..
    } = rig();
    let ([_, theirs, dup], _, _) = request(&mut w, ct, h);
    take_serve(&mut w, st, theirs, ct);
    w.ok(st, Command::TakeWork);
    assert_eq!(w.revoked, vec![(dup, false)]);
    let ct2 = w.thread(w.core.thread_proc(ct).unwrap());
    let (_, ret, _) = request(&mut w, ct2, h);
    let Return::DirectRefused { error, .. } = ret else {
        panic!("{ret:?}")
    };
    assert!(error.to_string().contains("event loop"), "{error}");
}
