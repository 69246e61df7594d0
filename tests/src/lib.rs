//! Cross-process integration tests; they arrive with the mediator (issue 4).
#![forbid(unsafe_code)]
