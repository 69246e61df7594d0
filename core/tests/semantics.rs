//! One test per rule of binder's semantics, against the bare state machine.

mod common;

use capbinder_core::*;
use common::*;

fn serve_until_reply(w: &mut World, server: ThreadId, client: ThreadId) -> Return {
    w.serve(server);
    w.answer(client)
}

// ---- handles -------------------------------------------------------------

#[test]
fn stale_handle_is_an_error_not_another_object() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    w.ok(bt, Command::Release(h));
    // The same node again: a new handle, and the old one stays dead.
    let h2 = w.give(at, 0x10, bt);
    assert_ne!(h, h2);
    w.call(bt, h, 1, vec![]);
    match w.answer(bt) {
        Return::FailedReply { error, .. } => assert_eq!(error, Failure::BadHandle(h)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn forged_handle_is_an_error() {
    let mut w = World::with_sm();
    let a = w.process();
    let t = w.thread(a);
    let forged = Handle(7 << 32 | 3);
    w.call(t, forged, 1, vec![]);
    assert!(matches!(
        w.answer(t),
        Return::FailedReply { error: Failure::BadHandle(h), .. } if h == forged
    ));
    assert_eq!(
        w.err(t, Command::Acquire(forged)),
        Failure::BadHandle(forged)
    );
}

#[test]
fn a_handle_is_valid_only_in_the_process_that_holds_it() {
    let mut w = World::with_sm();
    let (a, b, c) = (w.process(), w.process(), w.process());
    let (at, bt, ct) = (w.looper(a), w.thread(b), w.thread(c));
    let h = w.give(at, 0x10, bt);
    // C names B's handle number: it is not in C's table.
    w.call(ct, h, 1, vec![]);
    assert!(matches!(
        w.answer(ct),
        Return::FailedReply {
            error: Failure::BadHandle(_),
            ..
        }
    ));
}

#[test]
fn same_node_sent_twice_gives_the_same_handle() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h1 = w.give(at, 0x10, bt);
    let h2 = w.give(at, 0x10, bt);
    assert_eq!(h1, h2);
    let r = &w.proc_state(b).refs;
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].strong, 2, "each delivery hands the receiver one count");
}

#[test]
fn handle_sent_back_to_its_owner_becomes_the_local_object() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    // B calls A's object passing A's object itself.
    w.call(
        bt,
        h,
        3,
        vec![Object::Handle {
            handle: h,
            strong: true,
            rights: Rights::ALL,
        }],
    );
    let tx = w.incoming(at);
    assert_eq!(tx.target, Some((0x10, 0x10)));
    assert!(matches!(tx.objects[0], Object::Binder { ptr: 0x10, .. }));
}

/// A call that carries an object back to its owner holds the object
/// until the owner frees the call's buffer, as binder's transaction buffer
/// holds every node it names: the last remote holder letting go meanwhile
/// does not make the owner release it, or the call (handed to one of its
/// threads, read later) would find it unexported.
#[test]
fn a_call_carrying_an_object_back_to_its_owner_holds_it_until_freed() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let hs = w.give(at, 0x10, bt);
    let hl = w.give(at, 0x20, bt);
    w.cmd(
        bt,
        Command::Transaction {
            handle: hs,
            txn: TxnOut {
                code: 3,
                flags: TxnFlags(TxnFlags::ONEWAY),
                data: DataRange { offset: 0, len: 16 },
                objects: vec![Object::Handle {
                    handle: hl,
                    strong: true,
                    rights: Rights::ALL,
                }],
                splices: Vec::new(),
                work_source: None,
            },
        },
    );
    let tx = w.incoming(at);
    assert!(matches!(tx.objects[0], Object::Binder { ptr: 0x20, .. }));
    // B lets go of its only handle to the object.
    w.ok(bt, Command::Release(hl));
    let released = |rets: &[Return]| {
        rets.iter().any(|r| {
            matches!(
                r,
                Return::Release { ptr: 0x20, .. } | Return::DecRefs { ptr: 0x20, .. }
            )
        })
    };
    w.ok(at, Command::WaitForWork);
    assert!(!released(&w.take(at)), "held by the unfreed buffer");
    w.free(at, &tx);
    w.ok(at, Command::WaitForWork);
    assert!(released(&w.take(at)), "let go once the buffer is freed");
}

/// A call to a handle held only weakly is refused, naming it, as binder
/// refuses a transaction to a handle without a strong reference.
#[test]
fn a_call_on_a_weakly_held_handle_is_refused() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    w.ok(bt, Command::IncRefs(h));
    w.ok(bt, Command::Release(h));
    w.call(bt, h, 1, vec![]);
    match w.answer(bt) {
        Return::FailedReply {
            error: Failure::WeakHandleCalled(x),
            ..
        } => assert_eq!(x, h),
        other => panic!("expected the call refused, got {other:?}"),
    }
}

#[test]
fn the_context_managers_node_reaches_others_as_handle_0_without_a_count() {
    // Binder's driver gives the context manager's node descriptor 0 in
    // every receiver, so the service manager found by name is the proxy a
    // process already holds as handle 0 (binderLibTest's
    // AddManagerToManager); a narrowed one stays a handle of its own.
    let mut w = World::with_sm();
    let (_, smt) = w.sm.unwrap();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.thread(a), w.looper(b));
    // The service manager answers with itself.
    w.call(at, Handle::CONTEXT_MANAGER, 2, vec![]);
    let tx = w.incoming(smt);
    w.free(smt, &tx);
    w.reply(smt, vec![binder(SM_PTR)]);
    w.ok(smt, Command::WaitForWork);
    let Return::Reply(r) = w.answer(at) else {
        panic!("no reply")
    };
    w.free(at, &r);
    assert_eq!(
        r.objects[0],
        Object::Handle {
            handle: Handle::CONTEXT_MANAGER,
            strong: true,
            rights: Rights::ALL
        }
    );
    assert!(w.proc_state(a).refs.is_empty(), "handle 0 holds no count");
    // A passes handle 0 on: whole, it is handle 0 again; narrowed, a
    // counted handle with the narrowed rights.
    let hb = w.give(bt, 0x10, at);
    let whole = Object::Handle {
        handle: Handle::CONTEXT_MANAGER,
        strong: true,
        rights: Rights::ALL,
    };
    let narrowed = Object::Handle {
        handle: Handle::CONTEXT_MANAGER,
        strong: true,
        rights: Rights::CALL,
    };
    w.call(at, hb, 1, vec![whole.clone(), narrowed]);
    let tx = w.incoming(bt);
    assert_eq!(tx.objects[0], whole);
    let Object::Handle { handle, rights, .. } = tx.objects[1] else {
        panic!("{tx:?}")
    };
    assert_ne!(handle, Handle::CONTEXT_MANAGER);
    assert_eq!(rights, Rights::CALL);
    assert_eq!(
        w.proc_state(b).refs.len(),
        1,
        "only the narrowed one counts"
    );
}

#[test]
fn rights_only_narrow_when_passed_on() {
    let mut w = World::with_sm();
    let (a, b, c) = (w.process(), w.process(), w.process());
    let (at, bt, ct) = (w.looper(a), w.looper(b), w.thread(c));
    let h_ab = w.give(at, 0x10, ct); // C holds A's object with all rights
    let h_cb = w.give(bt, 0x20, ct); // C can call B
                                     // C passes A's object to B as call-only.
    w.call(
        ct,
        h_cb,
        1,
        vec![Object::Handle {
            handle: h_ab,
            strong: true,
            rights: Rights::CALL,
        }],
    );
    let tx = w.incoming(bt);
    let Object::Handle {
        handle: hb, rights, ..
    } = tx.objects[0]
    else {
        panic!()
    };
    assert_eq!(rights, Rights::CALL);
    w.free(bt, &tx);
    // B cannot link to its death (no link-death right).
    let e = w.err(
        bt,
        Command::RequestDeath {
            handle: hb,
            cookie: 1,
        },
    );
    assert!(matches!(e, Failure::NoRight { needed, .. } if needed == Rights::LINK_DEATH));
    w.reply(bt, vec![]);
    let _ = w.answer(ct);
}

#[test]
fn a_call_only_handle_cannot_be_transferred() {
    let mut w = World::with_sm();
    let (a, b, c) = (w.process(), w.process(), w.process());
    let (at, bt, ct) = (w.looper(a), w.looper(b), w.thread(c));
    let h_a = w.give(at, 0x10, ct);
    let h_b = w.give(bt, 0x20, ct);
    w.call(
        ct,
        h_b,
        1,
        vec![Object::Handle {
            handle: h_a,
            strong: true,
            rights: Rights::CALL,
        }],
    );
    let tx = w.incoming(bt);
    let Object::Handle {
        handle: narrowed, ..
    } = tx.objects[0]
    else {
        panic!()
    };
    w.free(bt, &tx);
    w.reply(bt, vec![]);
    let _ = w.answer(ct);
    w.ok(bt, Command::WaitForWork);
    // B tries to hand the call-only handle to the service manager.
    let bt2 = w.thread(b);
    w.call(
        bt2,
        Handle::CONTEXT_MANAGER,
        1,
        vec![Object::Handle {
            handle: narrowed,
            strong: true,
            rights: Rights::ALL,
        }],
    );
    assert!(matches!(
        w.answer(bt2),
        Return::FailedReply { error: Failure::NoRight { needed, .. }, .. } if needed == Rights::TRANSFER
    ));
}

// ---- context manager -----------------------------------------------------

#[test]
fn context_manager_is_claimable_once() {
    let mut w = World::with_sm();
    let a = w.process();
    let t = w.thread(a);
    let e = w.err(
        t,
        Command::SetContextManager {
            ptr: 1,
            cookie: 1,
            flags: NodeFlags::default(),
        },
    );
    assert!(matches!(e, Failure::ContextManagerTaken(_)));
}

#[test]
fn context_manager_can_be_claimed_again_after_its_owner_died() {
    let mut w = World::with_sm();
    let (sm, _) = w.sm.unwrap();
    w.exit(sm);
    let a = w.process();
    let t = w.thread(a);
    w.ok(
        t,
        Command::SetContextManager {
            ptr: 1,
            cookie: 1,
            flags: NodeFlags::default(),
        },
    );
    assert_eq!(w.dump().context_manager, Some(w.pid(a)));
}

#[test]
fn handle_zero_without_a_context_manager_is_a_clear_error() {
    let mut w = World::new();
    let a = w.process();
    let t = w.thread(a);
    w.call(t, Handle::CONTEXT_MANAGER, 1, vec![]);
    assert!(matches!(
        w.answer(t),
        Return::FailedReply {
            error: Failure::NoContextManager,
            ..
        }
    ));
}

#[test]
fn configured_context_manager_uid_is_enforced() {
    let mut w = World::with(Config {
        context_manager_uid: Some(0),
        ..Config::default()
    });
    let a = w.process();
    let t = w.thread(a);
    let e = w.err(
        t,
        Command::SetContextManager {
            ptr: 1,
            cookie: 1,
            flags: NodeFlags::default(),
        },
    );
    assert!(matches!(
        e,
        Failure::ContextManagerDenied { allowed: 0, .. }
    ));
}

// ---- reference counting --------------------------------------------------

#[test]
fn first_strong_ref_tells_the_owner_on_the_sending_thread_before_the_reply() {
    let mut w = World::with_sm();
    let a = w.process();
    let at = w.thread(a);
    w.call(at, Handle::CONTEXT_MANAGER, 1, vec![binder(0x10)]);
    assert_eq!(
        w.take(at),
        vec![
            Return::IncRefs {
                ptr: 0x10,
                cookie: 0x10
            },
            Return::Acquire {
                ptr: 0x10,
                cookie: 0x10
            },
        ]
    );
    let (_, smt) = w.sm.unwrap();
    w.serve(smt);
    assert!(matches!(w.next(at), Return::Reply(_)));
}

#[test]
fn a_sync_round_trip_wakes_each_side_once() {
    // Binder defers a sync caller's TransactionComplete to the reply; the
    // mediator sends none at all (and none to the replier), so a round
    // trip is one message each way per side: four wakeups in all.
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    w.call(bt, h, 1, vec![]);
    assert!(w.idle(bt), "no TransactionComplete for a sync call");
    let tx = w.incoming(at);
    w.free(at, &tx);
    w.reply(at, vec![]);
    assert!(w.idle(at), "no TransactionComplete for a reply");
    assert_eq!(w.take(bt).len(), 1, "the reply alone");
}

#[test]
fn last_release_tells_the_owner_and_frees_the_node() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    let _ = w.take(at);
    w.ok(bt, Command::Release(h));
    // The owner's pool thread hears Release, then DecRefs.
    assert_eq!(
        w.next(at),
        Return::Release {
            ptr: 0x10,
            cookie: 0x10
        }
    );
    w.ok(at, Command::WaitForWork);
    assert_eq!(
        w.next(at),
        Return::DecRefs {
            ptr: 0x10,
            cookie: 0x10
        }
    );
    w.ok(at, Command::WaitForWork);
    assert!(w.proc_state(a).nodes.is_empty(), "node must be freed");
    assert!(w.proc_state(b).refs.is_empty());
}

#[test]
fn release_waits_for_the_owners_acquire_done() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let (_, smt) = w.sm.unwrap();
    // A sends its object but does not acknowledge the acquire yet.
    let a0 = at_caller(&mut w, a);
    w.call(a0, Handle::CONTEXT_MANAGER, 1, vec![binder(0x10)]);
    let tx = w.incoming(smt);
    let Object::Handle { handle: hs, .. } = tx.objects[0] else {
        panic!()
    };
    w.free(smt, &tx);
    w.reply(smt, vec![]);
    w.ok(smt, Command::Release(hs));
    // No Release may overtake the unacknowledged Acquire.
    assert!(w.idle(at), "{:?}", w.take(at));
    let _ = bt;
}

fn at_caller(w: &mut World, p: ProcId) -> ThreadId {
    w.thread(p)
}

/// The reference notices for `ptr` in the inboxes of `threads`, taken.
fn notices_for(w: &mut World, threads: &[ThreadId], ptr: u64) -> Vec<Return> {
    let mut got = Vec::new();
    for &t in threads {
        let Some(q) = w.inbox.get_mut(&t) else {
            continue;
        };
        q.retain(|(r, _)| match r {
            Return::IncRefs { ptr: p, .. }
            | Return::Acquire { ptr: p, .. }
            | Return::Release { ptr: p, .. }
            | Return::DecRefs { ptr: p, .. }
                if *p == ptr =>
            {
                got.push(r.clone());
                false
            }
            _ => true,
        });
    }
    got
}

/// The call `t` holds, skipping everything else in its inbox.
fn call_in(w: &mut World, t: ThreadId) -> TxnIn {
    let q = w.inbox.get_mut(&t).expect("something for this thread");
    let i = q
        .iter()
        .position(|(r, _)| matches!(r, Return::Transaction(_)))
        .unwrap_or_else(|| panic!("no call for {t:?}: {q:?}"));
    match q.remove(i) {
        Some((Return::Transaction(tx), _)) => *tx,
        _ => unreachable!(),
    }
}

/// A sends its object 0x10 to B's 0x20 only inside a oneway call, with two
/// idle pool threads; returns (a's threads, b's looper, b's handle to 0x10).
fn object_sent_only_oneway(w: &mut World) -> ([ThreadId; 3], ThreadId, Handle) {
    let (a, b) = (w.process(), w.process());
    let bl = w.looper(b);
    let a0 = w.thread(a);
    let hb = w.give(bl, 0x20, a0);
    let (a1, a2) = (w.looper(a), w.looper(a));
    w.cmd(
        a0,
        Command::Transaction {
            handle: hb,
            txn: TxnOut {
                code: 1,
                flags: TxnFlags(TxnFlags::ONEWAY),
                data: DataRange { offset: 0, len: 16 },
                objects: vec![binder(0x10)],
                splices: Vec::new(),
                work_source: None,
            },
        },
    );
    // The sending thread takes its references before its TransactionComplete.
    assert_eq!(
        w.take(a0),
        vec![
            Return::IncRefs {
                ptr: 0x10,
                cookie: 0x10
            },
            Return::Acquire {
                ptr: 0x10,
                cookie: 0x10
            },
            Return::TransactionComplete,
        ]
    );
    w.ok(
        a0,
        Command::IncRefsDone {
            ptr: 0x10,
            cookie: 0x10,
        },
    );
    w.ok(
        a0,
        Command::AcquireDone {
            ptr: 0x10,
            cookie: 0x10,
        },
    );
    let tx = w.incoming(bl);
    let Object::Handle { handle: hc, .. } = tx.objects[0] else {
        panic!("B should get a handle: {tx:?}")
    };
    w.free(bl, &tx);
    ([a0, a1, a2], bl, hc)
}

