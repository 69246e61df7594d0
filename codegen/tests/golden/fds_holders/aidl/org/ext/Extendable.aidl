package org.ext;

/** A parcelable with extension slots. */
parcelable Extendable {
    int a;
    ParcelableHolder ext;
    String b = "b";
    /** A second slot. */
    ParcelableHolder ext2;
}
