//! `World`: a `Core` plus scripted processes and in-memory mailboxes, the
//! way quinn-proto's `Pair` drives two endpoints without sockets. Every
//! step checks the core's invariants.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};

use capbinder_core::*;

/// A delivered return with the fds that came with it.
pub type Mail = (Return, Vec<FdSlot>);

pub struct World {
    pub core: Core,
    pub inbox: HashMap<ThreadId, VecDeque<Mail>>,
    pub copies: Vec<(ThreadId, u64, ProcId, u64, u64)>,
    /// `CopyReceived` effects: from process, src, to process, dst, len.
    pub spliced: Vec<(ProcId, u64, ProcId, u64, u64)>,
    /// Freed sensitive ranges the I/O layer was told to zero.
    pub zeroed: Vec<(ProcId, u64, u64)>,
    /// Send-area ranges wiped after their sensitive payload was copied:
    /// (thread, offset, len, copies from that thread before the wipe).
    pub wiped: Vec<(ThreadId, u64, u64, usize)>,
    pub closed: Vec<FdSlot>,
    /// `ShareFd` effects: a slot and its holders.
    pub shared: Vec<(FdSlot, u32)>,
    pub prio_sets: Vec<(ThreadId, Priority)>,
    /// `RevokeDirect` effects: the duplicate's slot, whether hard, and
    /// whether drained.
    pub revoked: Vec<(FdSlot, bool, bool)>,
    /// Spawn requests, by thread (kept out of the inboxes: they may come
    /// at any read, as binder's do).
    pub spawns: Vec<ThreadId>,
    next_fd: u64,
    next_pid: i32,
    /// The service manager of `with_sm`: its process and looper thread.
    pub sm: Option<(ProcId, ThreadId)>,
}

pub const SM_PTR: u64 = 0x5000;

impl World {
    pub fn new() -> World {
        World::with(Config::default())
    }

    pub fn with(config: Config) -> World {
        World {
            core: Core::new(config),
            inbox: HashMap::new(),
            copies: Vec::new(),
            spliced: Vec::new(),
            zeroed: Vec::new(),
            wiped: Vec::new(),
            closed: Vec::new(),
            shared: Vec::new(),
            prio_sets: Vec::new(),
            revoked: Vec::new(),
            spawns: Vec::new(),
            next_fd: 1,
            next_pid: 100,
            sm: None,
        }
    }

    /// A world whose first process is a context manager with one looper.
    pub fn with_sm() -> World {
        let mut w = World::new();
        w.add_sm();
        w
    }

    pub fn add_sm(&mut self) {
        let sm = self.process();
        let t = self.thread(sm);
        self.ok(
            t,
            Command::SetContextManager {
                ptr: SM_PTR,
                cookie: SM_PTR,
                flags: NodeFlags::default(),
            },
        );
        self.ok(t, Command::EnterLooper);
        self.ok(t, Command::WaitForWork);
        self.sm = Some((sm, t));
    }

    pub fn process(&mut self) -> ProcId {
        self.next_pid += 1;
        self.process_with(Cred {
            pid: self.next_pid,
            uid: 1000 + self.next_pid as u32,
            euid: 1000 + self.next_pid as u32,
            gid: 1000,
            label: None,
            privileged: false,
        })
    }

    pub fn privileged_process(&mut self) -> ProcId {
        self.next_pid += 1;
        self.process_with(Cred {
            pid: self.next_pid,
            privileged: true,
            ..Cred::default()
        })
    }

    pub fn process_with(&mut self, cred: Cred) -> ProcId {
        self.core.connect(cred)
    }

    pub fn pid(&self, p: ProcId) -> i32 {
        self.core.cred(p).unwrap().pid
    }

    pub fn thread(&mut self, p: ProcId) -> ThreadId {
        let tid = self.pid(p) * 1000 + self.core.threads_of(p).len() as i32;
        self.core.add_thread(p, tid, Priority::default()).unwrap()
    }

    /// A pool thread that entered the looper and waits for work.
    pub fn looper(&mut self, p: ProcId) -> ThreadId {
        let t = self.thread(p);
        self.ok(t, Command::EnterLooper);
        self.ok(t, Command::WaitForWork);
        t
    }

    pub fn fds(&mut self, n: usize) -> Vec<FdSlot> {
        (0..n)
            .map(|_| {
                self.next_fd += 1;
                FdSlot(self.next_fd)
            })
            .collect()
    }

