package org.ext;

union FdUnion {
    int none;
    FileDescriptor fd;
    @nullable FileDescriptor maybe;
    FileDescriptor[] fds;
}
