package org.lints;

import org.lints.New;
import org.lints.Old;
import org.lints.OldParcel;

/**
 * Every default here is what `Default` gives anyway, so `Default` is
 * derived (clippy's `derivable_impls`).
 */
parcelable Defaults {
    int x = 0;
    long l = 0;
    boolean b = false;
    float f = 0.0f;
    String s = "";
    New n = New.ZERO;
    Old o = Old.A;
    int[] a = {};
    OldParcel p;
}
