package org.lints;

/** @deprecated gone */
union OldUnion {
    int x;
    /** @deprecated no */
    String y;
}
