package p;
interface IFoo {
    void a() = 3;
    void b() = 2;
    void c() = 4;
}