#[test]
fn a_oneway_call_in_flight_holds_its_target_until_its_buffer_is_freed() {
    // B calls A's object back (oneway) and lets go of it at once. A's pool
    // has two idle threads: one gets the call, and had the Release gone
    // to the other at once, A would unexport the object before the call
    // found it (binder holds a call's target node until its buffer is
    // freed: the owner is told Release only after that).
    let mut w = World::with_sm();
    let ([a0, a1, a2], bl, hc) = object_sent_only_oneway(&mut w);
    w.cmd(
        bl,
        Command::Transaction {
            handle: hc,
            txn: TxnOut {
                code: 2,
                flags: TxnFlags(TxnFlags::ONEWAY),
                data: DataRange { offset: 0, len: 8 },
                objects: vec![],
                splices: Vec::new(),
                work_source: None,
            },
        },
    );
    assert_eq!(w.next(bl), Return::TransactionComplete);
    w.ok(bl, Command::Release(hc));
    let threads = [a0, a1, a2];
    assert_eq!(
        notices_for(&mut w, &threads, 0x10),
        vec![],
        "A was told to let go of 0x10 while a call to it is on its way"
    );
    let at = *threads
        .iter()
        .find(|&&t| !w.idle(t))
        .expect("the call went to a pool thread");
    let tx = call_in(&mut w, at);
    assert_eq!(tx.target, Some((0x10, 0x10)));
    assert_eq!(notices_for(&mut w, &threads, 0x10), vec![]);
    // Once A is done with the call, it is told (Release first, to a pool
    // thread; DecRefs to the next that asks for work).
    w.free(at, &tx);
    let mut got = notices_for(&mut w, &threads, 0x10);
    for t in [a1, a2] {
        w.rewait(t);
    }
    got.extend(notices_for(&mut w, &threads, 0x10));
    assert_eq!(
        got,
        vec![
            Return::Release {
                ptr: 0x10,
                cookie: 0x10
            },
            Return::DecRefs {
                ptr: 0x10,
                cookie: 0x10
            },
        ]
    );
    let a = w.core.thread_proc(a0).unwrap();
    assert!(w.proc_state(a).nodes.iter().all(|n| n.ptr != 0x10));
}

#[test]
fn a_sync_call_in_flight_holds_its_target_until_it_is_answered() {
    // The same with a sync call back: B's other thread lets go of the
    // object while the call is being served.
    let mut w = World::with_sm();
    let ([a0, a1, a2], bl, hc) = object_sent_only_oneway(&mut w);
    let b = w.core.thread_proc(bl).unwrap();
    let bt = w.thread(b);
    w.call(bt, hc, 2, vec![]);
    w.ok(bl, Command::Release(hc));
    let threads = [a0, a1, a2];
    assert_eq!(notices_for(&mut w, &threads, 0x10), vec![]);
    let at = *threads
        .iter()
        .find(|&&t| !w.idle(t))
        .expect("the call went to a pool thread");
    let tx = call_in(&mut w, at);
    assert_eq!(tx.target, Some((0x10, 0x10)));
    assert_eq!(notices_for(&mut w, &threads, 0x10), vec![]);
    w.free(at, &tx);
    w.reply(at, vec![]);
    assert!(matches!(w.answer(bt), Return::Reply(_)));
    let mut got = notices_for(&mut w, &threads, 0x10);
    for t in [a1, a2] {
        w.rewait(t);
    }
    got.extend(notices_for(&mut w, &threads, 0x10));
    assert_eq!(
        got,
        vec![
            Return::Release {
                ptr: 0x10,
                cookie: 0x10
            },
            Return::DecRefs {
                ptr: 0x10,
                cookie: 0x10
            },
        ]
    );
}

#[test]
fn refcount_underflow_is_an_error_not_a_wrap() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    let e = w.err(bt, Command::DecRefs(h));
    assert!(matches!(e, Failure::RefUnderflow { .. }));
    w.ok(bt, Command::Release(h));
    assert_eq!(w.err(bt, Command::Release(h)), Failure::BadHandle(h));
}

#[test]
fn weak_ref_promotes_only_while_the_object_is_held_strongly() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    w.ok(bt, Command::IncRefs(h));
    w.ok(bt, Command::Release(h)); // now weak only; owner told Release
    let e = w.err(bt, Command::Acquire(h));
    // The owner was told Release but had acknowledged nothing pending, so
    // the object may already be gone: promotion fails.
    assert_eq!(e, Failure::PromotionFailed(h));
}

#[test]
fn unexpected_acknowledgement_is_an_error() {
    let mut w = World::with_sm();
    let a = w.process();
    let t = w.thread(a);
    let e = w.err(
        t,
        Command::AcquireDone {
            ptr: 0x99,
            cookie: 0x99,
        },
    );
    assert!(matches!(e, Failure::UnexpectedAck { .. }));
}

// ---- transactions and stacks ---------------------------------------------

#[test]
fn call_and_reply_carry_the_payload_and_identity() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    w.call_len(bt, h, 42, vec![], 100);
    let tx = w.incoming(at);
    assert_eq!(tx.code, 42);
    assert_eq!(tx.buffer.len, 100);
    assert_eq!(tx.sender.pid, w.pid(b));
    assert_eq!(tx.sender.uid, 1000 + w.pid(b) as u32);
    let copy = w.copies.last().unwrap();
    assert_eq!(
        (copy.0, copy.2, copy.3, copy.4),
        (bt, a, tx.buffer.offset, 100)
    );
    w.free(at, &tx);
    w.reply(at, vec![]);
    let Return::Reply(r) = w.answer(bt) else {
        panic!()
    };
    assert_eq!(r.id, tx.id, "the reply names the call's transaction ID");
}

/// libbinder's work source: the caller's claim travels with a call (sync
/// or oneway) as written, unchecked, and never with a reply.
#[test]
fn a_call_carries_the_work_source_its_caller_wrote_and_a_reply_none() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    let txn = |flags, work_source| TxnOut {
        code: 1,
        flags: TxnFlags(flags),
        data: DataRange { offset: 0, len: 8 },
        work_source,
        ..TxnOut::default()
    };
    w.cmd(
        bt,
        Command::Transaction {
            handle: h,
            txn: txn(0, Some(10_123)),
        },
    );
    let tx = w.incoming(at);
    assert_eq!(tx.sender.work_source, Some(10_123));
    w.free(at, &tx);
    w.cmd(at, Command::Reply(txn(0, Some(77))));
    let Return::Reply(r) = w.answer(bt) else {
        panic!()
    };
    assert_eq!(r.sender.work_source, None, "a reply carries none");
    w.free(bt, &r);
    w.rewait(at);
    w.cmd(
        bt,
        Command::Transaction {
            handle: h,
            txn: txn(TxnFlags::ONEWAY, Some(42)),
        },
    );
    let tx = w.incoming(at);
    assert_eq!(tx.sender.work_source, Some(42), "oneway too");
    w.free(at, &tx);
    w.rewait(at);
    w.call(bt, h, 2, vec![]);
    let tx = w.incoming(at);
    assert_eq!(tx.sender.work_source, None, "none written, none read");
}

/// Binder's `TF_CLEAR_BUF`: a sensitive payload's range of the receive
/// buffer is zeroed when it is freed, whoever frees it (the receiver, or
/// the core for a call that never arrived); others are left as they are.
#[test]
fn a_sensitive_payload_is_zeroed_when_its_range_is_freed() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    let sensitive = |w: &mut World, t, len| {
        w.cmd(
            t,
            Command::Transaction {
                handle: h,
                txn: TxnOut {
                    code: 1,
                    flags: TxnFlags(TxnFlags::CLEAR_BUF),
                    data: DataRange { offset: 0, len },
                    objects: vec![],
                    splices: vec![],
                    work_source: None,
                },
            },
        )
    };
    sensitive(&mut w, bt, 100);
    let tx = w.incoming(at);
    assert!(tx.flags.clear_buf(), "the receiver sees the flag");
    assert!(w.zeroed.is_empty(), "not before it is freed");
    w.free(at, &tx);
    assert_eq!(w.zeroed, vec![(a, tx.buffer.offset, 104)], "rounded to 8");
    // A sensitive reply is zeroed in the caller's buffer.
    w.cmd(
        at,
        Command::Reply(TxnOut {
            flags: TxnFlags(TxnFlags::CLEAR_BUF),
            data: DataRange { offset: 0, len: 8 },
            ..TxnOut::default()
        }),
    );
    let Return::Reply(r) = w.answer(bt) else {
        panic!()
    };
    w.ok(
        bt,
        Command::FreeBuffer {
            offset: r.buffer.offset,
        },
    );
    assert_eq!(w.zeroed.last(), Some(&(b, r.buffer.offset, 8)));
    // A plain call is not.
    w.ok(at, Command::WaitForWork);
    w.zeroed.clear();
    w.call_len(bt, h, 2, vec![], 100);
    w.serve(at);
    assert!(matches!(w.answer(bt), Return::Reply(_)));
    assert!(w.zeroed.is_empty());
    // Never delivered (its caller left first): the core frees and zeroes it.
    let (c, d) = (w.process(), w.process());
    let (ct, dt) = (w.thread(c), w.thread(d));
    let hc = w.give(ct, 0x20, dt);
    w.cmd(
        dt,
        Command::Transaction {
            handle: hc,
            txn: TxnOut {
                code: 1,
                flags: TxnFlags(TxnFlags::CLEAR_BUF),
                data: DataRange { offset: 0, len: 16 },
                objects: vec![],
                splices: vec![],
                work_source: None,
            },
        },
    );
    assert!(w.zeroed.is_empty(), "queued: C has no pool thread");
    w.thread_exit(dt);
    assert!(
        matches!(w.zeroed.as_slice(), [(p, _, 16)] if *p == c),
        "{:?}",
        w.zeroed
    );
}

/// libbinder zeroes a sensitive parcel's memory when it frees it; here
/// the sender's copy is its send area, which the mediator wipes once it has
/// copied the payload out: for calls and replies, also when the call fails,
/// and never for a plain payload.
#[test]
fn a_sensitive_payload_is_wiped_from_the_senders_send_area() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    let call = |handle, len| Command::Transaction {
        handle,
        txn: TxnOut {
            code: 1,
            flags: TxnFlags(TxnFlags::CLEAR_BUF),
            data: DataRange { offset: 8, len },
            ..TxnOut::default()
        },
    };
    let copied = |w: &World, t| w.copies.iter().filter(|c| c.0 == t).count();
    let before = copied(&w, bt);
    w.cmd(bt, call(h, 40));
    let tx = w.incoming(at);
    // After the copy out of it: the copy saw the bytes, then they went.
    assert_eq!(w.wiped, vec![(bt, 8, 40, before + 1)]);
    w.free(at, &tx);
    let before = copied(&w, at);
    w.cmd(
        at,
        Command::Reply(TxnOut {
            flags: TxnFlags(TxnFlags::CLEAR_BUF),
            data: DataRange { offset: 0, len: 8 },
            ..TxnOut::default()
        }),
    );
    assert!(matches!(w.answer(bt), Return::Reply(_)));
    assert_eq!(w.wiped.last(), Some(&(at, 0, 8, before + 1)));
    // A call that fails (a handle that names nothing) is wiped too.
    let n = w.wiped.len();
    w.cmd(bt, call(Handle(999), 16));
    assert!(matches!(w.answer(bt), Return::FailedReply { .. }));
    assert_eq!(w.wiped.len(), n + 1);
    assert_eq!(w.wiped.last().map(|x| (x.0, x.1, x.2)), Some((bt, 8, 16)));
    // A plain one is left alone, and so is an empty or out-of-bounds one.
    w.ok(at, Command::WaitForWork);
    w.call_len(bt, h, 2, vec![], 100);
    w.serve(at);
    assert!(matches!(w.answer(bt), Return::Reply(_)));
    w.ok(at, Command::WaitForWork);
    w.cmd(bt, call(h, 0));
    let tx = w.incoming(at);
    w.free(at, &tx);
    w.cmd(at, Command::Reply(TxnOut::default()));
    assert!(matches!(w.answer(bt), Return::Reply(_)));
    w.cmd(bt, call(h, u64::MAX));
    assert!(matches!(w.answer(bt), Return::FailedReply { .. }));
    assert_eq!(w.wiped.len(), n + 1);
}

/// What the I/O layer refuses before the core sees it (a memfd whose
/// seals do not hold) ends like the core's own refusals: a call fails back
/// to its sender, a reply fails the call it answers and comes off the
/// replier's stack; nobody waits on either.
#[test]
fn a_call_or_reply_refused_by_the_io_layer_fails_whoever_waits_on_it() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    let bad = || Failure::BadMemfd {
        object: 0,
        why: "blob: not sealed".into(),
    };
    let refuse = |w: &mut World, t: ThreadId, c: Command| {
        let fds = w.fds(1);
        w.refuse(t, c, bad(), fds);
    };
    let call = Command::Transaction {
        handle: h,
        txn: TxnOut::default(),
    };
    refuse(&mut w, bt, call);
    assert!(matches!(
        w.answer(bt),
        Return::FailedReply {
            error: Failure::BadMemfd { .. },
            ..
        }
    ));
    assert_eq!(w.closed.len(), 1, "the refused call's fd is closed");
    assert!(w.dump().transactions.is_empty());

    w.call(bt, h, 1, vec![]);
    let tx = w.incoming(at);
    w.free(at, &tx);
    refuse(&mut w, at, Command::Reply(TxnOut::default()));
    match w.answer(bt) {
        Return::FailedReply { id, error } => {
            assert_eq!((id, error), (tx.id, bad()));
        }
        other => panic!("{other:?}"),
    }
    assert!(w.dump().transactions.is_empty(), "{:#?}", w.dump());
    // The replier's stack is empty again: its next call is its own.
    w.call(at, Handle::CONTEXT_MANAGER, 1, vec![]);
    let (_, smt) = w.sm.unwrap();
    w.serve(smt);
    assert!(matches!(w.answer(at), Return::Reply(_)));
}

fn reply_with(w: &mut World, t: ThreadId, len: u64, splices: Vec<Splice>) {
    w.cmd(
        t,
        Command::Reply(TxnOut {
            code: 0,
            flags: TxnFlags(0),
            data: DataRange { offset: 0, len },
            objects: vec![],
            splices,
            work_source: None,
        }),
    );
}

#[test]
fn a_splice_copies_from_the_senders_delivered_range_and_the_rest_from_its_send_area() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    let used = |w: &World| (w.proc_state(a).buffer.used, w.proc_state(b).buffer.used);
    let before = used(&w);
    w.call_len(bt, h, 1, vec![], 5000);
    let tx = w.incoming(at);
    w.copies.clear();
    // Echo bytes 16.. of the request back, between a 16-byte header and an
    // 8-byte trailer written in the send area.
    let s = Splice {
        at: 16,
        buffer: tx.buffer.offset,
        offset: 16,
        len: 4984,
    };
    reply_with(&mut w, at, 16 + 4984 + 8, vec![s]);
    let Return::Reply(r) = w.answer(bt) else {
        panic!("no reply")
    };
    let dst = r.buffer.offset;
    assert_eq!(r.buffer.len, 5008);
    assert_eq!(
        w.copies,
        vec![(at, 0, b, dst, 16), (at, 5000, b, dst + 5000, 8)],
        "the send area's bytes around the splice, not under it"
    );
    assert_eq!(
        w.spliced,
        vec![(a, tx.buffer.offset + 16, b, dst + 16, 4984)],
        "the spliced bytes straight from a's receive buffer"
    );
    // Placed half a page away from its source modulo 4 KiB (4K aliasing
    // made a copy a few bytes behind its source 15x slower), give or take
    // the 8-byte alignment.
    let apart = (dst + 16 + 4096 - (tx.buffer.offset + 16) % 4096) % 4096;
    assert!((2041..=2048).contains(&apart), "{apart} bytes apart");
    // The source range is a's to free as usual, after the copy.
    w.free(at, &tx);
    w.free(bt, &r);
    assert_eq!(used(&w), before, "both ranges freed");
}

