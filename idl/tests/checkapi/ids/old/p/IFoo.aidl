package p;
interface IFoo {
    void a() = 1;
    void b() = 2;
}
