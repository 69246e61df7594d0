//! The implementations the helper process serves (and the in-process tests
//! call directly): `ITestService`, both versions of `IRecords`, and the
//! versioned interface as version 1, version 2 and unversioned.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use capbinder::{ParcelFileDescriptor, Result, SpIBinder, Status, StatusCode};

use crate::aidl::capbinder::test::{
    v1, v2, Catalog, Extendable, Extension, ICallback, ITestService, Kind, Payload, Value,
};

fn io_error(what: &str, e: std::io::Error) -> Status {
    Status::from_code(StatusCode::UnknownError, format!("{what}: {e}"))
}

/// The service every cross-process test calls.
#[derive(Default)]
pub struct TestService {
    /// `block` waits until `release` sets this.
    gate: Arc<(Mutex<bool>, Condvar)>,
    /// What `listen` kept.
    listener: Mutex<Option<Arc<dyn ICallback>>>,
}

impl ITestService for TestService {
    fn repeat_boolean(&self, v: bool) -> Result<bool> {
        Ok(v)
    }
    fn repeat_byte(&self, v: i8) -> Result<i8> {
        Ok(v)
    }
    fn repeat_char(&self, v: u16) -> Result<u16> {
        Ok(v)
    }
    fn repeat_int(&self, v: i32) -> Result<i32> {
        Ok(v)
    }
    fn repeat_long(&self, v: i64) -> Result<i64> {
        Ok(v)
    }
    fn repeat_float(&self, v: f32) -> Result<f32> {
        Ok(v)
    }
    fn repeat_double(&self, v: f64) -> Result<f64> {
        Ok(v)
    }
    fn repeat_string(&self, v: &str) -> Result<String> {
        Ok(v.to_string())
    }
    fn repeat_nullable_string(&self, v: Option<&str>) -> Result<Option<String>> {
        Ok(v.map(str::to_string))
    }
    fn repeat_kind(&self, v: Kind) -> Result<Kind> {
        Ok(v)
    }
    fn reverse_ints(&self, v: &[i32], repeated: &mut Vec<i32>) -> Result<Vec<i32>> {
        *repeated = v.to_vec();
        Ok(v.iter().rev().copied().collect())
    }
    fn reverse_strings(&self, v: &[String], repeated: &mut Vec<String>) -> Result<Vec<String>> {
        *repeated = v.to_vec();
        Ok(v.iter().rev().cloned().collect())
    }
    fn reverse_bytes(&self, v: &[u8]) -> Result<Vec<u8>> {
        Ok(v.iter().rev().copied().collect())
    }
    fn reverse_list(&self, v: &[String]) -> Result<Vec<String>> {
        Ok(v.iter().rev().cloned().collect())
    }
    fn repeat_fixed(&self, v: &[i64; 4]) -> Result<[i64; 4]> {
        Ok(*v)
    }
    fn repeat_grid(&self, v: &[[i32; 3]; 2]) -> Result<[[i32; 3]; 2]> {
        Ok(*v)
    }
    fn repeat_nullable_ints(&self, v: Option<&[i32]>) -> Result<Option<Vec<i32>>> {
        Ok(v.map(<[i32]>::to_vec))
    }
    fn repeat_kinds(&self, v: &[Kind]) -> Result<Vec<Kind>> {
        Ok(v.to_vec())
    }
    fn repeat_payload(&self, v: &Payload) -> Result<Payload> {
        Ok(v.clone())
    }
    fn repeat_nullable_payload(&self, v: Option<&Payload>) -> Result<Option<Payload>> {
        Ok(v.cloned())
    }
    fn repeat_payloads(&self, v: &[Payload]) -> Result<Vec<Payload>> {
        Ok(v.to_vec())
    }
    fn repeat_value(&self, v: &Value) -> Result<Value> {
        Ok(v.clone())
    }
    fn fill_payload(&self, seed: i32, p: &mut Payload) -> Result<()> {
        p.number = seed;
        p.name = format!("filled from {seed}");
        p.words = vec!["out".into(); 2];
        p.value = Value::Number(seed * 2);
        Ok(())
    }
    fn bump_payload(&self, p: &mut Payload) -> Result<()> {
        p.number += 1;
        p.words.push("bumped".into());
        Ok(())
    }
    fn append_list(&self, list: &mut Vec<String>, item: &str) -> Result<()> {
        list.push(item.to_string());
        Ok(())
    }
    fn repeat_binder(&self, b: &SpIBinder) -> Result<SpIBinder> {
        Ok(b.clone())
    }
    fn repeat_nullable_binder(&self, b: Option<&SpIBinder>) -> Result<Option<SpIBinder>> {
        Ok(b.cloned())
    }
    fn is_same_binder(&self, a: &SpIBinder, b: &SpIBinder) -> Result<bool> {
        Ok(a == b)
    }
    fn read_fd(&self, fd: &ParcelFileDescriptor) -> Result<String> {
        let fd = fd.try_clone_fd().map_err(|e| io_error("dup", e))?;
        let mut s = String::new();
        std::fs::File::from(fd)
            .read_to_string(&mut s)
            .map_err(|e| io_error("reading the descriptor", e))?;
        Ok(s)
    }
    fn make_fd(&self, contents: &str) -> Result<ParcelFileDescriptor> {
        let (r, w) = rustix::pipe::pipe().map_err(|e| io_error("pipe", std::io::Error::from(e)))?;
        std::fs::File::from(w)
            .write_all(contents.as_bytes())
            .map_err(|e| io_error("writing the pipe", e))?;
        Ok(ParcelFileDescriptor::new(r))
    }
    fn repeat_callback(&self, cb: &Arc<dyn ICallback>) -> Result<Arc<dyn ICallback>> {
        Ok(cb.clone())
    }
    fn repeat_nullable_callback(
        &self,
        cb: Option<&Arc<dyn ICallback>>,
    ) -> Result<Option<Arc<dyn ICallback>>> {
        Ok(cb.cloned())
    }
    fn call_back(&self, cb: &Arc<dyn ICallback>, s: &str) -> Result<String> {
        Ok(format!("{}!", cb.greet(s)?))
    }
    fn listen(&self, cb: &Arc<dyn ICallback>) -> Result<()> {
        *self.listener.lock().unwrap_or_else(|e| e.into_inner()) = Some(cb.clone());
        Ok(())
    }
    fn block(&self) -> Result<()> {
        let cb = self
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| Status::from_code(StatusCode::InvalidOperation, "nobody listens"))?;
        let (lock, cv) = &*self.gate;
        let released = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (mut released, timeout) = cv
            .wait_timeout_while(released, Duration::from_secs(120), |r| !*r)
            .unwrap_or_else(|e| e.into_inner());
        if timeout.timed_out() {
            return cb.done("timed out");
        }
        *released = false;
        drop(released);
        cb.done("released")
    }
    fn release(&self) -> Result<()> {
        let (lock, cv) = &*self.gate;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
        Ok(())
    }
    fn fail(&self, code: i32, message: &str) -> Result<()> {
        Err(Status::service_specific(code, message))
    }
    fn pid(&self) -> Result<i32> {
        Ok(std::process::id() as i32)
    }
    fn repeat_payload_map(
        &self,
        v: &BTreeMap<String, Payload>,
        copy: &mut BTreeMap<String, Payload>,
    ) -> Result<BTreeMap<String, Payload>> {
        if !copy.is_empty() {
            return Err(Status::from_code(
                StatusCode::BadValue,
                "an out map should start empty",
            ));
        }
        *copy = v.clone();
        Ok(v.clone())
    }
    fn repeat_callback_map(
        &self,
        v: &BTreeMap<String, Arc<dyn ICallback>>,
    ) -> Result<BTreeMap<String, Arc<dyn ICallback>>> {
        Ok(v.clone())
    }
    fn greet_all(
        &self,
        callbacks: &BTreeMap<String, Arc<dyn ICallback>>,
        s: &str,
    ) -> Result<BTreeMap<String, String>> {
        callbacks
            .iter()
            .map(|(k, cb)| Ok((k.clone(), cb.greet(&format!("{s} as {k}"))?)))
            .collect()
    }
    fn bump_payload_map(&self, m: &mut BTreeMap<String, Payload>, key: &str) -> Result<()> {
        for p in m.values_mut() {
            p.number += 1;
        }
        m.insert(key.to_string(), Payload::default());
        Ok(())
    }
    fn repeat_nullable_strings(
        &self,
        v: Option<&[Option<String>]>,
    ) -> Result<Option<Vec<Option<String>>>> {
        Ok(v.map(<[Option<String>]>::to_vec))
    }
    fn repeat_nullable_payloads(
        &self,
        v: Option<&[Option<Payload>]>,
    ) -> Result<Option<Vec<Option<Payload>>>> {
        Ok(v.map(<[Option<Payload>]>::to_vec))
    }
    fn repeat_nullable_map(
        &self,
        v: Option<&BTreeMap<String, Vec<String>>>,
    ) -> Result<Option<BTreeMap<String, Vec<String>>>> {
        Ok(v.cloned())
    }
    fn write_raw_fd(&self, fd: &ParcelFileDescriptor, text: &str) -> Result<ParcelFileDescriptor> {
        let dup = fd.try_clone_fd().map_err(|e| io_error("dup", e))?;
        std::fs::File::from(dup)
            .write_all(text.as_bytes())
            .map_err(|e| io_error("writing the descriptor", e))?;
        Ok(fd.clone())
    }
    fn bump_extension(&self, e: &Extendable) -> Result<Extendable> {
        let mut e = e.clone();
        // another type in the slot is `BadType`: leave it as it came
        if let Ok(Some(mut ext)) = e.ext.get_parcelable::<Extension>() {
            ext.count += 1;
            ext.label.push('!');
            if let Some(fd) = &ext.fd {
                let dup = fd.try_clone_fd().map_err(|e| io_error("dup", e))?;
                std::fs::File::from(dup)
                    .write_all(b"bumped")
                    .map_err(|e| io_error("writing the extension's fd", e))?;
            }
            e.ext.set_parcelable(&ext)?;
        }
        Ok(e)
    }
    fn repeat_catalog(&self, c: &Catalog) -> Result<Catalog> {
        Ok(c.clone())
    }
}

