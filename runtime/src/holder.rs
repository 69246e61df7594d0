//! `ParcelableHolder`: AIDL's extension slot. A parcelable declares a field
//! `ParcelableHolder ext;` and any other parcelable can travel in it, named
//! by its descriptor, without the declaring parcelable knowing its type.
//!
//! A holder is empty or holds one parcelable **as written**: its
//! descriptor, its bytes and the objects (binders, file descriptors) it
//! carries. [`ParcelableHolder::set_parcelable`] writes a value in;
//! [`ParcelableHolder::get_parcelable`] reads it back if the descriptor is
//! the one asked for, and refuses another type with `BadType` rather than
//! decoding one type's bytes as another. A process that never asks keeps
//! what it received and writes it on unchanged.
//!
//! # Wire format
//!
//! A `bool` (whether it holds something), then: the descriptor as a
//! `String`, the held parcelable's bytes as a byte array (its own object
//! indices count from 0 within them), a varint count of its objects, and
//! each object as a tag byte (`0` binder, `1` file descriptor) followed by
//! the object itself in the enclosing parcel.

use std::fmt;
use std::sync::Arc;

use capbinder_core::Rights;

use crate::binder::SpIBinder;
use crate::parcel::{Parcel, Slot};
use crate::parcelable::Parcelable;
use crate::pfd::ParcelFileDescriptor;
use crate::status::{ExceptionCode, Result, Status, StatusCode};

/// A parcelable type that can go into a [`ParcelableHolder`]: its AIDL
/// descriptor (the qualified name, `com.example.Ext`). Generated
/// parcelables and unions implement it; a `rust_type` parcelable may too.
pub trait ParcelableMetadata {
    /// The descriptor a holder records the value with.
    const DESCRIPTOR: &'static str;
}

/// An object carried by the held parcelable.
#[derive(Clone, PartialEq)]
enum Object {
    Binder(SpIBinder, Rights),
    Fd(ParcelFileDescriptor),
}

#[derive(Clone, PartialEq)]
struct Held {
    descriptor: String,
    bytes: Arc<[u8]>,
    objects: Vec<Object>,
}

/// AIDL's `ParcelableHolder`: nothing, or one parcelable with its
/// descriptor, held as written (bytes and objects), so that a process that
/// never asks for it writes it on unchanged; `get_parcelable` refuses a
/// descriptor other than the one asked for. Cloning shares the held bytes and
/// objects. Two holders are equal when they hold the same descriptor,
/// bytes and objects (file descriptors compare by number, so the same
/// value set twice, its descriptors duplicated each time, is not equal).
#[derive(Clone, Default, PartialEq)]
pub struct ParcelableHolder {
    held: Option<Held>,
}

fn bad(what: impl Into<String>) -> Status {
    Status::exception(ExceptionCode::BadParcelable, what)
}

impl ParcelableHolder {
    /// An empty holder.
    pub fn new() -> ParcelableHolder {
        ParcelableHolder::default()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.held.is_none()
    }

    /// The descriptor of what it holds.
    pub fn descriptor(&self) -> Option<&str> {
        self.held.as_ref().map(|h| h.descriptor.as_str())
    }

    /// Empties it.
    pub fn clear(&mut self) {
        self.held = None;
    }

    /// Writes `value` in, replacing what was held. Its file descriptors are
    /// duplicated (the caller keeps its own).
    pub fn set_parcelable<T: Parcelable + ParcelableMetadata>(&mut self, value: &T) -> Result<()> {
        let mut p = Parcel::new();
        value.write_to(&mut p)?;
        let (bytes, slots) = p.take_parts();
        let objects = slots
            .into_iter()
            .map(|s| match s {
                Slot::Binder(b, rights) => Ok(Object::Binder(b, rights)),
                // Held objects are sent again as they are kept, strong.
                Slot::Weak(..) => Err(Status::from_code(
                    StatusCode::BadValue,
                    "a ParcelableHolder holds binders and file descriptors, not weak references",
                )),
                Slot::Fd(Some(fd)) => Ok(Object::Fd(ParcelFileDescriptor::new(fd))),
                Slot::Fd(None) => Err(Status::from_code(
                    StatusCode::BadValue,
                    "a written file descriptor is missing",
                )),
            })
            .collect::<Result<Vec<_>>>()?;
        self.held = Some(Held {
            descriptor: T::DESCRIPTOR.to_string(),
            bytes: bytes.into(),
            objects,
        });
        Ok(())
    }

