package org.ext;

import org.ext.Extendable;
import org.ext.Fds;

/** Raw file descriptors as arguments and returns, and extendable parcelables. */
interface IFds {
    FileDescriptor echo(in FileDescriptor fd);
    @nullable FileDescriptor maybe(in @nullable FileDescriptor fd);
    FileDescriptor[] many(in FileDescriptor[] fds, out FileDescriptor[] copies,
            inout FileDescriptor[] both);
    @nullable FileDescriptor[] maybeMany(in @nullable FileDescriptor[] fds);
    Map<String, FileDescriptor> byName(in Map<String, FileDescriptor> fds);
    Fds bundle(in Fds fds);
    void extend(inout Extendable e, out Extendable copy);
    oneway void send(in FileDescriptor fd);
}
