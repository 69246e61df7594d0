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

/// Asks for a channel on `h` from a new thread of `t`'s process, which is
/// refused: the reason.
fn refused_to_a_new_thread_of(w: &mut World, t: ThreadId, h: Handle) -> String {
    let t2 = w.thread(w.core.thread_proc(t).unwrap());
    let (_, ret, _) = request(w, t2, h);
    let Return::DirectRefused { error, .. } = ret else {
        panic!("{ret:?}")
    };
    error.to_string()
}

/// `caller` adopts its direct call on `h`, naming `server`'s tid.
fn adopt(w: &mut World, caller: ThreadId, h: Handle, server: ThreadId) {
    let server_tid = w.tid(server);
    w.ok(
        caller,
        Command::AdoptDirect {
            handle: h,
            server_tid,
        },
    );
}

/// A channel asked for and taken by the server's pool thread `st`: its
/// grant and the mediator's duplicate's slot.
fn open(w: &mut World, st: ThreadId, caller: ThreadId, h: Handle) -> (u64, FdSlot) {
    let ([_, theirs, dup], ret, _) = request(w, caller, h);
    assert!(matches!(ret, Return::DirectGranted { .. }), "{ret:?}");
    (take_serve(w, st, theirs, caller).0, dup)
}

/// The server's pool thread takes the channel: (grant, first ID).
fn take_serve(w: &mut World, st: ThreadId, end: FdSlot, caller: ThreadId) -> (u64, TxnId) {
    take_serve_of(w, st, end, caller, 0x10)
}

fn take_serve_of(
    w: &mut World,
    st: ThreadId,
    end: FdSlot,
    caller: ThreadId,
    ptr: u64,
) -> (u64, TxnId) {
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
    assert_eq!(target, (ptr, ptr));
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
    w.ok(st, Command::SetMaxThreads(0));
    assert_eq!(w.revoked.len(), 1);
    assert!(w.dump().direct.iter().all(|d| d.draining));
    let error = refused_to_a_new_thread_of(&mut w, ct, h);
    assert!(error.contains("max threads 0"), "{error}");
    let _ = server;
}

#[test]
fn releasing_the_handle_revokes_the_channel() {
    let Rig {
        mut w, st, ct, h, ..
    } = rig();
    let (_, dup) = open(&mut w, st, ct, h);
    w.ok(ct, Command::Release(h));
    // Nobody waits for what it queued: dropped unread, shut both ways.
    assert_eq!(w.revoked, vec![(dup, true, true)]);
    // Draining until the server's thread closes its end.
    let d = w.dump();
    assert!(
        d.direct.len() == 1 && d.direct[0].draining,
        "{:?}",
        d.direct
    );
    w.ok(
        st,
        Command::DirectClosed {
            grant: d.direct[0].grant,
        },
    );
    assert!(w.dump().direct.is_empty());
}

#[test]
fn the_servers_death_and_the_callers_thread_exit_shut_the_channel_both_ways() {
    let Rig {
        mut w,
        server,
        st,
        ct,
        h,
        client,
    } = rig();
    let (_, dup) = open(&mut w, st, ct, h);
    let ct2 = w.thread(client);
    let h2 = w.give(st, 0x10, ct2);
    let (_, dup2) = open(&mut w, st, ct2, h2);
    w.thread_exit(ct2);
    assert_eq!(w.revoked, vec![(dup2, true, true)]);
    w.exit(server);
    // A caller waiting for an answer is told at once; the draining
    // channel is forgotten with its server.
    assert_eq!(w.revoked, vec![(dup2, true, true), (dup, true, false)]);
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
    assert_eq!(w.revoked, vec![(dup, true, true)]);
    // No thread there to wait for: forgotten at once.
    assert!(w.dump().direct.is_empty());
}

#[test]
fn freezing_the_server_revokes_its_channels_and_none_is_granted_while_frozen() {
    let mut w = World::with_sm();
    let (server, client, freezer) = (w.process(), w.process(), w.privileged_process());
    let (st, ct, ft) = (w.looper(server), w.thread(client), w.thread(freezer));
    let h = w.give(st, 0x10, ct);
    let (_, dup) = open(&mut w, st, ct, h);
    let pid = w.pid(server);
    w.ok(
        ft,
        Command::Freeze {
            pid,
            enable: true,
            hold: false,
        },
    );
    assert_eq!(
        w.revoked,
        vec![(dup, false, false)],
        "calls sent are still answered"
    );
    let error = refused_to_a_new_thread_of(&mut w, ct, h);
    assert!(error.contains("frozen"), "{error}");
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
    let (grant, _) = open(&mut w, st, ct, h);
    // The server's channel thread registers, tells the mediator it awaits
    // the adoption, and asks the caller (on the channel); the caller tells
    // the mediator.
    let dt = w.thread(server);
    w.ok(dt, Command::AwaitAdoption { grant });
    adopt(&mut w, ct, h, dt);
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
    adopt(&mut w, ct, h, dt);
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
    open(&mut w, st, ct, h);
    let other = w.thread(w.core.thread_proc(ct).unwrap());
    adopt(&mut w, ct, h, other);
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
    open(&mut w, st, ct, h);
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
    let (_, dup) = open(&mut w, st, ct, h);
    w.ok(st, Command::TakeWork);
    assert_eq!(w.revoked, vec![(dup, false, false)]);
    let error = refused_to_a_new_thread_of(&mut w, ct, h);
    assert!(error.contains("event loop"), "{error}");
}

