package p;

import p.Pair;

interface IFoo {
    // A binder has no default value; a parcelable holding one does.
    void f(in Pair<int, IBinder> p);
    void g(in Pair<IFoo, Pair<int, int>> p);
    void ok(in Pair<IBinder[], int> p);
}
