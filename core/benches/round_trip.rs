//! One sync round trip through the state machine alone (no I/O): a client
//! thread calls, a pool thread receives, frees, replies, waits again. Prints
//! nanoseconds per round trip and heap allocations per round trip (counted
//! by a wrapping global allocator: the only `unsafe` outside kmod-shim,
//! and it is in a benchmark, not in the crate). Run: `cargo bench -p capbinder-core --bench round_trip`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use capbinder_core::*;

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call forwards unchanged to the system allocator, which
// upholds GlobalAlloc's contract; counting touches no allocated memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's layout contract is passed through as is.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` came from `System.alloc` with this layout (above).
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn cred(pid: i32) -> Cred {
    Cred {
        pid,
        uid: 1000,
        euid: 1000,
        ..Cred::default()
    }
}

fn main() {
    let mut core = Core::new(Config::default());
    let mut fx = Vec::with_capacity(64);
    let server = core.connect(cred(1));
    let client = core.connect(cred(2));
    let st = core.add_thread(server, 10, Priority::default()).unwrap();
    let ct = core.add_thread(client, 20, Priority::default()).unwrap();
    // The server claims handle 0 and serves on one pool thread.
    for c in [
        Command::SetContextManager {
            ptr: 1,
            cookie: 1,
            flags: NodeFlags::default(),
        },
        Command::EnterLooper,
        Command::WaitForWork,
    ] {
        core.command(st, c, vec![], None, &mut fx);
    }
    fx.clear();
    let call = Command::Transaction {
        handle: Handle::CONTEXT_MANAGER,
        txn: TxnOut {
            code: 1,
            flags: TxnFlags(0),
            data: DataRange { offset: 0, len: 32 },
            objects: Vec::new(),
            splices: Vec::new(),
            work_source: None,
        },
    };
    let reply = Command::Reply(TxnOut {
        data: DataRange { offset: 0, len: 32 },
        ..TxnOut::default()
    });
    let round = |core: &mut Core, fx: &mut Vec<Effect>| {
        core.command(ct, call.clone(), Vec::new(), None, fx);
        let mut offset = 0;
        for e in fx.drain(..) {
            if let Effect::Deliver {
                ret: Return::Transaction(t),
                ..
            } = e
            {
                offset = t.buffer.offset;
            }
        }
        core.command(st, Command::FreeBuffer { offset }, Vec::new(), None, fx);
        core.command(st, reply.clone(), Vec::new(), None, fx);
        let mut roff = 0;
        for e in fx.drain(..) {
            if let Effect::Deliver {
                ret: Return::Reply(t),
                ..
            } = e
            {
                roff = t.buffer.offset;
            }
        }
        core.command(
            ct,
            Command::FreeBuffer { offset: roff },
            Vec::new(),
            None,
            fx,
        );
        core.command(st, Command::WaitForWork, Vec::new(), None, fx);
        fx.clear();
    };
    for _ in 0..10_000 {
        round(&mut core, &mut fx);
    }
    let n = 1_000_000u64;
    let allocs0 = ALLOCS.load(Ordering::Relaxed);
    let t0 = Instant::now();
    for _ in 0..n {
        round(&mut core, &mut fx);
    }
    let dt = t0.elapsed();
    let allocs = ALLOCS.load(Ordering::Relaxed) - allocs0;
    assert!(core.check_invariants().is_ok());
    println!(
        "RESULT mech=core-state-machine payload=32 iters={n} ns_per_round_trip={:.0} allocs_per_round_trip={:.2}",
        dt.as_nanos() as f64 / n as f64,
        allocs as f64 / n as f64
    );
}