/// Review finding: an adoption may name only the thread that asked for
/// it, for this caller's channel, on this handle's node.
#[test]
fn an_adoption_cannot_be_aimed_at_a_thread_that_did_not_ask_for_it() {
    let mut w = World::with_sm();
    let (server, a, b) = (w.process(), w.process(), w.process());
    let (st, at, bt) = (w.looper(server), w.thread(a), w.thread(b));
    let ha = w.give(st, 0x10, at);
    let hb = w.give(st, 0x20, bt);
    let ([_, ea, _], _, _) = request(&mut w, at, ha);
    let (ga, _) = take_serve_of(&mut w, st, ea, at, 0x10);
    let ([_, eb, _], _, _) = request(&mut w, bt, hb);
    let (gb, _) = take_serve_of(&mut w, st, eb, bt, 0x20);
    // The idle pool looper asked for nothing.
    adopt(&mut w, at, ha, st);
    assert!(matches!(w.answer(at), Return::FailedReply { .. }));
    // B's channel thread awaits B's adoption: A cannot take it.
    let db = w.thread(server);
    w.ok(db, Command::AwaitAdoption { grant: gb });
    adopt(&mut w, at, ha, db);
    assert!(matches!(w.answer(at), Return::FailedReply { .. }));
    assert!(w.idle(db));
    // Nor can a thread of another process claim to serve A's channel.
    let other = w.thread(b);
    let e = w.err(other, Command::AwaitAdoption { grant: ga });
    assert!(matches!(e, Failure::DirectUnavailable(_)), "{e}");
    // B's own adoption still works.
    adopt(&mut w, bt, hb, db);
    assert!(w.incoming(db).flags.adopted());
}

/// Review finding: revoked channels whose server threads still run count
/// against the server's channels, so asking again cannot pile up threads.
#[test]
fn draining_channels_count_until_their_server_thread_closes_them() {
    let mut w = World::with_sm();
    let (server, client) = (w.process(), w.process());
    let st = w.looper(server);
    w.ok(st, Command::SetMaxThreads(1));
    let ct = w.thread(client);
    let h = w.give(st, 0x10, ct);
    let (grant, _) = open(&mut w, st, ct, h);
    w.thread_exit(ct);
    let ct2 = w.thread(client);
    let (_, ret, _) = request(&mut w, ct2, h);
    assert!(matches!(ret, Return::DirectRefused { .. }), "{ret:?}");
    // Its channel thread closes its end.
    let dt = w.thread(server);
    w.ok(dt, Command::DirectClosed { grant });
    let ([_, theirs, _], ret, _) = request(&mut w, ct2, h);
    assert!(matches!(ret, Return::DirectGranted { .. }), "{ret:?}");
    take_serve(&mut w, st, theirs, ct2);
}

/// Review finding: a call the server read before a freeze can still be
/// adopted after the thaw (the channel drains, it does not vanish).
#[test]
fn a_call_read_before_a_freeze_is_adopted_after_the_thaw() {
    let mut w = World::with_sm();
    let (server, client, freezer) = (w.process(), w.process(), w.privileged_process());
    let (st, ct, ft) = (w.looper(server), w.thread(client), w.thread(freezer));
    let h = w.give(st, 0x10, ct);
    let (grant, _) = open(&mut w, st, ct, h);
    let dt = w.thread(server);
    let pid = w.pid(server);
    for enable in [true, false] {
        w.ok(
            ft,
            Command::Freeze {
                pid,
                enable,
                hold: false,
            },
        );
    }
    w.ok(dt, Command::AwaitAdoption { grant });
    adopt(&mut w, ct, h, dt);
    let tx = w.incoming(dt);
    assert!(tx.flags.adopted());
    w.free(dt, &tx);
    w.reply(dt, vec![]);
    assert!(matches!(w.answer(ct), Return::Reply(_)));
}

