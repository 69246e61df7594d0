package org.ext;

parcelable Fds {
    FileDescriptor fd;
    @nullable FileDescriptor maybe;
    FileDescriptor[] list;
    @nullable FileDescriptor[] maybeList;
    Map<String, FileDescriptor> named;
}
