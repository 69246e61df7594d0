package net.common;

/** A parcelable written by hand in Rust. */
parcelable Point cpp_header "point.h" rust_type "crate::custom::Point";
