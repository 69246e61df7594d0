//! The transport's framing: what travels on the process connection and on a
//! thread channel, encoded with postcard, one value per `SOCK_SEQPACKET`
//! message. The binder vocabulary itself (`Command`, `Return`, `Hello`,
//! `Welcome`) lives in `capbinder_core::protocol`; this module only wraps it.
//!
//! - Process connection, client to mediator: [`ClientMsg`].
//! - Process connection, mediator to client: [`ServerMsg`] (`Welcome` comes
//!   with the receive-buffer memfd, `ThreadReady` with the thread channel
//!   end and the send-area memfd, in that order, `AppPrepared` with the
//!   app's end of its connection).
//! - `BindApp` is the one client message that carries an fd (the app's
//!   pidfd); every other message on the process connection carries none.
//! - Thread channel, client to mediator: [`ThreadMsg`]; the fds attached to
//!   one message are consumed in order by the fd-bearing objects of its
//!   `Transaction`/`Reply` commands ([`fd_count`]).
//! - Thread channel, mediator to client: one `Return` per message, with the
//!   fds its objects name attached.
//!
//! `docs/transport.md` describes the same thing for readers of the wire.

use capbinder_core::{fastwire, Command, Hello, Return, TxnIn, Welcome};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// The largest message either side accepts, in bytes. A `Write` with the
/// maximum object count fits well below this; a state dump of a large
/// mediator may not (it is then refused with an error naming this size).
pub const MAX_MSG: usize = 256 << 10;

/// The first and later messages of a process on its connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// The handshake: the client's protocol version and features. Must be
    /// the first message; exactly once.
    Hello(Hello),
    /// Make a thread channel for the calling thread `tid` (a thread of
    /// this process, checked in `/proc/<pid>/task/<tid>`).
    RegisterThread {
        /// The kernel thread id (`gettid()`).
        tid: i32,
    },
    /// Privileged (effective uid 0, the context-manager uid, or a
    /// `privileged_uids` entry): make a connection for an app the caller is
    /// about to start. The mediator makes a socket pair, keeps its end as a
    /// *pending identity* (uid `uid`, gid `gid`, label `name`) on which it
    /// reads nothing, and answers [`ServerMsg::AppPrepared`] with the other
    /// end attached. Added in protocol 1.x without a version bump: a
    /// mediator that predates it disconnects the caller.
    PrepareApp {
        /// The app's name: its label for every service and policy.
        name: String,
        /// The uid the app will run as.
        uid: u32,
        /// The gid the app will run as.
        gid: u32,
    },
    /// Completes a [`ClientMsg::PrepareApp`]: exactly one fd is attached, a
    /// pidfd of the app's process. The mediator checks it is a pidfd of a
    /// live process whose real and effective uid and gid are the prepared
    /// ones, binds the pending connection to that process, and only then
    /// starts reading it (a `Hello` sent earlier waits in the socket).
    /// Answered by [`ServerMsg::AppBound`] or [`ServerMsg::AppRefused`].
    BindApp {
        /// The token `AppPrepared` named.
        token: u64,
    },
}

/// The mediator's messages on a process connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerMsg {
    /// The handshake succeeded; the receive-buffer memfd is attached.
    Welcome(Welcome),
    /// The handshake (or the connection) was refused; the mediator closes
    /// the connection after this.
    Refused {
        /// Why, naming both versions for a version mismatch.
        reason: String,
    },
    /// A thread channel is ready: attached are its channel end and its
    /// send-area memfd, in that order.
    ThreadReady {
        /// The send area's length in bytes.
        send_area_len: u64,
    },
    /// `RegisterThread` was refused (bad tid, thread cap); the connection
    /// stays usable.
    ThreadRefused {
        /// Why.
        reason: String,
    },
    /// `PrepareApp` succeeded: the app's end of its connection is attached
    /// (close-on-exec; the launcher places it on the app's fd 3).
    AppPrepared {
        /// Names the pending connection in `BindApp`.
        token: u64,
    },
    /// `BindApp` succeeded: the connection is the process `pid` now.
    AppBound {
        /// The app's pid, as the pidfd named it.
        pid: i32,
    },
    /// `PrepareApp` or `BindApp` was refused; the connection stays usable
    /// (a refused bind drops the pending connection).
    AppRefused {
        /// Why.
        reason: String,
    },
}

/// A message on a thread channel from the client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThreadMsg {
    /// Commands, applied in order (binder's write buffer).
    Write(Vec<Command>),
}

/// [`ThreadMsg`] borrowing its commands: the same bytes on the wire
/// (postcard writes a slice as it writes a `Vec`), without cloning every
/// command into a `Vec` just to encode it.
#[derive(Debug, Serialize)]
pub enum ThreadMsgRef<'a> {
    /// As [`ThreadMsg::Write`].
    Write(&'a [Command]),
}

