package p;

interface IRes {
    void as_binder();
}