/// Randomized: several clients and servers asking for channels, adopting,
/// closing, releasing, freezing, lowering their pools, polling, ending
/// threads and dying, in any order. Every step keeps the invariants
/// (`World` checks them), nothing else is ever handed an adopted call, and
/// once everyone has exited nothing is left.
#[test]
fn random_channel_lifecycles_keep_the_invariants_and_free_everything() {
    let (mut revoked, mut adopted) = (0, 0);
    for seed in 1..=64u64 {
        let (r, a) = random_run(seed, 600);
        revoked += r;
        adopted += a;
    }
    // The runs reach the states they are for.
    assert!(
        revoked > 32 && adopted > 8,
        "{revoked} revoked, {adopted} adopted"
    );
}

/// One run: how many channels were revoked, and calls adopted.
fn random_run(seed: u64, steps: usize) -> (usize, usize) {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut rnd = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n.max(1) as u64) as usize
    };
    let mut w = World::with_sm();
    let freezer = w.privileged_process();
    let ft = w.thread(freezer);
    let servers: Vec<ProcId> = (0..2).map(|_| w.process()).collect();
    let clients: Vec<ProcId> = (0..3).map(|_| w.process()).collect();
    let mut pools = Vec::new();
    for &s in &servers {
        pools.push(w.looper(s));
    }
    // Each client thread holds a handle to each server's object.
    let mut held: Vec<(ThreadId, Handle)> = Vec::new();
    for &c in &clients {
        let ct = w.thread(c);
        for (i, &st) in pools.iter().enumerate() {
            held.push((ct, w.give(st, 0x10 + i as u64, ct)));
        }
    }
    let mut dead: Vec<ProcId> = Vec::new();
    let mut adopted = 0;
    for _ in 0..steps {
        let alive = |p: &ProcId, dead: &Vec<ProcId>| !dead.contains(p);
        let (ct, h) = held[rnd(held.len())];
        let Some(cp) = w.core.thread_proc(ct) else {
            continue;
        };
        let grants = w.dump().direct;
        let grant = grants.get(rnd(grants.len() + 1)).map_or(99, |d| d.grant);
        let sp = servers[rnd(servers.len())];
        if !alive(&sp, &dead) || !alive(&cp, &dead) {
            continue;
        }
        let any_thread = |w: &mut World, p: ProcId, r: usize| {
            let ts = w.core.threads_of(p);
            if ts.is_empty() || r % 4 == 0 {
                w.thread(p)
            } else {
                ts[r % ts.len()]
            }
        };
        match rnd(12) {
            0 | 1 => {
                let fds = w.fds(3);
                w.cmd_full(ct, Command::RequestDirect { handle: h }, fds, None);
            }
            2 => {
                let t = any_thread(&mut w, sp, rnd(100));
                w.cmd(t, Command::AwaitAdoption { grant });
            }
            3 if rnd(2) == 0 => {
                // A legal adoption: a thread of the grant's server awaits
                // it, and the grant's caller adopts on its handle.
                if let Some(d) = grants.get(rnd(grants.len() + 1)).cloned() {
                    let find = |w: &World, pid: i32, tid: i32| {
                        [servers.clone(), clients.clone()]
                            .concat()
                            .into_iter()
                            .filter(|p| !dead.contains(p) && w.pid(*p) == pid)
                            .flat_map(|p| w.core.threads_of(p))
                            .find(|&t| tid == 0 || w.tid(t) == tid)
                    };
                    if let (Some(st), Some(caller)) = (
                        find(&w, d.server_pid, 0),
                        find(&w, d.caller_pid, d.caller_tid),
                    ) {
                        let st = {
                            let p = w.core.thread_proc(st).unwrap();
                            w.thread(p)
                        };
                        w.cmd(st, Command::AwaitAdoption { grant: d.grant });
                        let tid = w.tid(st);
                        w.cmd(
                            caller,
                            Command::AdoptDirect {
                                handle: Handle(d.handle),
                                server_tid: tid,
                            },
                        );
                        // Served at once, now and then.
                        if rnd(2) == 0 {
                            for (ret, _) in w.take_mail(st) {
                                if let Return::Transaction(tx) = ret {
                                    assert!(tx.flags.adopted(), "{tx:?}");
                                    adopted += 1;
                                    w.free(st, &tx);
                                    w.reply(st, vec![]);
                                }
                            }
                        }
                    }
                }
            }
            3 => {
                let ts = w.core.threads_of(sp);
                let tid = ts.get(rnd(ts.len() + 1)).map_or(7, |&t| w.tid(t));
                w.cmd(
                    ct,
                    Command::AdoptDirect {
                        handle: h,
                        server_tid: tid,
                    },
                );
            }
            4 => {
                let t = any_thread(&mut w, sp, rnd(100));
                w.cmd(t, Command::DirectClosed { grant });
            }
            5 => w.cmd(ct, Command::Release(h)),
            6 => w.cmd(ct, Command::Acquire(h)),
            7 => {
                let pid = w.pid(sp);
                let enable = rnd(2) == 0;
                w.cmd(
                    ft,
                    Command::Freeze {
                        pid,
                        enable,
                        hold: rnd(2) == 0,
                    },
                );
            }
            8 => {
                let t = any_thread(&mut w, sp, rnd(100));
                let c = match rnd(4) {
                    0 => Command::SetMaxThreads(rnd(3) as u32),
                    1 => Command::TakeWork,
                    2 => Command::EnterLooper,
                    _ => Command::WaitForWork,
                };
                w.cmd(t, c);
            }
            9 => {
                // A thread of either side ends.
                let p = if rnd(2) == 0 { sp } else { cp };
                let ts = w.core.threads_of(p);
                if ts.len() > 1 {
                    w.thread_exit(ts[rnd(ts.len())]);
                }
            }
            10 if rnd(8) == 0 => {
                let p = if rnd(2) == 0 { sp } else { cp };
                w.exit(p);
                dead.push(p);
            }
            _ => {
                // Whatever a server thread was handed: an adopted call only
                // ever to a thread that awaited it; replied to.
                let ts = w.core.threads_of(sp);
                if let Some(&t) = ts.get(rnd(ts.len() + 1)) {
                    for (ret, _) in w.take_mail(t) {
                        if let Return::Transaction(tx) = ret {
                            adopted += usize::from(tx.flags.adopted());
                            w.free(t, &tx);
                            if !tx.flags.oneway() {
                                w.reply(t, vec![]);
                            }
                        }
                    }
                }
            }
        }
        // Answers to callers are read, as runtimes do.
        for &c in &clients {
            for t in w.core.threads_of(c) {
                for (ret, _) in w.take_mail(t) {
                    if let Return::Reply(tx) = ret {
                        w.free(t, &tx);
                    }
                }
            }
        }
    }
    for p in clients.into_iter().chain(servers).chain([freezer]) {
        w.exit(p);
    }
    let sm = w.sm.unwrap().0;
    w.exit(sm);
    assert!(w.core.is_empty(), "seed {seed}: {:#?}", w.dump());
    (w.revoked.len(), adopted)
}

