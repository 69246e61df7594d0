package p;
import p.Data;
interface IFoo {
    const int LIMIT = 3;
    void a(in Data d);
    @nullable String b(int x);
}
