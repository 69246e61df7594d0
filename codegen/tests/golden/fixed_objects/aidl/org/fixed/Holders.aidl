package org.fixed;

import org.fixed.IHandle;

/** Binders, interfaces and fds in fixed-size arrays and nullable ones. */
parcelable Holders {
    IBinder[2] binders;
    @nullable IBinder[2] maybeBinders;
    ParcelFileDescriptor[2] fds;
    IHandle[2][2] grid;
    @nullable IHandle[3] maybeHandles;
    IBinder[] list;
    @nullable String[2][2] names = {{"a", "b"}, {"c", "d"}};
    /** Nested deeply enough for clippy's `type_complexity`: allowed. */
    @nullable IHandle[2][2] maybeGrid;
}
