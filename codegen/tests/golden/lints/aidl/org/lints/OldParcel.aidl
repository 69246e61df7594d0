package org.lints;

/** @deprecated gone in the next version */
parcelable OldParcel {
    int x;
    /** @deprecated no longer read */
    int y;
}