    /// Carries out effects as an I/O layer would: deliveries into the
    /// inboxes, copies and fd closes recorded.
    pub fn apply(&mut self, fx: Vec<Effect>) {
        for e in fx {
            match e {
                Effect::Deliver {
                    thread,
                    ret: Return::SpawnLooper,
                    ..
                } => self.spawns.push(thread),
                Effect::Deliver { thread, ret, fds } => {
                    self.inbox.entry(thread).or_default().push_back((ret, fds))
                }
                Effect::Copy {
                    from,
                    src,
                    to,
                    dst,
                    len,
                } => self.copies.push((from, src, to, dst, len)),
                Effect::CopyReceived {
                    from,
                    src,
                    to,
                    dst,
                    len,
                } => self.spliced.push((from, src, to, dst, len)),
                Effect::Zero { to, offset, len } => self.zeroed.push((to, offset, len)),
                Effect::ZeroSendArea {
                    thread,
                    offset,
                    len,
                } => {
                    let copied = self.copies.iter().filter(|c| c.0 == thread).count();
                    self.wiped.push((thread, offset, len, copied))
                }
                Effect::CloseFds(f) => self.closed.extend(f),
                Effect::ShareFd { slot, holders } => self.shared.push((slot, holders)),
                Effect::SetPriority { thread, prio, .. }
                | Effect::RestorePriority { thread, prio, .. } => {
                    self.prio_sets.push((thread, prio))
                }
                Effect::RevokeDirect { slot, hard, drain } => {
                    self.revoked.push((slot, hard, drain))
                }
            }
        }
        if let Err(e) = self.core.check_invariants() {
            panic!("invariant broken: {e}\n{:#?}", self.core.dump(None));
        }
    }

    /// Runs one command with fds and a caller priority.
    pub fn cmd_full(&mut self, t: ThreadId, c: Command, fds: Vec<FdSlot>, prio: Option<Priority>) {
        let mut fx = Vec::new();
        self.core.command(t, c, fds, prio, &mut fx);
        self.apply(fx);
    }

    /// Runs one command as one the I/O layer refused (see `Core::refuse`).
    pub fn refuse(&mut self, t: ThreadId, c: Command, failure: Failure, fds: Vec<FdSlot>) {
        let mut fx = Vec::new();
        self.core.refuse(t, c, failure, fds, &mut fx);
        self.apply(fx);
    }

    pub fn cmd(&mut self, t: ThreadId, c: Command) {
        self.cmd_full(t, c, Vec::new(), None);
    }

    /// Runs a command that must produce no `Error` for this thread.
    pub fn ok(&mut self, t: ThreadId, c: Command) {
        self.cmd(t, c.clone());
        if let Some(q) = self.inbox.get(&t) {
            if let Some((Return::Error(e), _)) = q.back() {
                panic!("{c:?} failed: {e}");
            }
        }
    }

    /// Runs a command that must fail; returns the failure.
    pub fn err(&mut self, t: ThreadId, c: Command) -> Failure {
        self.cmd(t, c.clone());
        match self.inbox.get_mut(&t).and_then(|q| q.pop_back()) {
            Some((Return::Error(e), _)) => e,
            other => panic!("{c:?} should have failed, got {other:?}"),
        }
    }

    pub fn thread_exit(&mut self, t: ThreadId) {
        let mut fx = Vec::new();
        self.core.thread_exited(t, &mut fx);
        self.apply(fx);
        self.inbox.remove(&t);
    }

    pub fn exit(&mut self, p: ProcId) {
        let threads = self.core.threads_of(p);
        let mut fx = Vec::new();
        self.core.process_exited(p, &mut fx);
        self.apply(fx);
        for t in threads {
            self.inbox.remove(&t);
        }
    }

    /// Everything delivered to `t` so far, in order.
    pub fn take(&mut self, t: ThreadId) -> Vec<Return> {
        self.take_mail(t).into_iter().map(|(r, _)| r).collect()
    }

    pub fn take_mail(&mut self, t: ThreadId) -> Vec<Mail> {
        self.inbox.remove(&t).map(Vec::from).unwrap_or_default()
    }

    /// The next return for `t`, which must exist.
    pub fn next(&mut self, t: ThreadId) -> Return {
        self.next_mail(t).0
    }

    pub fn next_mail(&mut self, t: ThreadId) -> Mail {
        self.inbox
            .get_mut(&t)
            .and_then(|q| q.pop_front())
            .unwrap_or_else(|| panic!("nothing delivered to {t:?}"))
    }

    pub fn idle(&self, t: ThreadId) -> bool {
        self.inbox.get(&t).is_none_or(|q| q.is_empty())
    }

    /// The next incoming call for `t`, skipping reference notices (which
    /// are acknowledged, as a runtime would).
    pub fn incoming(&mut self, t: ThreadId) -> TxnIn {
        loop {
            match self.next(t) {
                Return::Transaction(tx) => return *tx,
                Return::IncRefs { ptr, cookie } => self.ok(t, Command::IncRefsDone { ptr, cookie }),
                Return::Acquire { ptr, cookie } => self.ok(t, Command::AcquireDone { ptr, cookie }),
                Return::TransactionComplete
                | Return::Release { .. }
                | Return::DecRefs { .. }
                | Return::SpawnLooper => {}
                other => panic!("expected a transaction on {t:?}, got {other:?}"),
            }
        }
    }

    /// The reply (or failure) for a call `t` made, acknowledging notices.
    pub fn answer(&mut self, t: ThreadId) -> Return {
        loop {
            match self.next(t) {
                Return::IncRefs { ptr, cookie } => self.ok(t, Command::IncRefsDone { ptr, cookie }),
                Return::Acquire { ptr, cookie } => self.ok(t, Command::AcquireDone { ptr, cookie }),
                Return::TransactionComplete
                | Return::SpawnLooper
                | Return::Release { .. }
                | Return::DecRefs { .. } => {}
                other => return other,
            }
        }
    }