#[test]
fn a_splice_must_name_bytes_the_sender_holds() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.looper(b));
    let (a2, b2) = (w.thread(a), w.thread(b));
    let to_a = w.give(at, 0x10, b2);
    let to_b = w.give(bt, 0x20, a2);
    // a holds 100 bytes from b.
    w.call_len(b2, to_a, 1, vec![], 100);
    let tx = w.incoming(at);
    let off = tx.buffer.offset;
    let splice = |buffer, offset, at, len| Splice {
        at,
        buffer,
        offset,
        len,
    };
    let send = |w: &mut World, splices: Vec<Splice>| {
        w.copies.clear();
        w.spliced.clear();
        w.cmd(
            a2,
            Command::Transaction {
                handle: to_b,
                txn: TxnOut {
                    code: 2,
                    flags: TxnFlags(0),
                    data: DataRange {
                        offset: 0,
                        len: 200,
                    },
                    objects: vec![],
                    splices,
                    work_source: None,
                },
            },
        );
    };
    let too_many = (0..=MAX_SPLICES as u64)
        .map(|i| splice(off, i, i, 1))
        .collect::<Vec<_>>();
    let cases = [
        (
            vec![splice(off, 50, 0, 60)],
            "not in a range this process holds",
        ),
        (
            vec![splice(off + 8, 0, 0, 8)],
            "not in a range this process holds",
        ),
        (vec![splice(off, 0, 190, 20)], "do not lie inside"),
        (vec![splice(off, 0, 0, 0)], "do not lie inside"),
        (vec![splice(off, 0, u64::MAX, 2)], "do not lie inside"),
        (
            vec![splice(off, 0, 50, 20), splice(off, 0, 60, 20)],
            "payload order",
        ),
        (too_many, "the limit is"),
    ];
    for (splices, expected) in cases {
        send(&mut w, splices.clone());
        match w.answer(a2) {
            Return::FailedReply {
                error: Failure::BadSplice { why, .. },
                ..
            } => assert!(why.contains(expected), "{splices:?}: {why}"),
            other => panic!("{splices:?} should fail with BadSplice, got {other:?}"),
        }
        assert!(
            w.copies.is_empty() && w.spliced.is_empty(),
            "nothing copied"
        );
    }
    // A good one: the first 100 bytes from a's buffer, the rest from its
    // send area.
    send(&mut w, vec![splice(off, 0, 0, 100)]);
    let got = w.incoming(bt);
    let dst = got.buffer.offset;
    assert_eq!(w.spliced, vec![(a, off, b, dst, 100)]);
    assert_eq!(w.copies, vec![(a2, 100, b, dst + 100, 100)]);
    w.free(bt, &got);
    w.reply(bt, vec![]);
    let Return::Reply(r) = w.answer(a2) else {
        panic!("no reply")
    };
    w.free(a2, &r);
    // Once a frees the range, it is no longer a's to splice.
    w.free(at, &tx);
    send(&mut w, vec![splice(off, 0, 0, 8)]);
    assert!(matches!(
        w.answer(a2),
        Return::FailedReply {
            error: Failure::BadSplice { .. },
            ..
        }
    ));
}

#[test]
fn transaction_ids_are_unique() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    let mut ids = std::collections::HashSet::new();
    for _ in 0..20 {
        w.call(bt, h, 1, vec![]);
        let tx = w.serve(at);
        w.ok(at, Command::WaitForWork);
        let _ = w.answer(bt);
        assert!(ids.insert(tx.id));
    }
}

#[test]
fn nested_call_lands_on_the_thread_already_waiting() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (a0, a_pool, b_pool) = (w.thread(a), w.looper(a), w.looper(b));
    let to_b = w.give(b_pool, 0x20, a0);
    let _ = w.take(b_pool);
    let to_a = w.give(a_pool, 0x10, b_pool);
    let _ = w.take(a_pool);
    let _ = w.take(b_pool);
    w.ok(b_pool, Command::WaitForWork);
    w.ok(a_pool, Command::WaitForWork);
    w.call(a0, to_b, 1, vec![]); // A:0 -> B
    let _ = w.incoming(b_pool);
    w.call(b_pool, to_a, 2, vec![]); // B -> A, nested
    let nested = w.incoming(a0);
    assert_eq!(nested.code, 2, "the nested call goes to A:0, which waits");
    assert!(w.idle(a_pool), "A's idle pool thread gets nothing");
    w.free(a0, &nested);
    w.reply(a0, vec![]);
    assert!(matches!(w.answer(b_pool), Return::Reply(_)));
    w.reply(b_pool, vec![]);
    assert!(matches!(w.answer(a0), Return::Reply(_)));
    assert!(w.dump().transactions.is_empty());
}

#[test]
fn recursion_between_two_processes_works_at_any_depth() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (a0, a_pool, b_pool) = (w.thread(a), w.looper(a), w.looper(b));
    let to_b = w.give(b_pool, 0x20, a0);
    let to_a = w.give(a_pool, 0x10, b_pool);
    let _ = w.take(b_pool);
    let _ = w.take(a_pool);
    w.ok(b_pool, Command::WaitForWork);
    w.call(a0, to_b, 0, vec![]);
    let depth = 20;
    for i in 0..depth {
        let tx = w.incoming(b_pool);
        assert_eq!(tx.code, 2 * i);
        w.call(b_pool, to_a, 2 * i + 1, vec![]);
        let tx = w.incoming(a0);
        assert_eq!(tx.code, 2 * i + 1);
        w.call(a0, to_b, 2 * i + 2, vec![]);
    }
    let stack = &w
        .proc_state(a)
        .threads
        .iter()
        .find(|t| t.stack.len() > 1)
        .unwrap()
        .stack
        .clone();
    assert_eq!(stack.len(), 2 * depth as usize + 1);
    // Unwind: every level replies.
    let _ = w.incoming(b_pool);
    w.reply(b_pool, vec![]);
    for _ in 0..depth {
        assert!(matches!(w.answer(a0), Return::Reply(_)));
        w.reply(a0, vec![]);
        assert!(matches!(w.answer(b_pool), Return::Reply(_)));
        w.reply(b_pool, vec![]);
    }
    assert!(matches!(w.answer(a0), Return::Reply(_)));
    assert!(w.dump().transactions.is_empty());
}

#[test]
fn thread_waiting_for_a_reply_gets_nothing_unrelated() {
    let mut w = World::with_sm();
    let (a, b, c) = (w.process(), w.process(), w.process());
    let (a0, b_pool, ct) = (w.thread(a), w.looper(b), w.thread(c));
    let a_pool = w.looper(a);
    let to_b = w.give(b_pool, 0x20, a0);
    let to_a = w.give(a_pool, 0x10, ct);
    let _ = w.take(a_pool);
    w.ok(a_pool, Command::WaitForWork);
    let _ = w.take(b_pool);
    w.ok(b_pool, Command::WaitForWork);
    w.call(a0, to_b, 1, vec![]); // A:0 waits on B
    let _ = w.take(a0);
    w.call(ct, to_a, 9, vec![]); // unrelated call into A
    assert!(w.idle(a0), "A:0 must not receive C's call");
    assert_eq!(w.incoming(a_pool).code, 9);
}

#[test]
fn a_thread_makes_one_call_at_a_time() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    w.call(bt, h, 1, vec![]);
    let _ = w.take(bt);
    w.call(bt, h, 2, vec![]);
    assert!(matches!(
        w.answer(bt),
        Return::FailedReply {
            error: Failure::ThreadBusy(_),
            ..
        }
    ));
}

#[test]
fn reply_without_a_call_is_an_error() {
    let mut w = World::with_sm();
    let a = w.process();
    let t = w.thread(a);
    let e = w.err(t, Command::Reply(TxnOut::default()));
    assert_eq!(e, Failure::NoTransactionToReply);
}

#[test]
fn payload_outside_the_send_area_is_refused() {
    let mut w = World::with_sm();
    let a = w.process();
    let t = w.thread(a);
    w.cmd(
        t,
        Command::Transaction {
            handle: Handle::CONTEXT_MANAGER,
            txn: TxnOut {
                data: DataRange {
                    offset: u64::MAX - 1,
                    len: 10,
                },
                ..TxnOut::default()
            },
        },
    );
    assert!(matches!(
        w.answer(t),
        Return::FailedReply {
            error: Failure::DataOutOfBounds { .. },
            ..
        }
    ));
}

/// `Core::recycle`: a return handed back lends its box to the next
/// delivery, and nothing of the old call shows in the new one. The same
/// calls, with and without every return handed back, deliver the same.
#[test]
fn a_recycled_return_leaves_nothing_in_the_next_delivery() {
    fn run(recycle: bool) -> Vec<TxnIn> {
        let mut w = World::with_sm();
        let (a, b) = (w.process(), w.process());
        let (at, bt) = (w.looper(a), w.thread(b));
        let h = w.give(at, 0x10, bt);
        let mut seen = Vec::new();
        // Calls that differ in code, length and objects, so that a field
        // left over from the one before would show.
        for (code, objects, len) in [
            (7, vec![binder(0x20)], 64),
            (9, vec![], 8),
            (11, vec![binder(0x30), binder(0x40)], 200),
            (13, vec![], 0),
        ] {
            w.call_len(bt, h, code, objects, len);
            let tx = w.incoming(at);
            w.free(at, &tx);
            w.reply(at, vec![]);
            w.ok(at, Command::WaitForWork);
            let Return::Reply(reply) = w.answer(bt) else {
                panic!("no reply to call {code}")
            };
            w.free(bt, &reply);
            if recycle {
                w.core.recycle(Return::Transaction(Box::new(tx.clone())));
                w.core.recycle(Return::Reply(reply.clone()));
            }
            seen.push(tx);
            seen.push(*reply);
        }
        seen
    }
    assert_eq!(run(true), run(false));
}

// ---- oneway --------------------------------------------------------------

#[test]
fn oneway_calls_to_one_node_arrive_in_order_one_at_a_time() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (a1, a2, bt) = (w.looper(a), w.looper(a), w.thread(b));
    let h = w.give(a1, 0x10, bt);
    let _ = w.take(a1);
    w.ok(a1, Command::WaitForWork);
    for code in 0..10 {
        w.oneway(bt, h, code, 64);
        assert_eq!(w.next(bt), Return::TransactionComplete);
    }
    // Two idle threads, but only one oneway call is in flight per node.
    let mut got = Vec::new();
    let mut pending = vec![];
    for t in [a1, a2] {
        if !w.idle(t) {
            pending.push((t, w.incoming(t)));
        }
    }
    assert_eq!(pending.len(), 1);
    while let Some((t, tx)) = pending.pop() {
        got.push(tx.code);
        w.free(t, &tx);
        w.ok(t, Command::WaitForWork);
        for t in [a1, a2] {
            if !w.idle(t) {
                pending.push((t, w.incoming(t)));
            }
        }
        assert!(pending.len() <= 1);
    }
    assert_eq!(got, (0..10).collect::<Vec<_>>());
}

#[test]
fn a_oneway_senders_transaction_complete_goes_out_before_the_call_is_handed_on() {
    // The I/O layer sends effects in order, and the thread a call wakes
    // may take the mediator's CPU: the sender (maybe on another CPU) is
    // told first, so it need not wait for that thread to run.
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (a1, bt) = (w.looper(a), w.thread(b));
    let h = w.give(a1, 0x10, bt);
    let _ = w.take(a1);
    w.ok(a1, Command::WaitForWork);
    let txn = TxnOut {
        code: 7,
        flags: TxnFlags(TxnFlags::ONEWAY),
        data: DataRange { offset: 0, len: 64 },
        objects: vec![],
        splices: Vec::new(),
        work_source: None,
    };
    let mut fx = Vec::new();
    w.core.command(
        bt,
        Command::Transaction { handle: h, txn },
        vec![],
        None,
        &mut fx,
    );
    let told = told_after_every_copy(&fx, bt);
    assert!(told < first_delivery_to(&fx, a1), "{fx:#?}");
    w.apply(fx);
    assert_eq!(w.next(bt), Return::TransactionComplete);
    assert_eq!(w.incoming(a1).code, 7);
}

/// Where in `fx` the sender hears TransactionComplete (which lets it reuse
/// its send area), after asserting that every copy out of that area comes
/// before it.
fn told_after_every_copy(fx: &[Effect], sender: ThreadId) -> usize {
    let told = fx
        .iter()
        .position(|e| {
            matches!(e, Effect::Deliver { thread, ret: Return::TransactionComplete, .. } if *thread == sender)
        })
        .unwrap_or_else(|| panic!("no TransactionComplete for the sender: {fx:#?}"));
    let copies: Vec<usize> = (0..fx.len())
        .filter(|&i| matches!(fx[i], Effect::Copy { from, .. } if from == sender))
        .collect();
    assert!(!copies.is_empty(), "no copy out of the send area: {fx:#?}");
    assert!(copies.iter().all(|&c| c < told), "{fx:#?}");
    told
}

/// Where in `fx` the first delivery to `thread` is.
fn first_delivery_to(fx: &[Effect], thread: ThreadId) -> usize {
    fx.iter()
        .position(|e| matches!(e, Effect::Deliver { thread: t, .. } if *t == thread))
        .unwrap_or_else(|| panic!("nothing delivered to {thread:?}: {fx:#?}"))
}

#[test]
fn oneway_calls_may_use_at_most_half_the_receive_buffer() {
    let mut w = big_send_area();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    let half = w.core.limits().recv_buffer / 2;
    w.oneway(bt, h, 1, half);
    assert!(w.take(bt).contains(&Return::TransactionComplete));
    w.oneway(bt, h, 2, 8);
    match w.answer(bt) {
        Return::FailedReply {
            error: Failure::AsyncSpaceFull { limit, holders, .. },
            ..
        } => {
            assert_eq!(limit, half);
            assert_eq!(holders[0].pid, w.pid(b), "the error names who holds it");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn flooding_oneway_sender_is_reported_as_spam() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    let mut reported = false;
    for _ in 0..200 {
        w.oneway(bt, h, 1, 4096);
        for r in w.take(bt) {
            reported |= r == Return::OnewaySpamSuspect;
        }
    }
    assert!(reported);
}

fn big_send_area() -> World {
    let mut w = World::with(Config {
        limits: Limits {
            send_area: 1 << 20,
            ..Limits::default()
        },
        ..Config::default()
    });
    w.add_sm();
    w
}

// ---- buffers -------------------------------------------------------------

#[test]
fn full_buffer_fails_the_call_and_names_the_holders() {
    let mut w = big_send_area();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let at2 = w.looper(a);
    let h = w.give(at, 0x10, bt);
    let _ = w.take(at);
    w.ok(at, Command::WaitForWork);
    let total = w.core.limits().recv_buffer;
    // A holds one big delivered call without freeing it.
    let bt2 = w.thread(b);
    w.call_len(bt2, h, 1, vec![], total - 64);
    let _held = w.incoming(at);
    w.call_len(bt, h, 2, vec![], 4096);
    match w.answer(bt) {
        Return::FailedReply {
            error:
                Failure::BufferFull {
                    size,
                    total: t,
                    holders,
                    ..
                },
            ..
        } => {
            assert_eq!((size, t), (4096, total));
            assert_eq!(holders[0].pid, w.pid(b));
        }
        other => panic!("{other:?}"),
    }
    let _ = at2;
}

#[test]
fn double_free_is_an_error() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    w.call(bt, h, 1, vec![]);
    let tx = w.incoming(at);
    w.free(at, &tx);
    let e = w.err(
        at,
        Command::FreeBuffer {
            offset: tx.buffer.offset,
        },
    );
    assert_eq!(e, Failure::BadFree(tx.buffer.offset));
}

// ---- fds -----------------------------------------------------------------

#[test]
fn fds_travel_renumbered_and_close_when_the_call_fails() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    let fds = w.fds(2);
    w.cmd_full(
        bt,
        Command::Transaction {
            handle: h,
            txn: TxnOut {
                objects: vec![Object::Fd { index: 1 }, Object::Fd { index: 0 }],
                ..TxnOut::default()
            },
        },
        fds.clone(),
        None,
    );
    let (ret, got) = loop {
        let m = w.next_mail(at);
        if matches!(m.0, Return::Transaction(_)) {
            break m;
        }
    };
    let Return::Transaction(tx) = ret else {
        panic!()
    };
    assert_eq!(
        tx.objects,
        vec![Object::Fd { index: 0 }, Object::Fd { index: 1 }]
    );
    assert_eq!(got, vec![fds[1], fds[0]]);
    // An fd index out of range fails the call and closes what came.
    let fds = w.fds(1);
    let _ = w.take(bt);
    w.cmd_full(
        bt,
        Command::Transaction {
            handle: h,
            txn: TxnOut {
                objects: vec![Object::Fd { index: 5 }],
                ..TxnOut::default()
            },
        },
        fds.clone(),
        None,
    );
    assert!(w.closed.contains(&fds[0]));
}

