package p;
import p.Data;
/** Comments may change. */
interface IFoo {
    const int LIMIT = 1 + 2;
    const int MORE = 4;
    void a(in Data d);
    String b(int x);
    oneway void c();
}
