//! End-to-end tests of code generated from AIDL (issue 6). Not written yet.
#![forbid(unsafe_code)]
