//! Randomized state-machine tests: many processes and threads doing random
//! legal and illegal things. After every step the core's invariants hold
//! (`World` checks them); when every process has exited, every table is
//! empty. The seed and the step count are fixed by default and can be set
//! with `CAPBINDER_SEED` and `CAPBINDER_STEPS`.

mod common;

use capbinder_core::*;
use common::World;
use proptest::prelude::*;

/// xorshift64*: deterministic, no dependency, good enough to pick ops.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> Option<T> {
        (!v.is_empty()).then(|| v[self.below(v.len() as u64) as usize])
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

/// What the script remembers of what it saw, to make mostly legal moves.
#[derive(Default)]
struct Seen {
    handles: Vec<(ProcId, Handle)>,
    buffers: Vec<(ThreadId, u64)>,
    cookies: Vec<(ThreadId, u64)>,
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the I/O layer says of a memfd it refuses.
fn refused() -> Failure {
    Failure::BadMemfd {
        object: 0,
        why: "blob: not sealed against writes".into(),
    }
}

/// Mostly none; otherwise one or two splices into a payload of `len`
/// bytes, usually naming a range delivered to `p` (maybe freed since),
/// sometimes garbage.
fn random_splices(rng: &mut Rng, w: &World, p: ProcId, seen: &Seen, len: u64) -> Vec<Splice> {
    if !rng.chance(15) {
        return Vec::new();
    }
    let mine: Vec<u64> = seen
        .buffers
        .iter()
        .filter(|(x, _)| w.core.thread_proc(*x) == Some(p))
        .map(|(_, o)| *o)
        .collect();
    let mut at = 0;
    (0..1 + rng.below(2))
        .map(|_| {
            let s = Splice {
                at: if rng.chance(90) { at } else { rng.next() },
                buffer: if rng.chance(90) {
                    rng.pick(&mine).unwrap_or(0)
                } else {
                    rng.next()
                },
                offset: rng.below(64),
                len: if rng.chance(90) {
                    1 + rng.below(len.max(1))
                } else {
                    rng.next()
                },
            };
            at = s.at.saturating_add(s.len);
            s
        })
        .collect()
}

fn random_object(rng: &mut Rng, w: &World, p: ProcId, seen: &Seen, nfds: &mut u32) -> Object {
    match rng.below(4) {
        0 => Object::Binder {
            ptr: 0x100 + rng.below(6),
            cookie: 0x100 + rng.below(7),
            strong: rng.chance(80),
            flags: NodeFlags {
                accepts_fds: rng.chance(50),
                min_priority: None,
                inherit_rt: false,
            },
        },
        1 => {
            let mine: Vec<Handle> = seen
                .handles
                .iter()
                .filter(|(q, _)| *q == p)
                .map(|(_, h)| *h)
                .collect();
            Object::Handle {
                handle: rng.pick(&mine).unwrap_or(Handle(rng.next())),
                strong: rng.chance(70),
                rights: Rights((rng.next() & 0x1f) as u8),
            }
        }
        2 => {
            *nfds += 1;
            Object::Fd {
                index: if rng.chance(95) {
                    *nfds - 1
                } else {
                    rng.below(300) as u32
                },
            }
        }
        _ => {
            let _ = w;
            *nfds += 1;
            Object::Blob {
                index: *nfds - 1,
                len: rng.below(1 << 31),
            }
        }
    }
}

/// A legal move that keeps calls flowing: a thread answers the call on
/// top of its stack, or an idle-able pool thread waits for work again.
fn progress(w: &mut World, rng: &mut Rng, procs: &[ProcId]) -> bool {
    let Some(p) = rng.pick(procs) else {
        return false;
    };
    let Some(c) = w.core.cred(p) else {
        return false;
    };
    let pid = c.pid;
    let d = w.core.dump(None);
    let Some(ps) = d.processes.iter().find(|x| x.pid == pid) else {
        return false;
    };
    let by_tid: Vec<(i32, ThreadId)> = w
        .core
        .threads_of(p)
        .into_iter()
        .map(|t| (w.tid(t), t))
        .collect();
    for th in &ps.threads {
        let Some(&(_, t)) = by_tid.iter().find(|(tid, _)| *tid == th.tid) else {
            continue;
        };
        let serving = th.stack.first().is_some_and(|id| {
            d.transactions
                .iter()
                .any(|x| x.id == *id && x.to_tid == Some(th.tid))
        });
        if serving {
            w.cmd(
                t,
                Command::Reply(TxnOut {
                    data: DataRange {
                        offset: 0,
                        len: rng.below(200),
                    },
                    ..TxnOut::default()
                }),
            );
            return true;
        }
        let pool = matches!(th.looper, Looper::Entered | Looper::Registered);
        if pool && !th.idle && th.stack.is_empty() {
            w.cmd(t, Command::WaitForWork);
            return true;
        }
    }
    false
}

fn learn(w: &mut World, seen: &mut Seen) -> u64 {
    let mut delivered = 0;
    let threads: Vec<ThreadId> = w.inbox.keys().copied().collect();
    for t in threads {
        let Some(p) = w.core.thread_proc(t) else {
            continue;
        };
        for (ret, _) in w.take_mail(t) {
            match ret {
                Return::Transaction(tx) | Return::Reply(tx) => {
                    delivered += 1;
                    seen.buffers.push((t, tx.buffer.offset));
                    for o in tx.objects {
                        if let Object::Handle { handle, .. } = o {
                            seen.handles.push((p, handle));
                        }
                    }
                }
                Return::Acquire { ptr, cookie } if true => {
                    let mut fx = Vec::new();
                    w.core.command(
                        t,
                        Command::AcquireDone { ptr, cookie },
                        vec![],
                        None,
                        &mut fx,
                    );
                }
                Return::IncRefs { ptr, cookie } => {
                    let mut fx = Vec::new();
                    w.core.command(
                        t,
                        Command::IncRefsDone { ptr, cookie },
                        vec![],
                        None,
                        &mut fx,
                    );
                }
                Return::DeadBinder { cookie } => seen.cookies.push((t, cookie)),
                // Answered for even cookies only, so that unanswered
                // notices (and the changes that wait on them) happen too.
                Return::FrozenBinder { cookie, .. } if cookie % 2 == 0 => {
                    let mut fx = Vec::new();
                    w.core.command(
                        t,
                        Command::FreezeNoticeDone { cookie },
                        vec![],
                        None,
                        &mut fx,
                    );
                }
                Return::TopicCreated { handle } => seen.handles.push((p, handle)),
                _ => {}
            }
        }
    }
    delivered
}

fn run(seed: u64, steps: u64) {
    let mut rng = Rng(seed | 1);
    let mut w = World::new();
    let mut procs: Vec<ProcId> = Vec::new();
    let mut seen = Seen::default();
    for _ in 0..3 {
        procs.push(w.process());
    }
    procs.push(w.privileged_process());
    // A service manager and a pool in each process, as real ones start.
    let sm = w.thread(procs[0]);
    w.cmd(
        sm,
        Command::SetContextManager {
            ptr: 0x100,
            cookie: 0x100,
            flags: NodeFlags::default(),
        },
    );
    for &p in &procs {
        for _ in 0..2 {
            let t = w.thread(p);
            w.cmd(t, Command::EnterLooper);
            w.cmd(t, Command::WaitForWork);
        }
    }
    let mut delivered = 0u64;
    for step in 0..steps {
        delivered += learn(&mut w, &mut seen);
        if rng.chance(45) && progress(&mut w, &mut rng, &procs) {
            continue;
        }
        // Forget what belongs to the dead.
        seen.handles.retain(|(p, _)| w.core.cred(*p).is_some());
        seen.buffers
            .retain(|(t, _)| w.core.thread_proc(*t).is_some());
        seen.cookies
            .retain(|(t, _)| w.core.thread_proc(*t).is_some());
        let Some(p) = rng.pick(&procs) else {
            procs.push(w.process());
            continue;
        };
        let threads = w.core.threads_of(p);
        if threads.is_empty() || rng.chance(3) {
            if threads.len() < 6 {
                let _ = w.thread(p);
            }
            continue;
        }
        let t = rng.pick(&threads).unwrap();
        let mine: Vec<Handle> = seen
            .handles
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, h)| *h)
            .collect();
        let handle = if rng.chance(10) {
            Handle(rng.next() & 0xffff_0000_000f)
        } else if rng.chance(30) || mine.is_empty() {
            Handle::CONTEXT_MANAGER
        } else {
            rng.pick(&mine).unwrap()
        };
        let sel = if rng.chance(1) { 23 } else { rng.below(23) };
        let cmd = match sel {
            0..=5 => {
                let mut nfds = 0;
                let n = if rng.chance(70) { 0 } else { rng.below(4) };
                let objects = (0..n)
                    .map(|_| random_object(&mut rng, &w, p, &seen, &mut nfds))
                    .collect();
                let extra = if rng.chance(5) { 1 } else { 0 };
                let fds = w.fds((nfds + extra) as usize);
                let len = if rng.chance(5) {
                    rng.next()
                } else {
                    rng.below(5000)
                };
                let cmd = Command::Transaction {
                    handle,
                    txn: TxnOut {
                        code: rng.below(5) as u32,
                        flags: TxnFlags(
                            if rng.chance(30) { TxnFlags::ONEWAY } else { 0 }
                                | if rng.chance(50) {
                                    TxnFlags::ACCEPT_FDS
                                } else {
                                    0
                                },
                        ),
                        data: DataRange {
                            offset: if rng.chance(5) { rng.next() } else { 0 },
                            len,
                        },
                        objects,
                        splices: random_splices(&mut rng, &w, p, &seen, len),
                        work_source: None,
                    },
                };
                if rng.chance(3) {
                    w.refuse(t, cmd, refused(), fds);
                } else {
                    w.cmd_full(t, cmd, fds, None);
                }
                continue;
            }
            6..=8 => {
                let mut nfds = 0;
                let n = if rng.chance(70) { 0 } else { rng.below(3) };
                let objects = (0..n)
                    .map(|_| random_object(&mut rng, &w, p, &seen, &mut nfds))
                    .collect();
                let fds = w.fds(nfds as usize);
                let len = rng.below(300);
                let splices = random_splices(&mut rng, &w, p, &seen, len);
                let cmd = Command::Reply(TxnOut {
                    data: DataRange { offset: 0, len },
                    objects,
                    splices,
                    ..TxnOut::default()
                });
                if rng.chance(3) {
                    w.refuse(t, cmd, refused(), fds);
                } else {
                    w.cmd_full(t, cmd, fds, None);
                }
                continue;
            }
            9..=10 => {
                let mine: Vec<u64> = seen
                    .buffers
                    .iter()
                    .filter(|(x, _)| w.core.thread_proc(*x) == Some(p))
                    .map(|(_, o)| *o)
                    .collect();
                let offset = if rng.chance(90) {
                    rng.pick(&mine).unwrap_or(0)
                } else {
                    rng.next()
                };
                seen.buffers.retain(|(_, o)| *o != offset || rng.chance(5));
                Command::FreeBuffer { offset }
            }
            11 => Command::IncRefs(handle),
            12 => Command::Acquire(handle),
            13 => Command::Release(handle),
            14 => Command::DecRefs(handle),
            // Cookies 6 and 7 subscribe to freezing instead (drawn from
            // the same values, so that the sequences stay as they were).
            15 => match rng.below(8) {
                cookie @ 6.. => Command::RequestFreezeNotice { handle, cookie },
                cookie => Command::RequestDeath { handle, cookie },
            },
            16 => match rng.below(8) {
                cookie @ 6.. => Command::ClearFreezeNotice { handle, cookie },
                cookie => Command::ClearDeath { handle, cookie },
            },
            17 => Command::DeadBinderDone {
                cookie: seen
                    .cookies
                    .iter()
                    .find(|(x, _)| *x == t)
                    .map_or(rng.below(8), |c| c.1),
            },
            18 => match rng.below(5) {
                0 => Command::EnterLooper,
                1 => Command::RegisterLooper,
                2 => Command::ExitLooper,
                3 => Command::SpawnFailed,
                _ => Command::WaitForWork,
            },
            19 => Command::WaitForWork,
            20 if rng.chance(12) => {
                // Direct channels: asked on a handle, adoptions named at a
                // thread of some process (mostly a real one).
                let grant = w.dump().direct.first().map_or(rng.below(4), |d| d.grant);
                if rng.chance(40) {
                    Command::RequestDirect { handle }
                } else if rng.chance(30) {
                    Command::AwaitAdoption { grant }
                } else if rng.chance(20) {
                    Command::DirectClosed { grant }
                } else {
                    let pid = rng
                        .pick(&procs)
                        .and_then(|x| w.core.cred(x))
                        .map_or(0, |c| c.pid);
                    Command::AdoptDirect {
                        handle,
                        server_tid: pid * 1000 + rng.below(3) as i32,
                    }
                }
            }
            20 => match rng.below(4) {
                0 => Command::CreateTopic {
                    queue_limit: rng.below(5) as u32,
                    drop_slow: rng.chance(50),
                },
                1 => Command::Unsubscribe {
                    topic: handle,
                    ptr: 0x100 + rng.below(6),
                },
                2 => Command::Subscribe {
                    topic: handle,
                    ptr: 0x100 + rng.below(6),
                    cookie: 0x100 + rng.below(7),
                    codes: if rng.chance(50) {
                        vec![]
                    } else {
                        vec![rng.below(5) as u32]
                    },
                },
                _ => Command::SetMaxThreads(rng.below(20) as u32),
            },
            21 => Command::SetContextManager {
                ptr: 0x100 + rng.below(6),
                cookie: 0x100 + rng.below(6),
                flags: NodeFlags::default(),
            },
            22 => {
                let target = rng.pick(&procs).unwrap();
                match w.core.cred(target) {
                    Some(c) => Command::Freeze {
                        pid: c.pid,
                        enable: rng.chance(50),
                        hold: rng.chance(50),
                    },
                    None => Command::DumpState,
                }
            }
            _ => {
                // Deaths and births.
                match rng.below(3) {
                    0 => w.thread_exit(t),
                    1 if procs.len() > 2 => {
                        w.exit(p);
                        procs.retain(|&x| x != p);
                    }
                    _ => {
                        let np = w.process();
                        let t = w.thread(np);
                        w.cmd(t, Command::EnterLooper);
                        w.cmd(t, Command::WaitForWork);
                        procs.push(np);
                    }
                }
                continue;
            }
        };
        if matches!(cmd, Command::RequestDirect { .. }) && rng.chance(90) {
            // The I/O layer makes the channel's three fds.
            let fds = w.fds(3);
            w.cmd_full(t, cmd, fds, None);
        } else {
            w.cmd(t, cmd);
        }
        let _ = step;
    }
    delivered += learn(&mut w, &mut seen);
    // The script must reach the interesting states, not just bounce off
    // errors.
    eprintln!("seed {seed}: {delivered} calls and replies delivered in {steps} steps");
    assert!(
        delivered > steps / 400,
        "only {delivered} delivered in {steps} steps"
    );
    eprintln!("seed {seed}: {} splices copied", w.spliced.len());
    assert!(
        !w.spliced.is_empty(),
        "no splice got through in {steps} steps"
    );
    for p in procs {
        w.exit(p);
    }
    assert!(w.core.is_empty(), "left behind: {:#?}", w.core.dump(None));
}

