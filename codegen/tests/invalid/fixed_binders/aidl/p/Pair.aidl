package p;

parcelable Pair {
    IBinder[2] pair;
    FileDescriptor[2] fds;
}
