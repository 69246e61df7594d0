package p;

interface IFd {
    void take(in FileDescriptor fd);
}