    /// Reads what it holds as a `T`: `None` when empty, `BadType` when it
    /// holds another type, `BadParcelable` when the bytes are not a `T`
    /// (or hold more than one). File descriptors come back duplicated, so
    /// it can be read again.
    pub fn get_parcelable<T: Parcelable + ParcelableMetadata>(&self) -> Result<Option<T>> {
        let Some(held) = &self.held else {
            return Ok(None);
        };
        if held.descriptor != T::DESCRIPTOR {
            return Err(Status::from_code(
                StatusCode::BadType,
                format!(
                    "the ParcelableHolder holds a `{}`, not a `{}`",
                    held.descriptor,
                    T::DESCRIPTOR
                ),
            ));
        }
        let slots = held
            .objects
            .iter()
            .map(|o| match o {
                Object::Binder(b, rights) => Ok(Slot::Binder(b.clone(), *rights)),
                Object::Fd(fd) => fd.try_clone_fd().map(|fd| Slot::Fd(Some(fd))).map_err(|e| {
                    Status::from_code(
                        StatusCode::BadValue,
                        format!("duplicating a held file descriptor: {e}"),
                    )
                }),
            })
            .collect::<Result<Vec<_>>>()?;
        let mut p = Parcel::from_parts(held.bytes.to_vec(), slots);
        let value = T::read_from(&mut p)?;
        if p.remaining() != 0 {
            return Err(bad(format!(
                "{} bytes left after the `{}` in a ParcelableHolder",
                p.remaining(),
                T::DESCRIPTOR
            )));
        }
        Ok(Some(value))
    }
}

impl fmt::Debug for ParcelableHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.held {
            None => f.write_str("ParcelableHolder(empty)"),
            Some(h) => f
                .debug_struct("ParcelableHolder")
                .field("descriptor", &h.descriptor)
                .field("bytes", &h.bytes.len())
                .field("objects", &h.objects.len())
                .finish(),
        }
    }
}

impl Parcelable for ParcelableHolder {
    fn write_to(&self, parcel: &mut Parcel) -> Result<()> {
        let Some(held) = &self.held else {
            return parcel.write(&false);
        };
        parcel.write(&true)?;
        parcel.write(held.descriptor.as_str())?;
        parcel.write_bytes(&held.bytes)?;
        parcel.write(&(held.objects.len() as u64))?;
        for o in &held.objects {
            match o {
                Object::Binder(b, rights) => {
                    parcel.write(&0u8)?;
                    parcel.write_binder_with_rights(b, *rights)?;
                }
                Object::Fd(fd) => {
                    parcel.write(&1u8)?;
                    fd.write_to(parcel)?;
                }
            }
        }
        Ok(())
    }

