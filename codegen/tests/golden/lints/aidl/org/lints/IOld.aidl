package org.lints;

import org.lints.Old;
import org.lints.OldParcel;
import org.lints.OldUnion;

/** @deprecated use IUses */
interface IOld {
    /** @deprecated unused */
    const int C = 1;
    /** @deprecated m */
    void m(in Old e, in OldParcel p, in OldUnion u);
    Old get();
}