#[test]
fn random_commands_keep_invariants_and_free_everything() {
    let seed = env_u64("CAPBINDER_SEED", 0x5eed_cab1);
    let steps = env_u64("CAPBINDER_STEPS", 20_000);
    for i in 0..4 {
        run(seed.wrapping_add(i * 7919), steps / 4);
    }
}

fn arb_command() -> impl Strategy<Value = (u8, u64, u64, u8)> {
    (any::<u8>(), any::<u64>(), any::<u64>(), any::<u8>())
}

fn to_command(sel: u8, a: u64, b: u64, c: u8) -> Command {
    let h = Handle(if c & 1 == 0 { a & 0x3_0000_0003 } else { a });
    match sel % 25 {
        0 | 1 => Command::Transaction {
            handle: h,
            txn: TxnOut {
                code: c as u32,
                flags: TxnFlags(c as u32),
                data: DataRange {
                    offset: b >> 40,
                    len: b & 0xffff,
                },
                objects: (0..(c % 3))
                    .map(|i| match (a >> i) % 5 {
                        0 => Object::Binder {
                            ptr: b % 4,
                            cookie: b % 3,
                            strong: c & 2 == 0,
                            flags: NodeFlags::default(),
                        },
                        1 => Object::Handle {
                            handle: h,
                            strong: c & 4 == 0,
                            rights: Rights(c),
                        },
                        2 => Object::Fd { index: i as u32 },
                        3 => Object::Blob {
                            index: (b % 3) as u32,
                            len: b,
                        },
                        _ => Object::SharedMem { index: 9, len: a },
                    })
                    .collect(),
                splices: Vec::new(),
                work_source: None,
            },
        },
        2 => Command::Reply(TxnOut {
            data: DataRange {
                offset: b >> 60,
                len: b & 0xff,
            },
            ..TxnOut::default()
        }),
        3 => Command::FreeBuffer { offset: b & 0xfff8 },
        4 => Command::IncRefs(h),
        5 => Command::Acquire(h),
        6 => Command::Release(h),
        7 => Command::DecRefs(h),
        8 => Command::IncRefsDone {
            ptr: b % 4,
            cookie: b % 3,
        },
        9 => Command::AcquireDone {
            ptr: b % 4,
            cookie: b % 3,
        },
        10 if c & 3 == 0 => Command::RequestFreezeNotice {
            handle: h,
            cookie: b,
        },
        10 => Command::RequestDeath {
            handle: h,
            cookie: b,
        },
        11 if c & 3 == 0 => Command::ClearFreezeNotice {
            handle: h,
            cookie: b,
        },
        11 => Command::ClearDeath {
            handle: h,
            cookie: b,
        },
        12 if c & 3 == 0 => Command::FreezeNoticeDone { cookie: b },
        12 => Command::DeadBinderDone { cookie: b },
        13 => Command::RegisterLooper,
        14 => Command::EnterLooper,
        15 => Command::ExitLooper,
        // Now and then a thread takes work as a polling one, and is only
        // woken after (its sequences keep the invariants and free all).
        16 if c & 7 == 0 => Command::TakeWork,
        16 => Command::WaitForWork,
        17 => Command::SetMaxThreads(b as u32),
        24 => Command::SpawnFailed,
        21 => Command::CreateTopic {
            queue_limit: (b % 4) as u32,
            drop_slow: c & 1 == 0,
        },
        22 => Command::Subscribe {
            topic: h,
            ptr: b % 4,
            cookie: b % 3,
            codes: vec![],
        },
        23 => Command::Unsubscribe {
            topic: h,
            ptr: b % 4,
        },
        18 => Command::SetContextManager {
            ptr: b % 4,
            cookie: b % 3,
            flags: NodeFlags::default(),
        },
        _ => Command::Freeze {
            pid: (a % 4) as i32 + 101,
            enable: c & 1 == 0,
            hold: c & 2 == 0,
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Arbitrary command sequences from three processes never panic, never
    /// break an invariant, and leave nothing once everyone exits.
    #[test]
    fn arbitrary_command_sequences_never_panic(
        cmds in proptest::collection::vec((0usize..6, arb_command(), 0usize..3), 1..200)
    ) {
        let mut w = World::new();
        let procs = [w.process(), w.process(), w.privileged_process()];
        let threads: Vec<ThreadId> = procs.iter().flat_map(|&p| [w.thread(p), w.thread(p)]).collect();
        for (ti, (sel, a, b, c), nfds) in cmds {
            let fds = w.fds(nfds);
            w.cmd_full(threads[ti], to_command(sel, a, b, c), fds, None);
            let _ = w.take_mail(threads[ti]);
        }
        for p in procs {
            w.exit(p);
        }
        prop_assert!(w.core.is_empty(), "{:#?}", w.core.dump(None));
    }
}
