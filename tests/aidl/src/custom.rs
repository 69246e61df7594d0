//! Hand-written Rust for a parcelable the golden case `packages` declares
//! with `rust_type "crate::custom::Point"`.

use capbinder::parcelable::{read_section, write_section};
use capbinder::{Parcel, Parcelable, Result};

/// A point, written by hand: what a `rust_type` parcelable must provide
/// (`Parcelable`, `Default`, `Clone`, `Debug`, `PartialEq`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Point {
    /// Across.
    pub x: i32,
    /// Down.
    pub y: i32,
}

impl Parcelable for Point {
    fn write_to(&self, parcel: &mut Parcel) -> Result<()> {
        write_section(parcel, |p| {
            self.x.write_to(p)?;
            self.y.write_to(p)
        })
    }
    fn read_from(parcel: &mut Parcel) -> Result<Self> {
        read_section(parcel, |s| {
            let mut v = Point::default();
            s.read_into(&mut v.x)?;
            s.read_into(&mut v.y)?;
            Ok(v)
        })
    }
}
