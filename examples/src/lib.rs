//! Runnable capbinder programs a user copies from. They arrive with the
//! runtime (issue 5).
#![forbid(unsafe_code)]