#[test]
fn node_that_does_not_accept_fds_refuses_them() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    // Publish a node without ACCEPTS_FDS.
    let (_, smt) = w.sm.unwrap();
    let a0 = w.thread(a);
    w.call(
        a0,
        Handle::CONTEXT_MANAGER,
        1,
        vec![Object::Binder {
            ptr: 0x30,
            cookie: 0x30,
            strong: true,
            flags: NodeFlags::default(),
        }],
    );
    let tx = w.incoming(smt);
    let Object::Handle { handle: hs, .. } = tx.objects[0] else {
        panic!()
    };
    let fds = w.fds(1);
    w.reply(smt, vec![]);
    let _ = at;
    let _ = bt;
    w.ok(smt, Command::WaitForWork);
    let smt2 = w.thread(w.sm.unwrap().0);
    w.cmd_full(
        smt2,
        Command::Transaction {
            handle: hs,
            txn: TxnOut {
                objects: vec![Object::Fd { index: 0 }],
                ..TxnOut::default()
            },
        },
        fds.clone(),
        None,
    );
    assert!(matches!(
        w.answer(smt2),
        Return::FailedReply {
            error: Failure::FdsNotAccepted { .. },
            ..
        }
    ));
    assert!(w.closed.contains(&fds[0]));
}

#[test]
fn reply_fds_need_the_callers_accept_fds_flag() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    w.call(bt, h, 1, vec![]);
    let tx = w.incoming(at);
    w.free(at, &tx);
    let fds = w.fds(1);
    w.cmd_full(
        at,
        Command::Reply(TxnOut {
            objects: vec![Object::Fd { index: 0 }],
            ..TxnOut::default()
        }),
        fds.clone(),
        None,
    );
    assert!(matches!(
        w.answer(bt),
        Return::FailedReply {
            error: Failure::FdsNotAccepted { .. },
            ..
        }
    ));
    assert!(w.closed.contains(&fds[0]));
}

// ---- death ---------------------------------------------------------------

#[test]
fn server_death_mid_call_gives_the_caller_a_dead_reply() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    w.call(bt, h, 1, vec![]);
    let _ = w.incoming(at);
    w.exit(a);
    assert!(matches!(w.answer(bt), Return::DeadReply { .. }));
    // Later calls on the handle get a dead reply too.
    w.call(bt, h, 1, vec![]);
    assert!(matches!(w.answer(bt), Return::DeadReply { .. }));
    assert!(w.dump().transactions.is_empty());
}

#[test]
fn queued_call_to_a_dying_process_gets_a_dead_reply() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    let _ = w.take(at); // A's looper is now busy: nothing idle
    w.call(bt, h, 1, vec![]);
    w.exit(a);
    assert!(matches!(w.answer(bt), Return::DeadReply { .. }));
}

#[test]
fn client_death_mid_call_drops_the_reply_cleanly() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    w.call(bt, h, 1, vec![]);
    let tx = w.incoming(at);
    w.exit(b);
    w.free(at, &tx);
    w.reply(at, vec![]);
    assert!(
        !w.take(at).iter().any(|r| matches!(r, Return::Error(_))),
        "the replier is not blamed for a dead caller"
    );
    assert!(w.dump().transactions.is_empty());
    assert!(w.proc_state(a).nodes.is_empty(), "B's ref went with B");
}

#[test]
fn dead_reply_travels_down_a_broken_chain() {
    // C -> A -> B; A dies while B serves: C gets the dead reply once B answers.
    let mut w = World::with_sm();
    let (a, b, c) = (w.process(), w.process(), w.process());
    let (a_pool, b_pool, ct) = (w.looper(a), w.looper(b), w.thread(c));
    let to_a = w.give(a_pool, 0x10, ct);
    let to_b = w.give(b_pool, 0x20, a_pool);
    let _ = w.take(a_pool);
    let _ = w.take(b_pool);
    w.ok(a_pool, Command::WaitForWork);
    w.ok(b_pool, Command::WaitForWork);
    w.call(ct, to_a, 1, vec![]);
    let _ = w.incoming(a_pool);
    w.call(a_pool, to_b, 2, vec![]);
    let _ = w.incoming(b_pool);
    w.exit(a);
    // As in binder, C learns once B is done with A's call.
    assert!(!w
        .take(ct)
        .iter()
        .any(|r| matches!(r, Return::DeadReply { .. })));
    w.reply(b_pool, vec![]);
    assert!(!w.take(b_pool).iter().any(|r| matches!(r, Return::Error(_))));
    assert!(matches!(w.answer(ct), Return::DeadReply { .. }));
    assert!(w.dump().transactions.is_empty());
}

#[test]
fn death_notice_goes_once_to_the_subscribing_process() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, b0, b_pool) = (w.looper(a), w.thread(b), w.looper(b));
    let h = w.give(at, 0x10, b0);
    w.ok(
        b0,
        Command::RequestDeath {
            handle: h,
            cookie: 77,
        },
    );
    w.exit(a);
    assert!(w.idle(b0), "the notice goes to the process, not the thread");
    assert_eq!(w.next(b_pool), Return::DeadBinder { cookie: 77 });
    w.ok(b_pool, Command::DeadBinderDone { cookie: 77 });
    assert!(w.idle(b_pool));
    let e = w.err(b_pool, Command::DeadBinderDone { cookie: 77 });
    assert!(matches!(e, Failure::Death(_)));
}

#[test]
fn death_subscription_after_death_fires_at_once() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, b0, b_pool) = (w.looper(a), w.thread(b), w.looper(b));
    let h = w.give(at, 0x10, b0);
    w.exit(a);
    w.ok(
        b0,
        Command::RequestDeath {
            handle: h,
            cookie: 5,
        },
    );
    assert_eq!(w.next(b_pool), Return::DeadBinder { cookie: 5 });
}

#[test]
fn cleared_subscription_gets_no_notice() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, b0, b_pool) = (w.looper(a), w.thread(b), w.looper(b));
    let h = w.give(at, 0x10, b0);
    w.ok(
        b0,
        Command::RequestDeath {
            handle: h,
            cookie: 5,
        },
    );
    w.ok(
        b0,
        Command::ClearDeath {
            handle: h,
            cookie: 5,
        },
    );
    assert_eq!(w.next(b_pool), Return::ClearDeathDone { cookie: 5 });
    w.ok(b_pool, Command::WaitForWork);
    w.exit(a);
    assert!(w.idle(b_pool));
}

/// binderDriverInterfaceTest's `RequestDeathNotification`: a subscription
/// on handle 0 (the context manager) under a weak reference, cleared, is
/// acknowledged with `ClearDeathDone` and leaves no reference; taken
/// again, it fires when the context manager dies.
#[test]
fn death_subscription_on_the_context_manager_handle() {
    let mut w = World::with_sm();
    let b = w.process();
    let (b0, b_pool) = (w.thread(b), w.looper(b));
    let zero = Handle(0);
    w.ok(b0, Command::IncRefs(zero));
    w.ok(
        b0,
        Command::RequestDeath {
            handle: zero,
            cookie: 1234,
        },
    );
    w.ok(
        b0,
        Command::ClearDeath {
            handle: zero,
            cookie: 1234,
        },
    );
    w.ok(b0, Command::DecRefs(zero));
    assert_eq!(w.next(b_pool), Return::ClearDeathDone { cookie: 1234 });
    w.ok(b_pool, Command::WaitForWork);
    assert!(
        w.proc_state(b).refs.is_empty(),
        "{:?}",
        w.proc_state(b).refs
    );

    w.ok(b0, Command::IncRefs(zero));
    w.ok(
        b0,
        Command::RequestDeath {
            handle: zero,
            cookie: 9,
        },
    );
    let (sm, _) = w.sm.expect("a context manager");
    w.exit(sm);
    assert_eq!(w.next(b_pool), Return::DeadBinder { cookie: 9 });
    w.ok(b_pool, Command::DeadBinderDone { cookie: 9 });
    w.ok(b0, Command::DecRefs(zero));
    // As binder's death object, the subscription stays until it is
    // cleared (libbinder clears it once the obituary is sent)...
    assert_eq!(w.proc_state(b).refs.len(), 1);
    w.ok(
        b0,
        Command::ClearDeath {
            handle: zero,
            cookie: 9,
        },
    );
    w.ok(b_pool, Command::WaitForWork);
    assert_eq!(w.next(b_pool), Return::ClearDeathDone { cookie: 9 });
    // ...and then nothing of it is left.
    assert!(
        w.proc_state(b).refs.is_empty(),
        "{:?}",
        w.proc_state(b).refs
    );
}

/// After the context manager died and another registered, handle 0's
/// subscription is still the first one's until it is cleared (binder's
/// ref for handle 0 stays bound to its node); once cleared, handle 0
/// subscribes to the new context manager.
#[test]
fn handle_zero_subscription_outlives_a_new_context_manager() {
    let mut w = World::with_sm();
    let b = w.process();
    let (b0, b_pool) = (w.thread(b), w.looper(b));
    let zero = Handle(0);
    w.ok(
        b0,
        Command::RequestDeath {
            handle: zero,
            cookie: 1,
        },
    );
    let (sm, _) = w.sm.expect("a context manager");
    w.exit(sm);
    assert_eq!(w.next(b_pool), Return::DeadBinder { cookie: 1 });
    w.ok(b_pool, Command::DeadBinderDone { cookie: 1 });
    w.add_sm();
    // Still the dead one's: a second subscription is refused...
    let e = w.err(
        b0,
        Command::RequestDeath {
            handle: zero,
            cookie: 2,
        },
    );
    assert!(matches!(e, Failure::Death(_)), "{e:?}");
    // ...and the first one clears.
    w.ok(
        b0,
        Command::ClearDeath {
            handle: zero,
            cookie: 1,
        },
    );
    w.ok(b_pool, Command::WaitForWork);
    assert_eq!(w.next(b_pool), Return::ClearDeathDone { cookie: 1 });
    assert!(
        w.proc_state(b).refs.is_empty(),
        "{:?}",
        w.proc_state(b).refs
    );
    // Now handle 0 is the new context manager.
    w.ok(
        b0,
        Command::RequestDeath {
            handle: zero,
            cookie: 2,
        },
    );
    let (sm2, _) = w.sm.expect("the new context manager");
    w.exit(sm2);
    w.ok(b_pool, Command::WaitForWork);
    assert_eq!(w.next(b_pool), Return::DeadBinder { cookie: 2 });
}

/// A thread of `a` that polls (it found no work), and a pool thread of
/// `b` holding a handle to `a`'s object 0x10; the poller has read what
/// giving the handle sent it.
fn polled_with_caller(w: &mut World, a: ProcId, b: ProcId) -> (ThreadId, ThreadId, Handle) {
    let poller = w.thread(a);
    w.ok(poller, Command::EnterLooper);
    w.ok(poller, Command::TakeWork);
    assert_eq!(w.next(poller), Return::NoWork);
    let bt = w.looper(b);
    let h = w.give(poller, 0x10, bt);
    // `give` answered the service manager's notices; wait again.
    while !w.idle(poller) {
        w.next(poller);
    }
    (poller, bt, h)
}

/// A polled thread (`TakeWork`, libbinder's `setupPolling`): with nothing
/// queued it gets `NoWork` and waits; a call for its process then wakes
/// it (`WorkAvailable`) but stays queued until it takes it.
#[test]
fn a_polled_thread_is_woken_and_takes_work_when_it_asks() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (poller, bt, h) = polled_with_caller(&mut w, a, b);
    w.ok(poller, Command::WaitForWork);
    w.call(bt, h, 7, vec![]);
    assert_eq!(w.next(poller), Return::WorkAvailable);
    assert!(w.idle(poller), "woken, not handed the call");
    assert_eq!(w.dump().transactions.len(), 1);
    w.ok(poller, Command::TakeWork);
    // Its answer, then the item: told apart from notices sent to it.
    assert_eq!(w.next(poller), Return::WorkTaken);
    let tx = w.incoming(poller);
    assert_eq!(tx.code, 7);
    w.free(poller, &tx);
    w.reply(poller, vec![]);
    assert!(matches!(w.answer(bt), Return::Reply(_)));
    w.ok(poller, Command::TakeWork);
    assert_eq!(w.next(poller), Return::NoWork);
}

/// A polled thread that leaves the pool and joins it again waits the
/// plain way until it polls again: handed work, not woken.
#[test]
fn a_polled_thread_that_rejoins_the_pool_is_handed_work() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (poller, bt, h) = polled_with_caller(&mut w, a, b);
    w.ok(poller, Command::ExitLooper);
    w.ok(poller, Command::EnterLooper);
    w.ok(poller, Command::WaitForWork);
    w.call(bt, h, 7, vec![]);
    let tx = w.incoming(poller);
    assert_eq!(tx.code, 7);
    w.free(poller, &tx);
    w.reply(poller, vec![]);
    assert!(matches!(w.answer(bt), Return::Reply(_)));
}

/// binder's reason to wake a polling thread instead of handing it work:
/// a call the thread makes from its own loop after a call for it arrived
/// is its own, top-level call, not one nested under the call it has not
/// read yet; the queued call is served after.
#[test]
fn a_polled_threads_own_call_does_not_nest_under_queued_work() {
    let mut w = World::with_sm();
    let (a, b, c) = (w.process(), w.process(), w.process());
    let poller = w.thread(a);
    w.ok(poller, Command::EnterLooper);
    let (bt, ct) = (w.looper(b), w.looper(c));
    let to_a = w.give(poller, 0x10, bt);
    let to_c = w.give(ct, 0x20, poller);
    while !w.idle(poller) {
        w.next(poller);
    }
    w.ok(poller, Command::TakeWork);
    assert_eq!(w.next(poller), Return::NoWork);
    w.call(bt, to_a, 1, vec![]);
    assert_eq!(w.next(poller), Return::WorkAvailable);
    // Its own call, from its loop, before it takes the queued one.
    w.call(poller, to_c, 2, vec![]);
    let tx = w.incoming(ct);
    assert_eq!(tx.code, 2);
    w.free(ct, &tx);
    w.reply(ct, vec![]);
    let Return::Reply(r) = w.answer(poller) else {
        panic!("the poller's own call was not answered")
    };
    w.free(poller, &r);
    // Then the call from b.
    w.ok(poller, Command::TakeWork);
    assert_eq!(w.next(poller), Return::WorkTaken);
    let tx = w.incoming(poller);
    assert_eq!(tx.code, 1);
    w.free(poller, &tx);
    w.reply(poller, vec![]);
    assert!(matches!(w.answer(bt), Return::Reply(_)));
    assert!(w.dump().transactions.is_empty());
}

#[test]
fn process_exit_releases_everything_it_held() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let _h = w.give(at, 0x10, bt);
    w.exit(b);
    let _ = w.take(at);
    assert!(w.proc_state(a).nodes.is_empty());
    w.exit(a);
    let (sm, _) = w.sm.unwrap();
    w.exit(sm);
    assert!(w.core.is_empty(), "{:#?}", w.dump());
}

// ---- looper --------------------------------------------------------------