/// `IRecords` as version 1 knows it.
pub struct RecordsV1;

impl v1::IRecords for RecordsV1 {
    fn echo(&self, r: &v1::Record) -> Result<v1::Record> {
        Ok(v1::Record {
            id: r.id,
            name: format!("{} (read by v1)", r.name),
        })
    }
    fn make(&self) -> Result<v1::Record> {
        Ok(v1::Record {
            id: 1,
            name: "made by v1".into(),
        })
    }
}

/// `IRecords` as version 2 knows it.
pub struct RecordsV2;

impl v2::IRecords for RecordsV2 {
    fn echo(&self, r: &v2::Record) -> Result<v2::Record> {
        let mut out = r.clone();
        out.name = format!(
            "{} (read by v2: note {:?}, kind {:?}, {} tags)",
            r.name,
            r.note,
            r.kind,
            r.tags.len()
        );
        Ok(out)
    }
    fn make(&self) -> Result<v2::Record> {
        Ok(v2::Record {
            id: 2,
            name: "made by v2".into(),
            tags: vec!["extra".into(); 3],
            note: Some("set by v2".into()),
            kind: Kind::A,
        })
    }
}

/// Version 1 of the versioned interface.
pub struct VersionedV1;

impl crate::versioned_v1::capbinder::test::versioned::IVersioned for VersionedV1 {
    fn ping(&self, x: i32) -> Result<i32> {
        Ok(x + 1)
    }
}

/// Version 2 of the versioned interface.
pub struct VersionedV2;

impl crate::versioned_v2::capbinder::test::versioned::IVersioned for VersionedV2 {
    fn ping(&self, x: i32) -> Result<i32> {
        Ok(x + 2)
    }
    fn name(&self) -> Result<String> {
        Ok("v2".into())
    }
}

/// Version 1 from a generator without versions.
pub struct VersionedUnversioned;

impl crate::versioned_unversioned::capbinder::test::versioned::IVersioned for VersionedUnversioned {
    fn ping(&self, x: i32) -> Result<i32> {
        Ok(x + 100)
    }
}
