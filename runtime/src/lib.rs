//! capbinder: the library users link (process state, parcels, objects,
//! thread pool, service manager, death recipients).
//!
//! Not written yet (issue 5): the crate exists so the workspace has its
//! final shape. Nothing here pretends to work.
#![forbid(unsafe_code)]