#[test]
fn spawn_request_when_no_thread_is_idle_and_register_answers_it() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.thread(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    w.spawns.clear();
    w.call(bt, h, 1, vec![]);
    assert_eq!(
        w.spawns,
        vec![at],
        "A has no idle pool thread: it is asked for one"
    );
    let bt2 = w.thread(b);
    let h2 = w.give(at, 0x10, bt2);
    w.spawns.clear();
    w.call(bt2, h2, 1, vec![]);
    assert!(w.spawns.is_empty(), "one request outstanding at a time");
    let at2 = w.thread(a);
    w.ok(at2, Command::RegisterLooper);
    w.ok(at2, Command::WaitForWork);
    assert_eq!(w.incoming(at2).code, 1);
    assert_eq!(
        w.spawns.len(),
        1,
        "still work queued, nobody idle: ask again"
    );
}

/// A process that cannot meet a spawn request (no thread could be made,
/// or the new one could not register) says so, and is asked again the
/// next time work finds no idle thread; without `SpawnFailed` the request
/// stayed outstanding and the pool never grew again. A `SpawnFailed` with
/// nothing outstanding is an error and changes nothing.
#[test]
fn a_spawn_request_that_failed_is_asked_again_when_work_next_waits() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.thread(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    assert!(matches!(
        w.err(at, Command::SpawnFailed),
        Failure::Looper(_)
    ));
    w.spawns.clear();
    w.call(bt, h, 1, vec![]);
    assert_eq!(w.spawns, vec![at]);
    w.spawns.clear();
    w.ok(at, Command::SpawnFailed);
    assert!(w.spawns.is_empty(), "not asked again at once");
    assert_eq!(w.proc_state(a).requested_threads, 0);
    assert_eq!(w.proc_state(a).counters.spawn_failures, 1);
    let bt2 = w.thread(b);
    let h2 = w.give(at, 0x10, bt2);
    w.spawns.clear();
    w.call(bt2, h2, 2, vec![]);
    assert_eq!(w.spawns.len(), 1, "more work and nobody idle: asked again");
    let at2 = w.thread(a);
    w.ok(at2, Command::RegisterLooper);
    w.ok(at2, Command::WaitForWork);
    assert_eq!(w.incoming(at2).code, 1);
}

/// A spawn request sent to a thread that ends before it read it no
/// longer counts: when the pool must grow again, it is asked again (else
/// the request stayed outstanding for good and the pool never grew).
#[test]
fn a_spawn_request_is_asked_again_when_its_thread_ends() {
    let mut w = World::new();
    let s = w.process();
    let t1 = w.thread(s);
    w.ok(
        t1,
        Command::SetContextManager {
            ptr: 0x100,
            cookie: 0x100,
            flags: NodeFlags::default(),
        },
    );
    w.ok(t1, Command::EnterLooper);
    let c = w.process();
    let tc = w.thread(c);
    w.call(tc, Handle::CONTEXT_MANAGER, 1, vec![]);
    assert_eq!(w.spawns, vec![t1]);
    w.thread_exit(t1);
    let t2 = w.thread(s);
    let tc2 = w.thread(c);
    w.call(tc2, Handle::CONTEXT_MANAGER, 2, vec![]);
    assert_eq!(w.spawns, vec![t1, t2], "asked again, of the thread left");
}

#[test]
fn register_without_a_request_and_double_enter_are_errors() {
    let mut w = World::new();
    let a = w.process();
    let t = w.thread(a);
    assert!(matches!(
        w.err(t, Command::RegisterLooper),
        Failure::Looper(_)
    ));
    w.ok(t, Command::EnterLooper);
    assert!(matches!(w.err(t, Command::EnterLooper), Failure::Looper(_)));
    let t2 = w.thread(a);
    assert!(matches!(
        w.err(t2, Command::WaitForWork),
        Failure::Looper(_)
    ));
}

#[test]
fn spawn_requests_stop_at_the_maximum() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.thread(a), w.thread(b));
    w.ok(at, Command::SetMaxThreads(0));
    let h = w.give(at, 0x10, bt);
    w.spawns.clear();
    w.call(bt, h, 1, vec![]);
    assert!(w.spawns.is_empty(), "max threads 0: no spawn request");
    let e = w.err(at, Command::SetMaxThreads(100_000));
    assert!(matches!(e, Failure::TooManyThreads { .. }));
}

// ---- freeze --------------------------------------------------------------

#[test]
fn only_a_privileged_caller_may_freeze() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let bt = w.thread(b);
    let pid = w.pid(a);
    let e = w.err(
        bt,
        Command::Freeze {
            pid,
            enable: true,
            hold: false,
        },
    );
    assert!(matches!(e, Failure::NotPrivileged(_)));
}

/// A world for freezing: process A's looper `at` serves object 0x10, which
/// B's thread `bt` holds as `h`; `rt` is a privileged process's thread
/// (which may freeze), `pid` is A's.
struct FreezeWorld {
    w: World,
    root: ProcId,
    b: ProcId,
    rt: ThreadId,
    at: ThreadId,
    bt: ThreadId,
    h: Handle,
    pid: i32,
}

fn freeze_world() -> FreezeWorld {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let root = w.privileged_process();
    let rt = w.thread(root);
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    let _ = w.take(at);
    w.ok(at, Command::WaitForWork);
    let pid = w.pid(a);
    FreezeWorld {
        w,
        root,
        b,
        rt,
        at,
        bt,
        h,
        pid,
    }
}

#[test]
fn frozen_process_gets_no_sync_calls_and_its_oneway_calls_wait() {
    let FreezeWorld {
        mut w,
        rt,
        at,
        bt,
        h,
        pid,
        ..
    } = freeze_world();
    w.ok(
        rt,
        Command::Freeze {
            pid,
            enable: true,
            hold: false,
        },
    );
    w.call(bt, h, 1, vec![]);
    assert!(matches!(w.answer(bt), Return::FrozenReply { .. }));
    w.oneway(bt, h, 2, 8);
    assert_eq!(w.next(bt), Return::TransactionComplete);
    assert!(w.idle(at), "oneway waits while frozen");
    w.ok(
        rt,
        Command::Freeze {
            pid,
            enable: false,
            hold: false,
        },
    );
    assert_eq!(w.incoming(at).code, 2);
}

/// Binder's `BINDER_FREEZE` with no time to wait (binderLibTest's
/// `Freeze`: -EAGAIN right after oneway calls): refused while a call sent
/// to the process is unfinished (binder's `outstanding_txns`): a oneway
/// call queued, a sync call queued or being served. A oneway call counts
/// as finished once delivered, as in binder. A freeze over a queued sync
/// call would park its caller until the thaw.
#[test]
fn freezing_waits_for_every_call_sent_to_finish() {
    let FreezeWorld {
        mut w,
        root,
        rt,
        at,
        bt,
        h,
        pid,
        ..
    } = freeze_world();
    let busy = |w: &mut World| match w.err(
        rt,
        Command::Freeze {
            pid,
            enable: true,
            hold: false,
        },
    ) {
        Failure::FreezeBusy { count, .. } => count,
        other => panic!("{other:?}"),
    };
    // A second sender, so that one thread can wait on a sync call while
    // the other sends oneway calls.
    let r2 = w.thread(root);
    let h2 = w.give(at, 0x10, r2);
    w.oneway(bt, h, 1, 8);
    let running = w.incoming(at);
    w.oneway(bt, h, 2, 8);
    assert_eq!(busy(&mut w), 1, "a oneway call queued behind a running one");
    w.call(r2, h2, 3, vec![]);
    assert_eq!(busy(&mut w), 2, "and a sync call queued");
    w.free(at, &running);
    w.ok(at, Command::WaitForWork);
    // The sync call was queued first; the oneway one joins the queue once
    // the call before it on its node is freed.
    let sync = w.incoming(at);
    assert_eq!(sync.code, 3);
    assert_eq!(
        busy(&mut w),
        2,
        "the sync call being served, the oneway call queued"
    );
    w.free(at, &sync);
    w.reply(at, vec![]);
    assert!(matches!(w.answer(r2), Return::Reply(_)));
    assert_eq!(busy(&mut w), 1, "the oneway call queued");
    w.ok(at, Command::WaitForWork);
    assert_eq!(w.incoming(at).code, 2);
    // Delivered: finished as far as freezing goes, as in binder.
    w.ok(
        rt,
        Command::Freeze {
            pid,
            enable: true,
            hold: false,
        },
    );
}

/// Frozen, being frozen, and the frozen info of the process with `pid`.
fn freeze_state(w: &World, pid: i32) -> (bool, bool, bool, bool) {
    let d = w.dump();
    let p = d
        .processes
        .iter()
        .find(|p| p.pid == pid)
        .expect("connected");
    (
        p.frozen,
        p.freezing,
        p.frozen_sync_received,
        p.frozen_async_received,
    )
}

/// A freeze with `hold` of `pid`, or (`enable: false`) giving up on one.
fn hold(pid: i32, enable: bool) -> Command {
    Command::Freeze {
        pid,
        enable,
        hold: true,
    }
}

/// A second sender for root (thread and handle), and `bt`'s sync call
/// being served by `at`.
fn serving_with_a_second_sender(
    w: &mut World,
    root: ProcId,
    at: ThreadId,
    bt: ThreadId,
    h: Handle,
) -> (ThreadId, Handle, TxnIn) {
    let r2 = w.thread(root);
    let h2 = w.give(at, 0x10, r2);
    w.call(bt, h, 1, vec![]);
    (r2, h2, w.incoming(at))
}

/// Binder marks a process frozen while `BINDER_FREEZE` waits for its calls
/// to drain: a freeze with `hold` does the same between the freezer's
/// tries. New sync calls are refused as frozen, so they cannot keep it busy
/// for good; it still runs, answers, and is sent its oneway calls; the try
/// after they are done freezes it, and its frozen info keeps what was
/// refused while it waited.
#[test]
fn a_held_freeze_refuses_new_sync_calls_while_the_old_ones_drain() {
    let FreezeWorld {
        mut w,
        root,
        rt,
        at,
        bt,
        h,
        pid,
        ..
    } = freeze_world();
    let (r2, h2, served) = serving_with_a_second_sender(&mut w, root, at, bt, h);
    let hold = |enable| hold(pid, enable);
    assert!(matches!(
        w.err(rt, hold(true)),
        Failure::FreezeBusy { count: 1, .. }
    ));
    assert_eq!(freeze_state(&w, pid), (false, true, false, false));
    w.call(r2, h2, 2, vec![]);
    assert!(matches!(w.answer(r2), Return::FrozenReply { .. }));
    w.oneway(r2, h2, 3, 8);
    assert_eq!(w.next(r2), Return::TransactionComplete);
    assert!(matches!(w.err(rt, hold(true)), Failure::FreezeBusy { .. }));
    w.free(at, &served);
    w.reply(at, vec![]);
    assert!(matches!(w.answer(bt), Return::Reply(_)));
    w.ok(at, Command::WaitForWork);
    let oneway = w.incoming(at);
    assert_eq!(oneway.code, 3, "sent its oneway call while held");
    w.ok(rt, hold(true));
    assert_eq!(
        freeze_state(&w, pid),
        (true, false, true, true),
        "frozen, with what came while it was held"
    );
    w.free(at, &oneway);
}

/// A freezer that gives up (`enable: false` with `hold`) or exits lets the
/// held process serve again; giving up thaws nothing, and a process frozen
/// already is never held (its undelivered oneway calls keep it busy).
#[test]
fn a_freezer_that_gives_up_or_exits_lets_the_process_serve_again() {
    let FreezeWorld {
        mut w,
        root,
        rt,
        at,
        bt,
        h,
        pid,
        ..
    } = freeze_world();
    let (r2, h2, served) = serving_with_a_second_sender(&mut w, root, at, bt, h);
    let hold = |enable| hold(pid, enable);
    w.err(rt, hold(true));
    w.ok(rt, hold(false));
    assert_eq!(freeze_state(&w, pid), (false, false, false, false));
    w.call(r2, h2, 2, vec![]);
    assert!(w.take(r2).is_empty(), "queued, not refused");
    // Another freezer holds it, then exits.
    let other = w.privileged_process();
    let ot = w.thread(other);
    w.err(ot, hold(true));
    assert!(freeze_state(&w, pid).1);
    w.ok(rt, hold(false));
    assert!(
        freeze_state(&w, pid).1,
        "giving up lets go of one's own hold only"
    );
    w.exit(other);
    assert!(!freeze_state(&w, pid).1, "let go with its freezer");
    w.free(at, &served);
    w.reply(at, vec![]);
    assert!(matches!(w.answer(bt), Return::Reply(_)));
    w.ok(at, Command::WaitForWork);
    let second = w.incoming(at);
    w.free(at, &second);
    w.reply(at, vec![]);
    assert!(matches!(w.answer(r2), Return::Reply(_)));
    w.ok(at, Command::WaitForWork);
    // Frozen, with a oneway call waiting: busy, but not held, and giving
    // up leaves it frozen.
    w.ok(rt, hold(true));
    w.oneway(bt, h, 3, 8);
    assert!(matches!(w.err(rt, hold(true)), Failure::FreezeBusy { .. }));
    w.ok(rt, hold(false));
    assert!(freeze_state(&w, pid).0, "still frozen");
    assert!(!freeze_state(&w, pid).1);
}

/// A thaw ends a hold, as binder's thaw clears `is_frozen` under a waiting
/// freeze: sync calls reach the process again and its frozen info starts
/// afresh.
#[test]
fn a_thaw_ends_a_hold() {
    let FreezeWorld {
        mut w,
        root,
        rt,
        at,
        bt,
        h,
        pid,
        ..
    } = freeze_world();
    let (r2, h2, served) = serving_with_a_second_sender(&mut w, root, at, bt, h);
    w.err(rt, hold(pid, true));
    w.call(r2, h2, 2, vec![]);
    assert!(matches!(w.answer(r2), Return::FrozenReply { .. }));
    assert_eq!(freeze_state(&w, pid), (false, true, true, false));
    w.ok(
        rt,
        Command::Freeze {
            pid,
            enable: false,
            hold: false,
        },
    );
    assert_eq!(freeze_state(&w, pid), (false, false, false, false));
    w.call(r2, h2, 3, vec![]);
    assert!(w.take(r2).is_empty(), "queued behind the call being served");
    w.free(at, &served);
}

/// Binder's frozen info (`BINDER_GET_FROZEN_INFO`): what was sent to a
/// process while frozen, cleared by every freeze and thaw.
#[test]
fn frozen_info_records_calls_sent_while_frozen_and_resets_on_freeze() {
    let FreezeWorld {
        mut w,
        root,
        b,
        rt,
        at,
        bt,
        h,
        pid,
    } = freeze_world();
    // Only a privileged viewer sees others (and so their frozen info).
    assert!(w.core.dump(Some(root)).sees_all);
    let own = w.core.dump(Some(b));
    assert!(!own.sees_all && own.processes.len() == 1);
    let info = |w: &World| {
        let s = w.dump();
        assert!(s.sees_all, "the core's own dump sees everyone");
        let p = s.processes.iter().find(|p| p.pid == pid).expect("a");
        (
            p.frozen,
            p.frozen_sync_received,
            p.frozen_async_received,
            p.txns_pending,
        )
    };
    // Sent to while not frozen: nothing recorded.
    w.oneway(bt, h, 1, 8);
    assert_eq!(w.next(bt), Return::TransactionComplete);
    let tx = w.incoming(at);
    assert_eq!(tx.code, 1);
    w.free(at, &tx);
    w.ok(at, Command::WaitForWork);
    assert_eq!(info(&w), (false, false, false, false));

    w.ok(
        rt,
        Command::Freeze {
            pid,
            enable: true,
            hold: false,
        },
    );
    assert_eq!(info(&w), (true, false, false, false), "fresh after freeze");
    w.call(bt, h, 2, vec![]);
    assert!(matches!(w.answer(bt), Return::FrozenReply { .. }));
    assert_eq!(info(&w), (true, true, false, false), "a refused sync call");
    // Frozen again: the flags reset.
    w.ok(
        rt,
        Command::Freeze {
            pid,
            enable: true,
            hold: false,
        },
    );
    assert_eq!(info(&w), (true, false, false, false), "reset by a refreeze");
    w.oneway(bt, h, 3, 8);
    assert_eq!(w.next(bt), Return::TransactionComplete);
    assert_eq!(info(&w), (true, false, true, true), "a queued oneway call");

    // A refreeze over a queued call is refused (binder: -EAGAIN) and
    // changes nothing.
    assert!(matches!(
        w.err(
            rt,
            Command::Freeze {
                pid,
                enable: true,
                hold: false
            }
        ),
        Failure::FreezeBusy { count: 1, .. }
    ));
    assert_eq!(info(&w), (true, false, true, true), "unchanged");
    w.oneway(bt, h, 4, 8);
    assert_eq!(w.next(bt), Return::TransactionComplete);
    assert_eq!(info(&w), (true, false, true, true), "two queued");

    // Thawed: reset too, and the oneway calls are served in order.
    w.ok(
        rt,
        Command::Freeze {
            pid,
            enable: false,
            hold: false,
        },
    );
    let tx = w.incoming(at);
    assert_eq!(tx.code, 3);
    assert_eq!(info(&w), (false, false, false, true), "4 still waits");
    w.free(at, &tx);
    w.ok(at, Command::WaitForWork);
    let tx = w.incoming(at);
    assert_eq!(tx.code, 4);
    w.free(at, &tx);
    assert_eq!(info(&w), (false, false, false, false));
}

