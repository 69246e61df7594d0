package org.lints;

import org.lints.IOld;
import org.lints.Old;
import org.lints.OldParcel;

/** Not deprecated itself, but it uses deprecated types. */
interface IUses {
    void take(in OldParcel p, in Old[] olds, IOld old);
    OldParcel give();
}
