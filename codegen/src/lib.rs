//! capbinder-codegen: Rust generation from checked AIDL (issue 6). Not
//! written yet; nothing here pretends to work.
#![forbid(unsafe_code)]