/// Encoding failed (a value too large for [`MAX_MSG`]).
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// postcard refused the bytes.
    #[error("malformed message ({len} bytes): {source}")]
    Malformed {
        /// The message length.
        len: usize,
        /// postcard's reason.
        #[source]
        source: postcard::Error,
    },
    /// Bytes were left after the value.
    #[error("malformed message: {extra} bytes left over after a {len}-byte value")]
    Trailing {
        /// The message length.
        len: usize,
        /// Bytes not consumed.
        extra: usize,
    },
    /// The encoded value is larger than [`MAX_MSG`].
    #[error("a {len}-byte message exceeds the {MAX_MSG}-byte limit of the transport")]
    TooLarge {
        /// Its size.
        len: usize,
    },
    /// postcard could not encode the value.
    #[error("encoding failed: {0}")]
    Encode(#[source] postcard::Error),
}

/// The capacity an encoding starts with: a call or reply without objects
/// or a long sender label, and the commands that send one, take well under
/// this, so one allocation holds them where growing from empty took
/// several.
pub(crate) const ENCODE_CAPACITY: usize = 128;

/// The most room an encoding buffer kept for reuse may have (the
/// mediator's buffers of sent returns, a thread channel's write buffer):
/// a rare large message must not pin its peak.
pub(crate) const KEEP_CAPACITY: usize = 4096;

/// Writes up to this long are copied byte by byte ([`VecFlavor`]).
const SHORT: usize = 16;

/// postcard's `AllocVec` flavor, but over a `Vec` made with
/// [`ENCODE_CAPACITY`] (`AllocVec` always starts empty; `to_extend`
/// pushes each byte through `Extend`, a quarter slower here).
struct VecFlavor(Vec<u8>);

impl postcard::ser_flavors::Flavor for VecFlavor {
    type Output = Vec<u8>;

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        // postcard hands over every varint (one to ten bytes) through
        // here: a `memcpy` call for each was a third of the cost of
        // encoding a call (callgrind, in the mediator); byte by byte, a
        // short one costs a few instructions.
        if bytes.len() <= SHORT {
            self.0.reserve(bytes.len());
            for &b in bytes {
                self.0.push(b);
            }
        } else {
            self.0.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn finalize(self) -> postcard::Result<Vec<u8>> {
        Ok(self.0)
    }
}

/// Encodes one message.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, WireError> {
    encode_into(value, Vec::with_capacity(ENCODE_CAPACITY))
}

/// Encodes one message into `buf` (emptied first): where a hand-written
/// encoding gave up, its room is used again.
fn encode_into<T: Serialize>(value: &T, mut buf: Vec<u8>) -> Result<Vec<u8>, WireError> {
    buf.clear();
    let bytes =
        postcard::serialize_with_flavor(value, VecFlavor(buf)).map_err(WireError::Encode)?;
    sized(bytes)
}

/// Decodes exactly one message: trailing bytes are an error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    let len = bytes.len();
    let (value, rest) =
        postcard::take_from_bytes(bytes).map_err(|source| WireError::Malformed { len, source })?;
    if !rest.is_empty() {
        return Err(WireError::Trailing {
            len,
            extra: rest.len(),
        });
    }
    Ok(value)
}

/// How many of a message's attached fds a command takes (they are taken in
/// command order): the number of fd-bearing objects of a
/// `Transaction`/`Reply`, zero for every other command.
pub fn fd_count(cmd: &Command) -> usize {
    match cmd {
        Command::Transaction { txn, .. } | Command::Reply(txn) => txn
            .objects
            .iter()
            .filter(|o| o.fd_index().is_some())
            .count(),
        _ => 0,
    }
}

/// `ThreadMsg::Write`'s tag: postcard's index of the variant.
const WRITE: u64 = 0;

/// Encodes a `Return` for a thread channel: by hand for the returns of
/// every call (`capbinder_core::fastwire`), by postcard otherwise; the
/// same bytes either way.
pub fn encode_return(ret: &Return) -> Result<Vec<u8>, WireError> {
    encode_return_into(ret, Vec::with_capacity(ENCODE_CAPACITY))
}

/// [`encode_return`] into `out` (emptied first): the mediator passes the
/// buffer of a message it sent earlier, so that a call's returns allocate
/// nothing.
pub fn encode_return_into(ret: &Return, mut out: Vec<u8>) -> Result<Vec<u8>, WireError> {
    out.clear();
    if fastwire::write_return(ret, &mut out) {
        return sized(out);
    }
    encode_into(ret, out)
}

/// Decodes a `Return` from a thread channel (see [`encode_return`]).
pub fn decode_return(bytes: &[u8]) -> Result<Return, WireError> {
    decode_return_in(bytes, &mut None)
}

/// [`decode_return`], boxing a delivered call or reply in `spare` when
/// there is one (see [`fastwire::read_return_in`]).
pub fn decode_return_in(bytes: &[u8], spare: &mut Option<Box<TxnIn>>) -> Result<Return, WireError> {
    match fastwire::read_return_in(bytes, spare) {
        Some((ret, [])) => Ok(ret),
        _ => decode(bytes),
    }
}