// ---- freeze notifications --------------------------------------------------

/// The next `FrozenBinder` for pool thread `t`, answered; `t` waits for
/// work again.
fn freeze_notice(w: &mut World, t: ThreadId) -> (u64, bool) {
    loop {
        match w.next(t) {
            Return::FrozenBinder { cookie, is_frozen } => {
                w.ok(t, Command::FreezeNoticeDone { cookie });
                w.ok(t, Command::WaitForWork);
                return (cookie, is_frozen);
            }
            Return::SpawnLooper => {}
            other => panic!("expected a freeze notice on {t:?}, got {other:?}"),
        }
    }
}

fn subscribe(w: &mut World, t: ThreadId, h: Handle, cookie: u64) {
    w.ok(t, Command::RequestFreezeNotice { handle: h, cookie });
}

/// binderLibTest's `FrozenStateChangeNotificatiion` and
/// `AddFrozenCallbackWhenFrozen`: the state at once, then each change;
/// freezing what is frozen changes nothing.
#[test]
fn a_freeze_subscription_hears_the_state_at_once_then_each_change() {
    let FreezeWorld {
        mut w,
        b,
        rt,
        bt,
        h,
        pid,
        ..
    } = freeze_world();
    let bl = w.looper(b);
    subscribe(&mut w, bt, h, 7);
    assert_eq!(freeze_notice(&mut w, bl), (7, false));
    w.ok(
        rt,
        Command::Freeze {
            pid,
            enable: true,
            hold: false,
        },
    );
    assert_eq!(freeze_notice(&mut w, bl), (7, true));
    w.ok(
        rt,
        Command::Freeze {
            pid,
            enable: true,
            hold: false,
        },
    );
    assert!(w.idle(bl), "frozen again: no change, no notice");
    w.ok(
        rt,
        Command::Freeze {
            pid,
            enable: false,
            hold: false,
        },
    );
    assert_eq!(freeze_notice(&mut w, bl), (7, false));
    // Subscribing while it is frozen: told so first.
    w.ok(
        rt,
        Command::Freeze {
            pid,
            enable: true,
            hold: false,
        },
    );
    assert_eq!(freeze_notice(&mut w, bl), (7, true));
    w.ok(
        bt,
        Command::ClearFreezeNotice {
            handle: h,
            cookie: 7,
        },
    );
    assert_eq!(w.next(bl), Return::ClearFreezeNoticeDone { cookie: 7 });
    w.ok(bl, Command::WaitForWork);
    subscribe(&mut w, bt, h, 8);
    assert_eq!(freeze_notice(&mut w, bl), (8, true));
}

/// binderLibTest's `CoalesceFreezeCallbacksWhenListenerIsFrozen`: while
/// the subscriber is frozen its notices wait, and changes meanwhile come
/// as one notice of the latest state.
#[test]
fn freeze_notices_to_a_frozen_subscriber_coalesce() {
    let FreezeWorld {
        mut w,
        b,
        rt,
        bt,
        h,
        pid,
        ..
    } = freeze_world();
    let bl = w.looper(b);
    let b_pid = w.pid(b);
    subscribe(&mut w, bt, h, 7);
    assert_eq!(freeze_notice(&mut w, bl), (7, false));
    w.ok(
        rt,
        Command::Freeze {
            pid: b_pid,
            enable: true,
            hold: false,
        },
    );
    for _ in 0..3 {
        w.ok(
            rt,
            Command::Freeze {
                pid,
                enable: true,
                hold: false,
            },
        );
        w.ok(
            rt,
            Command::Freeze {
                pid,
                enable: false,
                hold: false,
            },
        );
    }
    w.ok(
        rt,
        Command::Freeze {
            pid,
            enable: true,
            hold: false,
        },
    );
    assert!(w.idle(bl), "held while the subscriber is frozen");
    w.ok(
        rt,
        Command::Freeze {
            pid: b_pid,
            enable: false,
            hold: false,
        },
    );
    assert_eq!(freeze_notice(&mut w, bl), (7, true), "one, the latest");
    assert!(w.idle(bl));
}

/// A change while the last notice is unanswered goes out after its
/// `FreezeNoticeDone` (binder's `resend`), not alongside it.
#[test]
fn a_freeze_change_waits_for_the_last_notice_to_be_answered() {
    let FreezeWorld {
        mut w,
        b,
        rt,
        bt,
        h,
        pid,
        ..
    } = freeze_world();
    let bl = w.looper(b);
    subscribe(&mut w, bt, h, 7);
    assert_eq!(
        w.next(bl),
        Return::FrozenBinder {
            cookie: 7,
            is_frozen: false
        }
    );
    let other = w.looper(b);
    w.ok(
        rt,
        Command::Freeze {
            pid,
            enable: true,
            hold: false,
        },
    );
    assert!(w.idle(other), "not while the last one is unanswered");
    w.ok(bl, Command::FreezeNoticeDone { cookie: 7 });
    assert_eq!(freeze_notice(&mut w, other), (7, true));
}

/// Clearing: a queued notice is dropped; an unanswered one holds the
/// confirmation back until its answer (binder's three cases).
#[test]
fn clearing_a_freeze_subscription_drops_or_waits_for_its_notice() {
    let FreezeWorld {
        mut w,
        b,
        rt,
        bt,
        h,
        ..
    } = freeze_world();
    let bl = w.looper(b);
    let b_pid = w.pid(b);
    // Queued (its subscriber frozen): dropped, only the confirmation comes.
    w.ok(
        rt,
        Command::Freeze {
            pid: b_pid,
            enable: true,
            hold: false,
        },
    );
    subscribe(&mut w, bt, h, 7);
    w.ok(
        bt,
        Command::ClearFreezeNotice {
            handle: h,
            cookie: 7,
        },
    );
    w.ok(
        rt,
        Command::Freeze {
            pid: b_pid,
            enable: false,
            hold: false,
        },
    );
    assert_eq!(w.next(bl), Return::ClearFreezeNoticeDone { cookie: 7 });
    assert!(w.idle(bl));
    w.ok(bl, Command::WaitForWork);
    // Delivered and unanswered: the confirmation follows the answer.
    subscribe(&mut w, bt, h, 8);
    assert!(matches!(w.next(bl), Return::FrozenBinder { cookie: 8, .. }));
    let other = w.looper(b);
    w.ok(
        bt,
        Command::ClearFreezeNotice {
            handle: h,
            cookie: 8,
        },
    );
    assert!(w.idle(other), "no confirmation before the answer");
    w.ok(bl, Command::FreezeNoticeDone { cookie: 8 });
    assert_eq!(w.next(other), Return::ClearFreezeNoticeDone { cookie: 8 });
}

#[test]
fn freeze_subscription_mistakes_are_errors() {
    let FreezeWorld { mut w, bt, h, .. } = freeze_world();
    subscribe(&mut w, bt, h, 7);
    assert!(matches!(
        w.err(bt, Command::RequestFreezeNotice { handle: h, cookie: 9 }),
        Failure::FreezeNotice(m) if m.contains("already")
    ));
    assert!(matches!(
        w.err(bt, Command::ClearFreezeNotice { handle: h, cookie: 9 }),
        Failure::FreezeNotice(m) if m.contains("not 0x9")
    ));
    assert!(matches!(
        w.err(bt, Command::FreezeNoticeDone { cookie: 9 }),
        Failure::FreezeNotice(m) if m.contains("no delivered notice")
    ));
}

// ---- limits --------------------------------------------------------------

#[test]
fn flooding_sender_is_limited_others_are_not() {
    let mut w = World::with(Config {
        limits: Limits {
            max_pending: 3,
            ..Limits::default()
        },
        ..Config::default()
    });
    w.add_sm();
    let (a, b, c) = (w.process(), w.process(), w.process());
    let (at, bt, ct) = (w.looper(a), w.thread(b), w.thread(c));
    let h = w.give(at, 0x10, bt);
    let hc = w.give(at, 0x10, ct);
    let _ = w.take(at);
    for _ in 0..10 {
        w.oneway(bt, h, 1, 8);
    }
    let rets = w.take(bt);
    let refused = rets
        .iter()
        .filter(|r| {
            matches!(
                r,
                Return::FailedReply {
                    error: Failure::TooManyPending { limit: 3, .. },
                    ..
                }
            )
        })
        .count();
    // One delivered (in flight at A), three queued, the rest refused.
    assert_eq!(refused, 6, "{rets:?}");
    w.oneway(ct, hc, 1, 8);
    assert_eq!(
        w.next(ct),
        Return::TransactionComplete,
        "C is not limited by B's flood"
    );
}

#[test]
fn too_many_objects_or_fds_in_one_call_are_refused() {
    let mut w = World::with_sm();
    let a = w.process();
    let t = w.thread(a);
    let objects = vec![binder(1); 1025];
    w.call(t, Handle::CONTEXT_MANAGER, 1, objects);
    assert!(matches!(
        w.answer(t),
        Return::FailedReply {
            error: Failure::TooManyObjects {
                count: 1025,
                limit: 1024
            },
            ..
        }
    ));
    let fds = w.fds(254);
    let objects = (0..254).map(|i| Object::Fd { index: i }).collect();
    w.cmd_full(
        t,
        Command::Transaction {
            handle: Handle::CONTEXT_MANAGER,
            txn: TxnOut {
                objects,
                ..TxnOut::default()
            },
        },
        fds.clone(),
        None,
    );
    assert!(matches!(
        w.answer(t),
        Return::FailedReply {
            error: Failure::TooManyFds { count: 254, .. },
            ..
        }
    ));
    assert_eq!(
        w.closed.len(),
        254,
        "every fd of the refused call is closed"
    );
}

#[test]
fn fd_indexes_must_name_each_attached_fd_once() {
    let mut w = World::with_sm();
    let a = w.process();
    let t = w.thread(a);
    let cases: [(Vec<u32>, usize); 3] = [(vec![0, 0], 2), (vec![0, 2], 2), (vec![1], 3)];
    for (indexes, attached) in cases {
        let fds = w.fds(attached);
        let objects = indexes.iter().map(|&index| Object::Fd { index }).collect();
        w.cmd_full(
            t,
            Command::Transaction {
                handle: Handle::CONTEXT_MANAGER,
                txn: TxnOut {
                    objects,
                    ..TxnOut::default()
                },
            },
            fds,
            None,
        );
        let error = match w.answer(t) {
            Return::FailedReply { error, .. } => error,
            other => panic!("{indexes:?} with {attached} fds: {other:?}"),
        };
        match indexes.as_slice() {
            [0, 0] | [0, 2] => assert!(
                matches!(error, Failure::BadFdIndex { object: 1, .. }),
                "{error:?}"
            ),
            _ => assert!(
                matches!(error, Failure::UnclaimedFds { count: 2 }),
                "{error:?}"
            ),
        }
    }
}

#[test]
fn ref_limit_turns_into_an_error_for_the_receiver_side_call() {
    let mut w = World::with(Config {
        limits: Limits {
            max_refs: 2,
            ..Limits::default()
        },
        ..Config::default()
    });
    w.add_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    let _ = w.take(at);
    w.ok(at, Command::WaitForWork);
    // B sends three binders of its own to A; A's table holds at most 2.
    w.call(bt, h, 1, vec![binder(1), binder(2), binder(3)]);
    assert!(matches!(
        w.answer(bt),
        Return::FailedReply {
            error: Failure::TooManyRefs { limit: 2, .. },
            ..
        }
    ));
}

// ---- priority ------------------------------------------------------------

fn fifo(rt: u8) -> Priority {
    Priority {
        policy: SchedPolicy::Fifo,
        nice: 0,
        rt,
    }
}

fn nice(n: i8) -> Priority {
    Priority {
        policy: SchedPolicy::Normal,
        nice: n,
        rt: 0,
    }
}

/// A world that migrates priorities, where process A (looper `at`)
/// publishes object 0x40 with `flags` and B (thread `bt`) holds it as `h`.
fn node_with_flags(flags: NodeFlags) -> (World, ThreadId, ThreadId, Handle) {
    let mut w = World::with(Config {
        migrate_priority: true,
        ..Config::default()
    });
    w.add_sm();
    let (a, b) = (w.process(), w.process());
    let bt = w.thread(b);
    let (_, smt) = w.sm.unwrap();
    let a0 = w.thread(a);
    w.call(
        a0,
        Handle::CONTEXT_MANAGER,
        1,
        vec![Object::Binder {
            ptr: 0x40,
            cookie: 0x40,
            strong: true,
            flags,
        }],
    );
    let tx = w.incoming(smt);
    let Object::Handle { handle: hs, .. } = tx.objects[0] else {
        panic!()
    };
    w.free(smt, &tx);
    w.reply(smt, vec![]);
    w.ok(smt, Command::WaitForWork);
    assert!(matches!(w.answer(a0), Return::Reply(_)));
    w.call(bt, Handle::CONTEXT_MANAGER, 2, vec![]);
    let tx = w.incoming(smt);
    w.free(smt, &tx);
    w.reply(
        smt,
        vec![Object::Handle {
            handle: hs,
            strong: true,
            rights: Rights::ALL,
        }],
    );
    let Return::Reply(r) = w.answer(bt) else {
        panic!()
    };
    let Object::Handle { handle: h, .. } = r.objects[0] else {
        panic!()
    };
    // A's looper, started last, so that it takes the calls on 0x40 (the
    // increments for the node went to A's first thread).
    let at = w.looper(a);
    let _ = w.take(a0);
    w.prio_sets.clear();
    (w, at, bt, h)
}

/// A thread that lowered its own priority (any thread may) and said so
/// with a call of its own is raised to a node's minimum for the next call
/// it serves: the record a migration compares with follows what the
/// kernel reported with the thread's call, as binder compares with the
/// task's real priority. With a stale record (nice 0 from registration),
/// the change was skipped and the call ran at nice 10.
#[test]
fn a_thread_that_lowered_itself_is_raised_to_the_nodes_minimum() {
    let floor = NodeFlags {
        min_priority: Some(nice(0)),
        ..NodeFlags::default()
    };
    let (mut w, at, bt, h) = node_with_flags(floor);
    let (_, smt) = w.sm.unwrap();
    w.ok(smt, Command::WaitForWork);
    call_with(&mut w, at, Handle::CONTEXT_MANAGER, 0, nice(10));
    let tx = w.incoming(smt);
    w.free(smt, &tx);
    w.reply(smt, vec![]);
    w.ok(smt, Command::WaitForWork);
    let _ = w.answer(at);
    w.ok(at, Command::WaitForWork);
    w.prio_sets.clear();
    call_with(&mut w, bt, h, TxnFlags::ONEWAY, nice(0));
    let _ = w.incoming(at);
    assert_eq!(
        w.prio_sets,
        vec![(at, nice(0))],
        "raised to the node's minimum"
    );
}

