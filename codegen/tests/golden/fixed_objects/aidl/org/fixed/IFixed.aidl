package org.fixed;

import org.fixed.Holders;
import org.fixed.IHandle;

interface IFixed {
    IBinder[3] repeatBinders(in IBinder[3] input, out IBinder[3] repeated);
    IBinder[2][3] repeat2d(in IBinder[2][3] input, out IBinder[2][3] repeated);
    ParcelFileDescriptor[] takeFds(out ParcelFileDescriptor[] got, inout IBinder[2] swapped);
    @nullable IBinder[2] maybe(in @nullable IBinder[2] input);
    Holders repeatHolders(in Holders h);
    @nullable IHandle[2][2] maybeGrid(in @nullable IHandle[2][2] input);
}