/// Encodes a `Write` of `cmds` (as [`ThreadMsg::Write`]): by hand when
/// every command is one `fastwire` writes, by postcard otherwise.
pub fn encode_write(cmds: &[Command]) -> Result<Vec<u8>, WireError> {
    encode_write_into(cmds, Vec::with_capacity(ENCODE_CAPACITY))
}

/// [`encode_write`] into `out` (emptied first): a thread channel encodes
/// each write into the buffer of the one before.
pub fn encode_write_into(cmds: &[Command], mut out: Vec<u8>) -> Result<Vec<u8>, WireError> {
    out.clear();
    fastwire::write_u64(WRITE, &mut out);
    fastwire::write_u64(cmds.len() as u64, &mut out);
    if cmds.iter().all(|c| fastwire::write_command(c, &mut out)) {
        return sized(out);
    }
    encode_into(&ThreadMsgRef::Write(cmds), out)
}

/// Decodes a thread channel's `Write` into `out` (emptied first, and
/// kept by the caller so that its room is reused).
pub fn decode_write(bytes: &[u8], out: &mut Vec<Command>) -> Result<(), WireError> {
    out.clear();
    if read_write_fast(bytes, out).is_some() {
        return Ok(());
    }
    out.clear();
    let ThreadMsg::Write(cmds) = decode(bytes)?;
    out.extend(cmds);
    Ok(())
}

/// The hand-read path of [`decode_write`]; `None` leaves it to postcard.
fn read_write_fast(bytes: &[u8], out: &mut Vec<Command>) -> Option<()> {
    let (WRITE, rest) = fastwire::read_u64(bytes)? else {
        return None;
    };
    let (n, mut rest) = fastwire::read_u64(rest)?;
    // Each command takes at least a byte: a count past what is left
    // fails before anything is reserved for it.
    for _ in 0..n {
        let (cmd, r) = fastwire::read_command(rest)?;
        out.push(cmd);
        rest = r;
    }
    rest.is_empty().then_some(())
}

/// `bytes`, unless longer than [`MAX_MSG`].
fn sized(bytes: Vec<u8>) -> Result<Vec<u8>, WireError> {
    if bytes.len() > MAX_MSG {
        return Err(WireError::TooLarge { len: bytes.len() });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_borrowed_write_encodes_like_an_owned_one() {
        let cmds = vec![
            Command::EnterLooper,
            Command::FreeBuffer { offset: 4096 },
            Command::Transaction {
                handle: capbinder_core::Handle(3),
                txn: capbinder_core::TxnOut {
                    code: 7,
                    flags: capbinder_core::TxnFlags(capbinder_core::TxnFlags::ONEWAY),
                    data: capbinder_core::DataRange { offset: 0, len: 32 },
                    objects: vec![capbinder_core::Object::Fd { index: 0 }],
                    splices: Vec::new(),
                    work_source: None,
                },
            },
            Command::WaitForWork,
        ];
        assert_eq!(
            encode(&ThreadMsgRef::Write(&cmds)).unwrap(),
            encode(&ThreadMsg::Write(cmds.clone())).unwrap()
        );
    }
    use capbinder_core::{DataRange, Handle, Object, TxnOut};

    #[test]
    fn encoding_is_postcards_own() {
        let small = ClientMsg::RegisterThread { tid: 5 };
        let large = ServerMsg::Refused {
            reason: "x".repeat(3 * ENCODE_CAPACITY),
        };
        assert_eq!(
            encode(&small).unwrap(),
            postcard::to_stdvec(&small).unwrap()
        );
        assert_eq!(
            encode(&large).unwrap(),
            postcard::to_stdvec(&large).unwrap()
        );
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut b = encode(&ClientMsg::RegisterThread { tid: 5 }).unwrap();
        b.push(0);
        assert!(matches!(
            decode::<ClientMsg>(&b),
            Err(WireError::Trailing { extra: 1, .. })
        ));
    }

    #[test]
    fn truncated_postcard_is_an_error_not_a_panic() {
        let b = encode(&ThreadMsg::Write(vec![Command::Transaction {
            handle: Handle(0),
            txn: TxnOut {
                code: 7,
                data: DataRange { offset: 0, len: 9 },
                objects: vec![Object::Fd { index: 0 }],
                ..TxnOut::default()
            },
        }]))
        .unwrap();
        for cut in 0..b.len() {
            assert!(decode::<ThreadMsg>(&b[..cut]).is_err());
        }
    }

    #[test]
    fn fds_split_per_fd_bearing_object() {
        let t = |objects| {
            Command::Reply(TxnOut {
                objects,
                ..TxnOut::default()
            })
        };
        let cmds = [
            t(vec![
                Object::Fd { index: 0 },
                Object::Blob { index: 1, len: 3 },
            ]),
            Command::FreeBuffer { offset: 0 },
            t(vec![Object::SharedMem { index: 0, len: 1 }]),
        ];
        let counts: Vec<usize> = cmds.iter().map(fd_count).collect();
        assert_eq!(counts, vec![2, 0, 1]);
    }
}