fn call_with(w: &mut World, t: ThreadId, h: Handle, flags: u32, prio: Priority) {
    w.cmd_full(
        t,
        Command::Transaction {
            handle: h,
            txn: TxnOut {
                flags: TxnFlags(flags),
                ..TxnOut::default()
            },
        },
        vec![],
        Some(prio),
    );
}

#[test]
fn caller_priority_migrates_to_the_server_thread_and_is_restored() {
    let (mut w, at, bt, h) = node_with_flags(NodeFlags::default());
    call_with(&mut w, bt, h, 0, nice(-5));
    let tx = w.incoming(at);
    assert_eq!(tx.sender.priority, Some(nice(-5)));
    assert_eq!(w.prio_sets, vec![(at, nice(-5))]);
    w.free(at, &tx);
    w.reply(at, vec![]);
    assert_eq!(w.prio_sets, vec![(at, nice(-5)), (at, Priority::default())]);
}

/// Binder's `inherit_rt`: a real-time caller's priority migrates only to
/// a node that opted in (`FLAT_BINDER_FLAG_INHERIT_RT`); elsewhere the
/// call runs at normal priority, nice 0, raised to the node's minimum.
/// No client makes a service's threads real-time unasked.
#[test]
fn real_time_priority_migrates_only_where_the_node_inherits_it() {
    let inherit = NodeFlags {
        inherit_rt: true,
        ..NodeFlags::default()
    };
    let (mut w, at, bt, h) = node_with_flags(inherit);
    call_with(&mut w, bt, h, 0, fifo(10));
    let tx = w.incoming(at);
    assert_eq!(w.prio_sets, vec![(at, fifo(10))]);
    w.free(at, &tx);
    w.reply(at, vec![]);
    assert_eq!(w.prio_sets, vec![(at, fifo(10)), (at, Priority::default())]);

    // Not opted in: the thread stays at normal priority, nice 0.
    let (mut w, at, bt, h) = node_with_flags(NodeFlags::default());
    call_with(&mut w, bt, h, 0, fifo(10));
    let tx = w.incoming(at);
    assert_eq!(tx.sender.priority, Some(fifo(10)), "still reported");
    assert_eq!(w.prio_sets, vec![], "the thread was at nice 0 already");
    w.free(at, &tx);
    w.reply(at, vec![]);

    // Not opted in, with a minimum: the minimum.
    let floor = NodeFlags {
        min_priority: Some(nice(-10)),
        ..NodeFlags::default()
    };
    let (mut w, at, bt, h) = node_with_flags(floor);
    call_with(&mut w, bt, h, 0, fifo(10));
    let _ = w.incoming(at);
    assert_eq!(w.prio_sets, vec![(at, nice(-10))]);
}

#[test]
fn without_the_capability_no_priority_changes_but_it_is_reported() {
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    w.cmd_full(
        bt,
        Command::Transaction {
            handle: h,
            txn: TxnOut::default(),
        },
        vec![],
        Some(fifo(10)),
    );
    let tx = w.incoming(at);
    assert_eq!(tx.sender.priority, Some(fifo(10)));
    assert!(w.prio_sets.is_empty());
}

#[test]
fn migrated_priority_never_goes_below_the_nodes_minimum() {
    let min = nice(-10);
    let floor = NodeFlags {
        min_priority: Some(min),
        ..NodeFlags::default()
    };
    let (mut w, at, bt, h) = node_with_flags(floor);
    call_with(&mut w, bt, h, 0, nice(10));
    let _ = w.incoming(at);
    assert_eq!(w.prio_sets, vec![(at, min)]);
}

/// A oneway call brings no caller priority, but binder still raises the
/// thread that runs it to the node's minimum, until that thread goes back
/// to waiting for work.
#[test]
fn a_oneway_call_runs_at_least_at_the_nodes_minimum() {
    let min = nice(-10);
    let floor = NodeFlags {
        min_priority: Some(min),
        ..NodeFlags::default()
    };
    let (mut w, at, bt, h) = node_with_flags(floor);
    call_with(&mut w, bt, h, TxnFlags::ONEWAY, nice(10));
    let tx = w.incoming(at);
    assert_eq!(w.prio_sets, vec![(at, min)], "raised to the minimum");
    w.free(at, &tx);
    assert_eq!(w.prio_sets.len(), 1, "still raised until it asks for work");
    w.ok(at, Command::WaitForWork);
    assert_eq!(w.prio_sets, vec![(at, min), (at, Priority::default())]);
    // Without a minimum a oneway call changes nothing.
    let (mut w, at, bt, h) = node_with_flags(NodeFlags::default());
    call_with(&mut w, bt, h, TxnFlags::ONEWAY, fifo(50));
    let tx = w.incoming(at);
    w.free(at, &tx);
    w.ok(at, Command::WaitForWork);
    assert_eq!(w.prio_sets, vec![]);
}

// ---- state ---------------------------------------------------------------

#[test]
fn unprivileged_dump_shows_only_the_callers_process() {
    let mut w = World::with_sm();
    let a = w.process();
    let t = w.thread(a);
    w.ok(t, Command::DumpState);
    let Return::State(s) = w.next(t) else {
        panic!()
    };
    assert_eq!(s.processes.len(), 1);
    assert_eq!(s.processes[0].pid, w.pid(a));
    let r = w.privileged_process();
    let rt = w.thread(r);
    w.ok(rt, Command::DumpState);
    let Return::State(s) = w.next(rt) else {
        panic!()
    };
    assert_eq!(s.processes.len(), 3);
}

#[test]
fn unclaimed_fds_on_a_plain_command_are_closed() {
    let mut w = World::new();
    let a = w.process();
    let t = w.thread(a);
    let fds = w.fds(2);
    w.cmd_full(t, Command::EnterLooper, fds.clone(), None);
    assert_eq!(w.closed, fds);
    let _ = serve_until_reply;
}

#[test]
fn server_thread_dying_with_an_undelivered_call_of_its_own_fails_its_caller() {
    // Found by the randomized test: A -> X serving; X calls B, which has no
    // idle thread; X's thread exits. A must get a dead reply, not hang.
    let mut w = World::with_sm();
    let (a, x, b) = (w.process(), w.process(), w.process());
    let (at, xt, b0) = (w.thread(a), w.looper(x), w.thread(b));
    let to_x = w.give(xt, 0x10, at);
    let to_b = w.give(b0, 0x20, xt);
    w.call(at, to_x, 1, vec![]);
    let _ = w.incoming(xt);
    w.call(xt, to_b, 2, vec![]); // queued: B has no pool thread
    w.thread_exit(xt);
    assert!(matches!(w.answer(at), Return::DeadReply { .. }));
    assert!(w.dump().transactions.is_empty());
}

// ---- multicast topics ----------------------------------------------------

fn topic(w: &mut World, t: ThreadId, limit: u32, drop_slow: bool) -> Handle {
    w.cmd(
        t,
        Command::CreateTopic {
            queue_limit: limit,
            drop_slow,
        },
    );
    match w.next(t) {
        Return::TopicCreated { handle } => handle,
        other => panic!("{other:?}"),
    }
}

/// Passes `h` from `from` to `to` (both with pool threads) with `rights`,
/// through a call on `to`'s object `to_obj`; returns `to`'s handle.
fn pass(
    w: &mut World,
    from: ThreadId,
    to_obj: Handle,
    h: Handle,
    rights: Rights,
    to: ThreadId,
) -> Handle {
    w.call(
        from,
        to_obj,
        7,
        vec![Object::Handle {
            handle: h,
            strong: true,
            rights,
        }],
    );
    let tx = w.incoming(to);
    let Object::Handle { handle, .. } = tx.objects[0] else {
        panic!("{tx:?}")
    };
    w.free(to, &tx);
    w.reply(to, vec![]);
    let _ = w.answer(from);
    w.rewait(to);
    handle
}

/// A subscriber that comes after the last publisher left hears so at
/// once (the design: subscribers learn when the last publisher handle is
/// gone), instead of waiting for good on a topic that cannot publish.
#[test]
fn a_late_subscriber_hears_that_the_publishers_are_gone() {
    let mut tw = topic_world(1, 100, false);
    let (_, l, h) = tw.subs[0];
    let topic = tw.topic;
    tw.w.ok(tw.pt, Command::Release(topic));
    let _ = drain(&mut tw.w, l);
    tw.w.ok(
        l,
        Command::Subscribe {
            topic: h,
            ptr: 0x60,
            cookie: 0x60,
            codes: vec![],
        },
    );
    let (_, notices) = drain(&mut tw.w, l);
    assert!(
        notices.contains(&Return::TopicPublishersGone {
            ptr: 0x60,
            cookie: 0x60
        }),
        "the late subscriber was not told: {notices:?}"
    );
}

/// A publish through a topic handle held only weakly is refused, as any
/// call through a weak handle is.
#[test]
fn a_publish_through_a_weakly_held_topic_handle_is_refused() {
    let mut tw = topic_world(1, 100, false);
    let topic = tw.topic;
    tw.w.ok(tw.pt, Command::IncRefs(topic));
    tw.w.ok(tw.pt, Command::Release(topic));
    let got = publish(&mut tw.w, tw.pt, topic, 1);
    assert!(
        matches!(
            got,
            Return::FailedReply {
                error: Failure::WeakHandleCalled(_),
                ..
            }
        ),
        "a weak publish was accepted: {got:?}"
    );
}

fn publish(w: &mut World, t: ThreadId, h: Handle, code: u32) -> Return {
    w.cmd(
        t,
        Command::Transaction {
            handle: h,
            txn: TxnOut {
                code,
                flags: TxnFlags(TxnFlags::ONEWAY),
                data: DataRange { offset: 0, len: 8 },
                objects: vec![],
                splices: Vec::new(),
                work_source: None,
            },
        },
    );
    w.next(t)
}

/// A publisher with a topic and `n` subscriber processes, each holding a
/// subscribe-only handle and subscribed with its object 0x50+i.
struct TopicWorld {
    w: World,
    pt: ThreadId,
    topic: Handle,
    subs: Vec<(ProcId, ThreadId, Handle)>,
}

fn topic_world(n: usize, limit: u32, drop_slow: bool) -> TopicWorld {
    let mut w = World::with_sm();
    let p = w.process();
    let pt = w.thread(p);
    let t = topic(&mut w, pt, limit, drop_slow);
    let mut subs = Vec::new();
    for i in 0..n {
        let sp = w.process();
        let l = w.looper(sp);
        let obj = w.give(l, 0x40 + i as u64, pt);
        let h = pass(&mut w, pt, obj, t, Rights::SUBSCRIBE | Rights::TRANSFER, l);
        let ptr = 0x50 + i as u64;
        w.ok(
            l,
            Command::Subscribe {
                topic: h,
                ptr,
                cookie: ptr,
                codes: vec![],
            },
        );
        let _ = w.take(l);
        w.rewait(l);
        subs.push((sp, l, h));
    }
    TopicWorld {
        w,
        pt,
        topic: t,
        subs,
    }
}

/// Drains what a subscriber's pool thread got: (seq, code) of messages,
/// freeing each, and the gap notices.
fn drain(w: &mut World, l: ThreadId) -> (Vec<(u64, u32)>, Vec<Return>) {
    let mut msgs = Vec::new();
    let mut notices = Vec::new();
    while let Some((ret, _)) = w.inbox.get_mut(&l).and_then(|q| q.pop_front()) {
        match ret {
            Return::Transaction(tx) => {
                msgs.push((tx.seq.expect("topic messages carry a sequence"), tx.code));
                w.free(l, &tx);
            }
            Return::IncRefs { ptr, cookie } => w.ok(l, Command::IncRefsDone { ptr, cookie }),
            Return::Acquire { ptr, cookie } => w.ok(l, Command::AcquireDone { ptr, cookie }),
            other => notices.push(other),
        }
        w.rewait(l);
    }
    (msgs, notices)
}

/// A publisher may reuse its send area once told: every subscriber's copy
/// is made before. (Unlike a plain oneway call, the message reaches the
/// subscribers before the publisher is told: sending the publisher's
/// TransactionComplete first measured mixed, 40% sooner with one
/// subscriber on another CPU, up to 25% later with 10 and 100.)
#[test]
fn a_publisher_is_told_after_every_subscribers_copy() {
    let mut tw = topic_world(3, 100, false);
    let txn = TxnOut {
        code: 9,
        flags: TxnFlags(TxnFlags::ONEWAY),
        data: DataRange { offset: 0, len: 8 },
        objects: vec![],
        splices: Vec::new(),
        work_source: None,
    };
    let mut fx = Vec::new();
    let cmd = Command::Transaction {
        handle: tw.topic,
        txn,
    };
    tw.w.core.command(tw.pt, cmd, vec![], None, &mut fx);
    told_after_every_copy(&fx, tw.pt);
    let loopers: Vec<ThreadId> = tw.subs.iter().map(|&(_, l, _)| l).collect();
    let copies = fx
        .iter()
        .filter(|e| matches!(e, Effect::Copy { from, .. } if *from == tw.pt))
        .count();
    assert_eq!(copies, loopers.len(), "one copy per subscriber: {fx:#?}");
    tw.w.apply(fx);
    assert_eq!(tw.w.next(tw.pt), Return::TransactionComplete);
    for l in loopers {
        let (msgs, _) = drain(&mut tw.w, l);
        assert_eq!(msgs, vec![(0, 9)]);
    }
}

