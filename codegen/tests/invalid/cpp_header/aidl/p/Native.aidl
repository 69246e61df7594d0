package p;

parcelable Native cpp_header "native.h";