    pub fn call(&mut self, t: ThreadId, h: Handle, code: u32, objects: Vec<Object>) {
        self.call_len(t, h, code, objects, 16);
    }

    pub fn call_len(&mut self, t: ThreadId, h: Handle, code: u32, objects: Vec<Object>, len: u64) {
        self.cmd(
            t,
            Command::Transaction {
                handle: h,
                txn: TxnOut {
                    code,
                    flags: TxnFlags(0),
                    data: DataRange { offset: 0, len },
                    objects,
                    splices: Vec::new(),
                    work_source: None,
                },
            },
        );
    }

    pub fn oneway(&mut self, t: ThreadId, h: Handle, code: u32, len: u64) {
        self.cmd(
            t,
            Command::Transaction {
                handle: h,
                txn: TxnOut {
                    code,
                    flags: TxnFlags(TxnFlags::ONEWAY),
                    data: DataRange { offset: 0, len },
                    objects: vec![],
                    splices: Vec::new(),
                    work_source: None,
                },
            },
        );
    }

    pub fn reply(&mut self, t: ThreadId, objects: Vec<Object>) {
        self.cmd(
            t,
            Command::Reply(TxnOut {
                code: 0,
                flags: TxnFlags(0),
                data: DataRange { offset: 0, len: 8 },
                objects,
                splices: Vec::new(),
                work_source: None,
            }),
        );
    }

    pub fn free(&mut self, t: ThreadId, tx: &TxnIn) {
        self.ok(
            t,
            Command::FreeBuffer {
                offset: tx.buffer.offset,
            },
        );
    }

    /// Serves one incoming call on `t` with an empty reply, freeing it.
    pub fn serve(&mut self, t: ThreadId) -> TxnIn {
        let tx = self.incoming(t);
        self.free(t, &tx);
        self.reply(t, vec![]);
        tx
    }

    /// Hands `to` a strong handle to `owner`'s object `ptr`, the way real
    /// processes do: the owner sends it to the service manager, `to` asks
    /// the service manager for it, and the service manager lets go.
    pub fn give(&mut self, owner: ThreadId, ptr: u64, to: ThreadId) -> Handle {
        let (_, smt) = self.sm.expect("world has a service manager");
        self.call(owner, Handle::CONTEXT_MANAGER, 1, vec![binder(ptr)]);
        let tx = self.incoming(smt);
        let Object::Handle { handle: hs, .. } = tx.objects[0] else {
            panic!("service manager should get a handle: {tx:?}")
        };
        self.free(smt, &tx);
        self.reply(smt, vec![]);
        self.ok(smt, Command::WaitForWork);
        assert!(matches!(self.answer(owner), Return::Reply(_)));
        self.call(to, Handle::CONTEXT_MANAGER, 2, vec![]);
        let tx = self.incoming(smt);
        self.free(smt, &tx);
        self.reply(
            smt,
            vec![Object::Handle {
                handle: hs,
                strong: true,
                rights: Rights::ALL,
            }],
        );
        self.ok(smt, Command::Release(hs));
        self.ok(smt, Command::WaitForWork);
        let Return::Reply(r) = self.answer(to) else {
            panic!("no reply")
        };
        self.free(to, &r);
        self.rewait(owner);
        self.rewait(to);
        match r.objects[0] {
            Object::Handle { handle, .. } => handle,
            ref o => panic!("expected a handle, got {o:?}"),
        }
    }

    /// A pool thread that just made a call goes back to waiting for work,
    /// as a runtime's looper would.
    pub fn rewait(&mut self, t: ThreadId) {
        let p = self.core.thread_proc(t).unwrap();
        let st = self.proc_state(p);
        let th = st.threads.iter().find(|x| x.tid == self.tid(t)).unwrap();
        if matches!(th.looper, Looper::Entered | Looper::Registered)
            && th.stack.is_empty()
            && !th.idle
        {
            self.ok(t, Command::WaitForWork);
        }
    }

    pub fn tid(&self, t: ThreadId) -> i32 {
        let p = self.core.thread_proc(t).unwrap();
        let idx = self
            .core
            .threads_of(p)
            .iter()
            .position(|&x| x == t)
            .unwrap();
        self.pid(p) * 1000 + idx as i32
    }

    pub fn dump(&self) -> StateDump {
        self.core.dump(None)
    }

    pub fn proc_state(&self, p: ProcId) -> state::ProcState {
        let pid = self.pid(p);
        self.dump()
            .processes
            .into_iter()
            .find(|s| s.pid == pid)
            .unwrap()
    }
}

pub fn binder(ptr: u64) -> Object {
    Object::Binder {
        ptr,
        cookie: ptr,
        strong: true,
        flags: NodeFlags {
            accepts_fds: true,
            min_priority: None,
            inherit_rt: false,
        },
    }
}
