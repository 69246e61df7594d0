//! A minimal binder peer over the device, shared by the integration tests
//! and the `capbinder-shim-testpeer` helper binary: just enough of a
//! runtime to make calls, answer nested ones and serve as a looper.
#![allow(dead_code)]

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use capbinder_core::{Command, DataRange, Handle, Object, Return, TxnFlags, TxnIn, TxnOut};
use capbinder_kmod_shim::device::{Device, DeviceError, ThreadChannel};

/// The byte a test blob holds at offset `i` (both sides compute it).
pub fn pattern(i: usize) -> u8 {
    ((i.wrapping_mul(31)) ^ (i >> 12)) as u8
}

/// What a call came back with.
#[derive(Debug)]
pub enum Outcome {
    /// The reply: payload, objects, fds.
    Reply {
        data: Vec<u8>,
        objects: Vec<Object>,
        fds: Vec<OwnedFd>,
    },
    /// Anything else that ended the call (dead, failed, frozen, error).
    Failed(Return),
}

impl Outcome {
    pub fn data(self) -> Vec<u8> {
        match self {
            Outcome::Reply { data, .. } => data,
            Outcome::Failed(r) => panic!("expected a reply, got {r:?}"),
        }
    }
}

/// One process's device and one thread channel.
pub struct Peer {
    pub dev: Device,
    pub tc: ThreadChannel,
}

/// A handler for nested calls arriving while a call waits:
/// (incoming call, its payload, its fds) -> reply payload.
pub type Nested<'a> = &'a mut dyn FnMut(&TxnIn, &[u8], Vec<OwnedFd>) -> Vec<u8>;

impl Peer {
    pub fn open(socket: &Path) -> Result<Peer, DeviceError> {
        let dev = Device::open(Some(socket))?;
        let tc = dev.register_thread()?;
        Ok(Peer { dev, tc })
    }

    pub fn txn(&mut self, code: u32, flags: u32, data: &[u8], objects: Vec<Object>) -> TxnOut {
        self.tc
            .write_send_area(0, data)
            .expect("payload fits the send area");
        TxnOut {
            code,
            flags: TxnFlags(flags),
            data: DataRange {
                offset: 0,
                len: data.len() as u64,
            },
            objects,
            splices: Vec::new(),
            work_source: None,
        }
    }

    /// Answers reference notices the way a runtime must.
    pub fn answer_notice(&mut self, ret: &Return) -> bool {
        let cmd = match *ret {
            Return::IncRefs { ptr, cookie } => Command::IncRefsDone { ptr, cookie },
            Return::Acquire { ptr, cookie } => Command::AcquireDone { ptr, cookie },
            Return::Release { .. }
            | Return::DecRefs { .. }
            | Return::SpawnLooper
            | Return::OnewaySpamSuspect => return true,
            _ => return false,
        };
        self.tc.write(&[cmd], &[]).expect("write");
        true
    }

    /// Makes a sync call and waits for its outcome, serving nested calls.
    pub fn call(
        &mut self,
        handle: Handle,
        code: u32,
        data: &[u8],
        objects: Vec<Object>,
        fds: &[BorrowedFd<'_>],
        nested: Nested<'_>,
    ) -> Result<Outcome, DeviceError> {
        self.call_with_flags(handle, code, 0, data, objects, fds, nested)
    }

    /// [`call`](Self::call) with `flags` besides `ACCEPT_FDS`.
    #[allow(clippy::too_many_arguments)]
    pub fn call_with_flags(
        &mut self,
        handle: Handle,
        code: u32,
        flags: u32,
        data: &[u8],
        objects: Vec<Object>,
        fds: &[BorrowedFd<'_>],
        nested: Nested<'_>,
    ) -> Result<Outcome, DeviceError> {
        let txn = self.txn(code, TxnFlags::ACCEPT_FDS | flags, data, objects);
        self.tc
            .write(&[Command::Transaction { handle, txn }], fds)?;
        self.wait_reply(nested)
    }

    /// Reads until the reply (or failure) of the call in progress.
    pub fn wait_reply(&mut self, nested: Nested<'_>) -> Result<Outcome, DeviceError> {
        loop {
            let (ret, fds) = self.tc.read()?;
            match ret {
                Return::TransactionComplete => {}
                Return::Reply(t) => {
                    let data = self.dev.read_buffer(t.buffer)?;
                    self.tc.write(
                        &[Command::FreeBuffer {
                            offset: t.buffer.offset,
                        }],
                        &[],
                    )?;
                    return Ok(Outcome::Reply {
                        data,
                        objects: t.objects,
                        fds,
                    });
                }
                Return::Transaction(t) => {
                    let data = self.dev.read_buffer(t.buffer)?;
                    let out = nested(&t, &data, fds);
                    self.reply(&t, &out, vec![])?;
                }
                r if self.answer_notice(&r) => {}
                other => return Ok(Outcome::Failed(other)),
            }
        }
    }

    /// A oneway call: returns once the mediator took it.
    pub fn oneway(&mut self, handle: Handle, code: u32, data: &[u8]) -> Result<(), Box<Return>> {
        let txn = self.txn(code, TxnFlags::ONEWAY, data, vec![]);
        self.tc
            .write(&[Command::Transaction { handle, txn }], &[])
            .expect("write");
        loop {
            let (ret, _) = self.tc.read().expect("read");
            match ret {
                Return::TransactionComplete => return Ok(()),
                r if self.answer_notice(&r) => {}
                other => return Err(Box::new(other)),
            }
        }
    }

    /// Frees the call's buffer and replies with `data` and `objects`.
    pub fn reply(
        &mut self,
        t: &TxnIn,
        data: &[u8],
        objects: Vec<Object>,
    ) -> Result<(), DeviceError> {
        let txn = self.txn(0, 0, data, objects);
        self.tc.write(
            &[
                Command::FreeBuffer {
                    offset: t.buffer.offset,
                },
                Command::Reply(txn),
            ],
            &[],
        )
    }

    /// One command, then the next return that is not a reference notice.
    pub fn command(&mut self, cmd: Command) -> Result<Return, DeviceError> {
        self.tc.write(&[cmd], &[])?;
        self.next_return()
    }

    /// The next return that is not a reference notice.
    pub fn next_return(&mut self) -> Result<Return, DeviceError> {
        loop {
            let (ret, _) = self.tc.read()?;
            if !self.answer_notice(&ret) {
                return Ok(ret);
            }
        }
    }
}
