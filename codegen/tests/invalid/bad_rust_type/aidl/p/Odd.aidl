package p;

parcelable Odd rust_type "not a path!";