    fn read_from(parcel: &mut Parcel) -> Result<Self> {
        if !parcel.read::<bool>()? {
            return Ok(ParcelableHolder::default());
        }
        let descriptor: String = parcel.read()?;
        let bytes: Arc<[u8]> = parcel.read_bytes()?.into();
        let count: u64 = parcel.read()?;
        let left = parcel.remaining();
        // every object takes at least two bytes (tag and index)
        let count = usize::try_from(count)
            .ok()
            .filter(|&n| n <= left / 2)
            .ok_or_else(|| {
                bad(format!(
                    "a ParcelableHolder with {count} objects cannot fit in the {left} bytes left"
                ))
            })?;
        let mut objects = Vec::with_capacity(count);
        for _ in 0..count {
            let o = match parcel.read::<u8>()? {
                0 => Object::Binder(parcel.read_binder()?, Rights::ALL),
                1 => Object::Fd(ParcelFileDescriptor::read_from(parcel)?),
                t => return Err(bad(format!("a ParcelableHolder object with tag {t}"))),
            };
            objects.push(o);
        }
        Ok(ParcelableHolder {
            held: Some(Held {
                descriptor,
                bytes,
                objects,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Seek, Write};

    use super::*;
    use crate::parcelable::{garbled_inputs, read_section, write_section};

    /// A parcelable with a file descriptor in it.
    #[derive(Debug, Default, PartialEq)]
    struct Ext {
        a: i32,
        s: String,
        fd: Option<ParcelFileDescriptor>,
    }

    impl ParcelableMetadata for Ext {
        const DESCRIPTOR: &'static str = "t.Ext";
    }

    impl Parcelable for Ext {
        fn write_to(&self, parcel: &mut Parcel) -> Result<()> {
            write_section(parcel, |p| {
                self.a.write_to(p)?;
                self.s.write_to(p)?;
                self.fd.write_to(p)
            })
        }
        fn read_from(parcel: &mut Parcel) -> Result<Self> {
            read_section(parcel, |s| {
                let mut v = Ext::default();
                s.read_into(&mut v.a)?;
                s.read_into(&mut v.s)?;
                s.read_into(&mut v.fd)?;
                Ok(v)
            })
        }
    }

    #[derive(Debug, Default, PartialEq)]
    struct Other(i32);

    impl ParcelableMetadata for Other {
        const DESCRIPTOR: &'static str = "t.Other";
    }

    impl Parcelable for Other {
        fn write_to(&self, parcel: &mut Parcel) -> Result<()> {
            write_section(parcel, |p| self.0.write_to(p))
        }
        fn read_from(parcel: &mut Parcel) -> Result<Self> {
            read_section(parcel, |s| {
                let mut v = Other::default();
                s.read_into(&mut v.0)?;
                Ok(v)
            })
        }
    }

    fn temp_file(contents: &[u8]) -> std::fs::File {
        let path = std::env::temp_dir().join(format!(
            "capbinder-holder-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        f.write_all(contents).unwrap();
        f
    }

    fn read_all(fd: &ParcelFileDescriptor) -> Vec<u8> {
        let mut f = std::fs::File::from(fd.try_clone_fd().unwrap());
        f.rewind().unwrap();
        let mut v = Vec::new();
        f.read_to_end(&mut v).unwrap();
        v
    }

    #[test]
    fn empty_round_trips() {
        let mut p = Parcel::new();
        ParcelableHolder::new().write_to(&mut p).unwrap();
        let h = ParcelableHolder::read_from(&mut p).unwrap();
        assert!(h.is_empty());
        assert_eq!(h.descriptor(), None);
        assert_eq!(h.get_parcelable::<Ext>().unwrap(), None);
    }

    #[test]
    fn a_held_parcelable_round_trips_with_its_fd() {
        let ext = Ext {
            a: 7,
            s: "seven".into(),
            fd: Some(ParcelFileDescriptor::new(temp_file(b"held bytes"))),
        };
        let mut h = ParcelableHolder::new();
        h.set_parcelable(&ext).unwrap();
        assert_eq!(h.descriptor(), Some("t.Ext"));

        let mut p = Parcel::new();
        11i32.write_to(&mut p).unwrap();
        h.write_to(&mut p).unwrap();
        22i32.write_to(&mut p).unwrap();
        assert_eq!(i32::read_from(&mut p).unwrap(), 11);
        let back = ParcelableHolder::read_from(&mut p).unwrap();
        assert_eq!(
            i32::read_from(&mut p).unwrap(),
            22,
            "the next value is intact"
        );

        for _ in 0..2 {
            // read twice: the held descriptor is duplicated, not taken
            let got: Ext = back.get_parcelable().unwrap().unwrap();
            assert_eq!((got.a, got.s.as_str()), (7, "seven"));
            let fd = got.fd.unwrap();
            assert_ne!(Some(&fd), ext.fd.as_ref(), "a descriptor of its own");
            assert_eq!(read_all(&fd), b"held bytes");
        }
    }

    #[test]
    fn the_wrong_type_is_refused() {
        let mut h = ParcelableHolder::new();
        h.set_parcelable(&Other(5)).unwrap();
        let err = h.get_parcelable::<Ext>().unwrap_err();
        assert_eq!(err.code, StatusCode::BadType, "{err}");
        assert!(err.message.contains("t.Other"), "{err}");
        assert_eq!(h.get_parcelable::<Other>().unwrap(), Some(Other(5)));
        h.set_parcelable(&Ext::default()).unwrap();
        assert_eq!(h.descriptor(), Some("t.Ext"), "set replaces");
        assert!(h.get_parcelable::<Other>().is_err());
        h.clear();
        assert_eq!(h.get_parcelable::<Other>().unwrap(), None);
    }

    #[test]
    fn an_unknown_type_is_kept_and_written_back_unchanged() {
        let mut h = ParcelableHolder::new();
        h.set_parcelable(&Ext {
            a: -1,
            s: "unknown here".into(),
            fd: Some(ParcelFileDescriptor::new(temp_file(b"passed on"))),
        })
        .unwrap();
        let mut first = Parcel::new();
        h.write_to(&mut first).unwrap();
        let first_bytes = first.bytes().to_vec();

        // a middle process that knows neither type reads and re-sends it
        let middle = ParcelableHolder::read_from(&mut first).unwrap();
        assert_eq!(middle.descriptor(), Some("t.Ext"));
        assert!(middle.get_parcelable::<Other>().is_err());
        let mut second = Parcel::new();
        middle.write_to(&mut second).unwrap();
        assert_eq!(second.bytes(), &first_bytes[..], "the same bytes");
        assert_eq!(second.object_count(), 1);

        let last = ParcelableHolder::read_from(&mut second).unwrap();
        let got: Ext = last.get_parcelable().unwrap().unwrap();
        assert_eq!((got.a, got.s.as_str()), (-1, "unknown here"));
        assert_eq!(read_all(got.fd.as_ref().unwrap()), b"passed on");
    }

    #[test]
    fn bytes_that_are_not_the_type_are_an_error() {
        // a holder claiming `t.Ext` whose bytes are something else
        let mut p = Parcel::new();
        p.write(&true).unwrap();
        p.write("t.Ext").unwrap();
        p.write_bytes(&[3, 0, 0, 0, 0xff]).unwrap();
        p.write(&0u64).unwrap();
        let h = ParcelableHolder::read_from(&mut p).unwrap();
        let err = h.get_parcelable::<Ext>().unwrap_err();
        assert_eq!(err.exception, ExceptionCode::BadParcelable, "{err}");

        // an `Other` followed by bytes that belong to nothing
        let mut body = Parcel::new();
        Other(1).write_to(&mut body).unwrap();
        body.write(&9u8).unwrap();
        let mut p = Parcel::new();
        p.write(&true).unwrap();
        p.write("t.Other").unwrap();
        p.write_bytes(&body.bytes()).unwrap();
        p.write(&0u64).unwrap();
        let h = ParcelableHolder::read_from(&mut p).unwrap();
        assert!(h.get_parcelable::<Other>().is_err());
    }

    #[test]
    fn garbled_holders_never_panic() {
        let mut h = ParcelableHolder::new();
        h.set_parcelable(&Ext {
            a: 300,
            s: "garble me".into(),
            fd: Some(ParcelFileDescriptor::new(temp_file(b"x"))),
        })
        .unwrap();
        let mut good = Parcel::new();
        h.write_to(&mut good).unwrap();
        let inputs = garbled_inputs(
            &good.bytes(),
            &[0, 1, 2, 0x7f, 0x80, 0xff],
            0x9e37_79b9_7f4a_7c15,
            48,
        );
        let mut read = 0;
        for input in &inputs {
            // the side table: the fd the good encoding names, and a spare
            let slots = vec![
                Slot::Fd(Some(temp_file(b"x").into())),
                Slot::Fd(Some(temp_file(b"y").into())),
            ];
            let mut p = Parcel::from_parts(input.clone(), slots);
            if let Ok(h) = ParcelableHolder::read_from(&mut p) {
                read += 1;
                let _ = h.get_parcelable::<Ext>();
                let _ = h.get_parcelable::<Other>();
                let mut again = Parcel::new();
                let _ = h.write_to(&mut again);
            }
        }
        assert!(read > 0, "the untouched encoding reads back");
    }
}
