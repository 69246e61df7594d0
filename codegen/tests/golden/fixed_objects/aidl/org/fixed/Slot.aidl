package org.fixed;

import org.fixed.IHandle;

/** A union with a variant nested deeply enough for clippy's `type_complexity`. */
union Slot {
    int n;
    IHandle[2][2][2] cube;
}