/// Review finding: a thread that asked for an adoption and then moved on
/// (a call of its own, back to waiting for work) is handed no adopted
/// call: the caller's adoption fails instead, and no call is left on a
/// stack it does not belong to.
#[test]
fn an_adoption_goes_only_to_a_thread_still_waiting_for_it() {
    let mut w = World::with_sm();
    let (server, client, third) = (w.process(), w.process(), w.process());
    let (st, ct, tt) = (w.looper(server), w.thread(client), w.looper(third));
    let h = w.give(st, 0x10, ct);
    let (grant, _) = open(&mut w, st, ct, h);
    // A channel thread that asked, then made a call of its own.
    let dt = w.thread(server);
    let h3 = w.give(tt, 0x30, dt);
    w.ok(dt, Command::AwaitAdoption { grant });
    w.call(dt, h3, 7, vec![]);
    let _x = w.incoming(tt);
    adopt(&mut w, ct, h, dt);
    assert!(matches!(w.answer(ct), Return::FailedReply { .. }));
    assert!(w.idle(dt));
    // A pool thread that asked, then went back to waiting for work.
    w.ok(st, Command::AwaitAdoption { grant });
    w.ok(st, Command::WaitForWork);
    adopt(&mut w, ct, h, st);
    assert!(matches!(w.answer(ct), Return::FailedReply { .. }));
    assert!(w.idle(st));
}

/// Review finding: a call the server already runs is adopted even while
/// its process is held for a freeze (busy with another call): it is not
/// failed as frozen while its handler goes on.
#[test]
fn an_adoption_while_held_for_a_freeze_is_delivered() {
    let mut w = World::with_sm();
    let (server, client, freezer) = (w.process(), w.process(), w.privileged_process());
    let (st, ct, ft) = (w.looper(server), w.thread(client), w.thread(freezer));
    let h = w.give(st, 0x10, ct);
    let (grant, _) = open(&mut w, st, ct, h);
    let dt = w.thread(server);
    let other = w.process();
    let ot = w.thread(other);
    let h2 = w.give(st, 0x20, ot);
    w.call(ot, h2, 1, vec![]);
    let _busy = w.incoming(st);
    let pid = w.pid(server);
    w.cmd(
        ft,
        Command::Freeze {
            pid,
            enable: true,
            hold: true,
        },
    );
    w.ok(dt, Command::AwaitAdoption { grant });
    adopt(&mut w, ct, h, dt);
    assert!(w.idle(ct), "the caller waits for the answer");
    let tx = w.incoming(dt);
    assert!(tx.flags.adopted());
    w.free(dt, &tx);
    w.reply(dt, vec![]);
    assert!(matches!(w.answer(ct), Return::Reply(_)));
}