#[test]
fn every_subscriber_sees_every_publish_in_one_order() {
    let mut tw = topic_world(3, 100, false);
    for code in 1..=5 {
        assert_eq!(
            publish(&mut tw.w, tw.pt, tw.topic, code),
            Return::TransactionComplete
        );
    }
    for (_, l, _) in tw.subs.clone() {
        let (msgs, _) = drain(&mut tw.w, l);
        assert_eq!(msgs, vec![(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]);
    }
}

/// A sensitive publish is handled as a sensitive call: every subscriber's
/// copy is zeroed when it frees it, and the publisher's send area is wiped
/// once, after the last copy out of it.
#[test]
fn a_sensitive_publish_is_zeroed_everywhere() {
    let mut tw = topic_world(2, 100, false);
    let w = &mut tw.w;
    let copies_before = w.copies.len();
    w.cmd(
        tw.pt,
        Command::Transaction {
            handle: tw.topic,
            txn: TxnOut {
                code: 9,
                flags: TxnFlags(TxnFlags::ONEWAY | TxnFlags::CLEAR_BUF),
                data: DataRange { offset: 0, len: 24 },
                ..TxnOut::default()
            },
        },
    );
    assert_eq!(w.next(tw.pt), Return::TransactionComplete);
    assert_eq!(w.copies.len(), copies_before + 2, "one copy per subscriber");
    let from_pt = w.copies.iter().filter(|c| c.0 == tw.pt).count();
    assert_eq!(w.wiped, vec![(tw.pt, 0, 24, from_pt)], "after both copies");
    for (sp, l, _) in tw.subs.clone() {
        let (msgs, _) = drain(w, l);
        assert_eq!(msgs, vec![(0, 9)]);
        assert!(
            w.zeroed.iter().any(|&(p, _, len)| p == sp && len == 24),
            "{:?}",
            w.zeroed
        );
    }
}

/// A publisher's work source reaches every subscriber with the message,
/// as with a call.
#[test]
fn a_topic_message_carries_its_publishers_work_source() {
    let mut tw = topic_world(2, 100, false);
    tw.w.cmd(
        tw.pt,
        Command::Transaction {
            handle: tw.topic,
            txn: TxnOut {
                code: 9,
                flags: TxnFlags(TxnFlags::ONEWAY),
                data: DataRange { offset: 0, len: 8 },
                work_source: Some(10_042),
                ..TxnOut::default()
            },
        },
    );
    assert_eq!(tw.w.next(tw.pt), Return::TransactionComplete);
    for (_, l, _) in tw.subs.clone() {
        let tx = tw.w.incoming(l);
        assert_eq!((tx.code, tx.sender.work_source), (9, Some(10_042)));
        tw.w.free(l, &tx);
    }
}

#[test]
fn a_subscribe_handle_cannot_publish() {
    let mut tw = topic_world(1, 100, false);
    let (_, l, h) = tw.subs[0];
    let _ = drain(&mut tw.w, l);
    let got = publish(&mut tw.w, l, h, 1);
    assert!(
        matches!(&got, Return::FailedReply { error: Failure::NoRight { needed, .. }, .. } if *needed == Rights::PUBLISH),
        "{got:?}"
    );
}

#[test]
fn a_publish_handle_cannot_subscribe() {
    let mut w = World::with_sm();
    let (p, q) = (w.process(), w.process());
    let pt = w.thread(p);
    let ql = w.looper(q);
    let t = topic(&mut w, pt, 10, false);
    let obj = w.give(ql, 0x40, pt);
    let h = pass(&mut w, pt, obj, t, Rights::PUBLISH, ql);
    let e = w.err(
        ql,
        Command::Subscribe {
            topic: h,
            ptr: 1,
            cookie: 1,
            codes: vec![],
        },
    );
    assert!(matches!(e, Failure::NoRight { .. }), "{e}");
}

#[test]
fn a_stalled_subscriber_gets_an_exact_gap_count_and_others_lose_nothing() {
    let mut tw = topic_world(2, 4, false);
    let (_, fast, _) = tw.subs[0];
    let (_, slow, _) = tw.subs[1];
    for code in 0..10 {
        assert_eq!(
            publish(&mut tw.w, tw.pt, tw.topic, code),
            Return::TransactionComplete
        );
        let (msgs, _) = drain(&mut tw.w, fast);
        assert_eq!(msgs, vec![(code as u64, code)]);
    }
    // The slow one never freed anything: 4 queued (its limit), 6 lost.
    let d = tw.w.dump();
    let sub = &d.topics[0].subscribers[1];
    assert_eq!((sub.queue_depth, sub.lost), (4, 6));
    let (msgs, _) = drain(&mut tw.w, slow);
    assert_eq!(
        msgs.iter().map(|m| m.0).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    // Caught up: the next message says exactly 6 were lost before it.
    publish(&mut tw.w, tw.pt, tw.topic, 99);
    let tx = tw.w.incoming(slow);
    assert_eq!((tx.seq, tx.code, tx.lost), (Some(10), 99, 6));
    // And the one after it lost nothing.
    tw.w.free(slow, &tx);
    tw.w.rewait(slow);
    publish(&mut tw.w, tw.pt, tw.topic, 100);
    let tx = tw.w.incoming(slow);
    assert_eq!((tx.seq, tx.lost), (Some(11), 0));
}

#[test]
fn a_slow_subscriber_is_dropped_when_the_topic_says_so() {
    let mut tw = topic_world(1, 2, true);
    let (_, slow, _) = tw.subs[0];
    for code in 0..3 {
        publish(&mut tw.w, tw.pt, tw.topic, code);
    }
    let (_, notices) = drain(&mut tw.w, slow);
    assert!(
        notices.contains(&Return::TopicDropped {
            ptr: 0x50,
            cookie: 0x50
        }),
        "{notices:?}"
    );
    assert!(tw.w.dump().topics[0].subscribers.is_empty());
}

#[test]
fn filters_deliver_only_the_codes_asked_for() {
    let mut tw = topic_world(1, 100, false);
    let (_, l, h) = tw.subs[0];
    tw.w.ok(
        l,
        Command::Unsubscribe {
            topic: h,
            ptr: 0x50,
        },
    );
    tw.w.ok(
        l,
        Command::Subscribe {
            topic: h,
            ptr: 0x60,
            cookie: 0x60,
            codes: vec![2],
        },
    );
    let _ = drain(&mut tw.w, l);
    for code in 1..=3 {
        publish(&mut tw.w, tw.pt, tw.topic, code);
    }
    let (msgs, _) = drain(&mut tw.w, l);
    assert_eq!(msgs, vec![(1, 2)]);
}

#[test]
fn subscribers_learn_when_the_last_publisher_is_gone() {
    let mut tw = topic_world(1, 100, false);
    let (_, l, _) = tw.subs[0];
    let topic = tw.topic;
    tw.w.ok(tw.pt, Command::Release(topic));
    let (_, notices) = drain(&mut tw.w, l);
    assert!(
        notices.contains(&Return::TopicPublishersGone {
            ptr: 0x50,
            cookie: 0x50
        }),
        "{notices:?}"
    );
}

#[test]
fn a_dead_subscriber_is_removed_and_the_rest_get_everything() {
    let mut tw = topic_world(2, 100, false);
    let (dead, _, _) = tw.subs[0];
    let (_, alive, _) = tw.subs[1];
    publish(&mut tw.w, tw.pt, tw.topic, 1);
    tw.w.exit(dead);
    publish(&mut tw.w, tw.pt, tw.topic, 2);
    let (msgs, _) = drain(&mut tw.w, alive);
    assert_eq!(msgs, vec![(0, 1), (1, 2)]);
    assert_eq!(tw.w.dump().topics[0].subscribers.len(), 1);
}

#[test]
fn a_topic_and_its_subscriptions_go_when_nobody_refers_to_it() {
    let tw = topic_world(2, 100, false);
    let mut w = tw.w;
    let mut procs: Vec<ProcId> = tw.subs.iter().map(|s| s.0).collect();
    procs.push(w.core.thread_proc(tw.pt).unwrap());
    procs.push(w.sm.unwrap().0);
    for p in procs {
        w.exit(p);
    }
    assert!(w.core.is_empty(), "{:#?}", w.dump());
}

#[test]
fn the_context_manager_accepts_fds() {
    let mut w = World::with_sm();
    let a = w.process();
    let t = w.thread(a);
    let fds = w.fds(1);
    w.cmd_full(
        t,
        Command::Transaction {
            handle: Handle::CONTEXT_MANAGER,
            txn: TxnOut {
                objects: vec![Object::Fd { index: 0 }],
                ..TxnOut::default()
            },
        },
        fds,
        None,
    );
    let (_, smt) = w.sm.unwrap();
    assert!(matches!(
        w.incoming(smt).objects[0],
        Object::Fd { index: 0 }
    ));
}

#[test]
fn the_last_idle_thread_is_asked_for_another_before_it_takes_work() {
    // Binder's rule: a pool whose last idle thread takes work grows, even if
    // every thread then blocks in a call.
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    w.spawns.clear();
    w.call(bt, h, 1, vec![]);
    assert_eq!(w.spawns, vec![at], "asked before it runs the call");
    assert_eq!(w.incoming(at).code, 1);
    // One request at a time.
    let bt2 = w.thread(b);
    let h2 = w.give(at, 0x10, bt2);
    w.spawns.clear();
    w.call(bt2, h2, 2, vec![]);
    assert!(w.spawns.is_empty());
}

fn publish_blob(w: &mut World, t: ThreadId, h: Handle, code: u32, slot: FdSlot) -> Return {
    w.cmd_full(
        t,
        Command::Transaction {
            handle: h,
            txn: TxnOut {
                code,
                flags: TxnFlags(TxnFlags::ONEWAY | TxnFlags::DATA_IN_BLOB),
                data: DataRange::default(),
                objects: vec![Object::Blob {
                    index: 0,
                    len: 1 << 20,
                }],
                splices: Vec::new(),
                work_source: None,
            },
        },
        vec![slot],
        None,
    );
    w.next(t)
}

#[test]
fn a_large_publish_is_one_blob_shared_by_every_subscriber() {
    // Three subscribers; the last has a queue of one and never frees, so
    // it loses the second publish and gives its share back.
    let mut tw = topic_world(3, 1, false);
    for (_, l, _) in tw.subs.clone() {
        let _ = drain(&mut tw.w, l);
    }
    let slots = tw.w.fds(2);
    for (i, &slot) in slots.iter().enumerate() {
        assert_eq!(
            publish_blob(&mut tw.w, tw.pt, tw.topic, i as u32, slot),
            Return::TransactionComplete
        );
        // Subscribers 0 and 1 keep up.
        for (_, l, _) in tw.subs[..2].iter().copied() {
            let (ret, fds) = tw.w.inbox.get_mut(&l).unwrap().pop_front().unwrap();
            let Return::Transaction(tx) = ret else {
                panic!("{ret:?}")
            };
            assert_eq!(fds, vec![slot], "the same memfd for every subscriber");
            assert_eq!(
                tx.objects,
                vec![Object::Blob {
                    index: 0,
                    len: 1 << 20
                }]
            );
            assert_ne!(tx.flags.0 & TxnFlags::DATA_IN_BLOB, 0);
            tw.w.free(l, &tx);
            tw.w.rewait(l);
        }
    }
    // One ShareFd per publish, naming all three holders.
    assert_eq!(tw.w.shared, vec![(slots[0], 3), (slots[1], 3)]);
    // The stalled subscriber holds the first message; its share of the
    // second came back as a close.
    assert_eq!(tw.w.closed, vec![slots[1]]);
    let (_, slow, _) = tw.subs[2];
    let (ret, fds) = tw.w.inbox.get_mut(&slow).unwrap().pop_front().unwrap();
    assert!(matches!(ret, Return::Transaction(_)), "{ret:?}");
    assert_eq!(fds, vec![slots[0]]);
    // Nothing is left in flight for the publisher.
    let d = tw.w.dump();
    let publisher = d.processes.iter().find(|p| p.fds_in_flight > 0);
    assert!(publisher.is_none(), "{publisher:?}");
}

#[test]
fn a_publish_refuses_binders_and_plain_fds() {
    let mut tw = topic_world(1, 10, false);
    let slot = tw.w.fds(1)[0];
    tw.w.cmd_full(
        tw.pt,
        Command::Transaction {
            handle: tw.topic,
            txn: TxnOut {
                code: 1,
                flags: TxnFlags(TxnFlags::ONEWAY),
                data: DataRange { offset: 0, len: 8 },
                objects: vec![Object::Fd { index: 0 }],
                splices: Vec::new(),
                work_source: None,
            },
        },
        vec![slot],
        None,
    );
    let got = tw.w.next(tw.pt);
    assert!(
        matches!(&got, Return::FailedReply { error: Failure::Topic(m), .. } if m.contains("not multicast")),
        "{got:?}"
    );
    assert_eq!(tw.w.closed, vec![slot], "the refused fd is closed");
}

// ---- binder's own conformance cases (binderLibTest, binderDriverInterfaceTest)

/// The counts every process holds, for "nothing changed" checks.
fn counts(w: &World) -> Vec<(i32, Vec<state::NodeState>, Vec<state::RefState>)> {
    w.dump()
        .processes
        .into_iter()
        .map(|p| (p.pid, p.nodes, p.refs))
        .collect()
}

#[test]
fn a_handle_held_only_weakly_cannot_be_sent_as_strong() {
    // binderLibTest FreedBinder: a proxy whose strong reference is gone
    // cannot be flattened as a strong binder.
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let smt = w.sm.unwrap().1;
    let h = w.give(at, 0x10, bt);
    w.ok(bt, Command::IncRefs(h));
    w.ok(bt, Command::Release(h));
    let _ = w.take(at); // the owner's Release notice
    let before = counts(&w);
    let strong = Object::Handle {
        handle: h,
        strong: true,
        rights: Rights::ALL,
    };
    w.call(bt, Handle::CONTEXT_MANAGER, 1, vec![strong]);
    match w.answer(bt) {
        Return::FailedReply { error, .. } => {
            assert_eq!(error, Failure::WeakHandleSentStrong(h))
        }
        other => panic!("{other:?}"),
    }
    assert!(w.idle(smt), "the service manager got nothing");
    assert!(w.take(at).is_empty(), "the owner heard of nothing");
    assert_eq!(counts(&w), before, "no count moved");
    // Its weak reference is still B's to drop.
    w.ok(bt, Command::DecRefs(h));
    assert_eq!(w.err(bt, Command::DecRefs(h)), Failure::BadHandle(h));
}

#[test]
fn a_refused_call_leaves_the_counts_of_its_other_objects_as_they_were() {
    // binderLibTest WeakRejected and BufRejected: a parcel with a bad
    // object in it is refused whole, and the good objects before the bad
    // one are not left half taken, however often it happens.
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let smt = w.sm.unwrap().1;
    let h = w.give(at, 0x10, bt);
    let before = counts(&w);
    let good = Object::Handle {
        handle: h,
        strong: true,
        rights: Rights::ALL,
    };
    let forged = Handle(9 << 32 | 7);
    let bad = Object::Handle {
        handle: forged,
        strong: true,
        rights: Rights::ALL,
    };
    for i in 0..100u64 {
        // B's own new object, an object it holds, then the forged one.
        let objects = vec![binder(0x100 + i), good.clone(), bad.clone()];
        w.call(bt, Handle::CONTEXT_MANAGER, 1, objects);
        match w.answer(bt) {
            Return::FailedReply { error, .. } => assert_eq!(error, Failure::BadHandle(forged)),
            other => panic!("{other:?}"),
        }
    }
    assert!(w.idle(smt) && w.take(at).is_empty());
    assert_eq!(counts(&w), before, "no node made, no count moved");
    // The same objects without the bad one go through.
    w.call(bt, Handle::CONTEXT_MANAGER, 1, vec![good]);
    let tx = w.incoming(smt);
    assert!(matches!(
        tx.objects[..],
        [Object::Handle { strong: true, .. }]
    ));
}

#[test]
fn a_blob_larger_than_the_limit_is_refused_naming_it() {
    // binderLibTest LimitExceededVectorSent: capbinder sends what does
    // not fit the buffer as a blob, so the limit that bites is max_blob.
    let mut w = World::with(Config {
        limits: Limits {
            max_blob: 2 << 20,
            ..Limits::default()
        },
        ..Config::default()
    });
    w.add_sm();
    let smt = w.sm.unwrap().1;
    let a = w.process();
    let t = w.thread(a);
    let blob = |w: &mut World, len: u64| {
        let fds = w.fds(1);
        let txn = TxnOut {
            objects: vec![Object::Blob { index: 0, len }],
            ..TxnOut::default()
        };
        let call = Command::Transaction {
            handle: Handle::CONTEXT_MANAGER,
            txn,
        };
        w.cmd_full(t, call, fds.clone(), None);
        fds[0]
    };
    let slot = blob(&mut w, 3 << 20);
    match w.answer(t) {
        Return::FailedReply { error, .. } => assert_eq!(
            error,
            Failure::BlobTooLarge {
                len: 3 << 20,
                limit: 2 << 20
            }
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.closed, vec![slot], "the refused blob's fd is closed");
    assert!(w.idle(smt));
    blob(&mut w, 2 << 20);
    let tx = w.incoming(smt);
    assert!(matches!(tx.objects[..], [Object::Blob { len, .. }] if len == 2 << 20));
}

#[test]
fn reference_commands_on_handle_zero_are_accepted_and_change_nothing() {
    // binderDriverInterfaceTest IncRefsAcquireReleaseDecRefs: the context
    // manager's handle is always there; counting on it is a no-op.
    let mut w = World::with_sm();
    let a = w.process();
    let t = w.thread(a);
    let before = counts(&w);
    let h = Handle::CONTEXT_MANAGER;
    for c in [
        Command::IncRefs(h),
        Command::Acquire(h),
        Command::Release(h),
        Command::DecRefs(h),
        Command::Release(h),
        Command::DecRefs(h),
    ] {
        w.ok(t, c);
    }
    assert_eq!(counts(&w), before);
    assert!(w.take(w.sm.unwrap().1).is_empty());
}

#[test]
fn a_thread_that_left_the_pool_can_join_it_again() {
    // binderDriverInterfaceTest ThreadExit, and libbinder's
    // joinThreadPool called again on a thread that left it: the driver
    // takes BC_ENTER_LOOPER after BC_EXIT_LOOPER.
    let mut w = World::with_sm();
    let (a, b) = (w.process(), w.process());
    let (at, bt) = (w.looper(a), w.thread(b));
    let h = w.give(at, 0x10, bt);
    w.ok(at, Command::ExitLooper);
    assert!(
        matches!(w.err(at, Command::WaitForWork), Failure::Looper(_)),
        "out of the pool, it takes no process work"
    );
    w.ok(at, Command::EnterLooper);
    w.ok(at, Command::WaitForWork);
    w.call(bt, h, 5, vec![]);
    assert_eq!(w.serve(at).code, 5);
    assert!(matches!(w.answer(bt), Return::Reply(_)));
    assert!(w.core.check_invariants().is_ok());
}
