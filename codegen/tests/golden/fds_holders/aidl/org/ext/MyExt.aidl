package org.ext;

/** What goes into an extension slot. */
parcelable MyExt {
    int x;
    String s;
    @nullable FileDescriptor fd;
}
