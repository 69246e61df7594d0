package p;
interface IFoo {
    void a();
    void b(in int[] x);
    int c(int x);
    void d(out int[] x);
    void e();

}
