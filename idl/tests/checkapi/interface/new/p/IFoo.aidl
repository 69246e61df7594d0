package p;
interface IFoo {
    void inserted();
    void a();
    long c(int x);
    void d(inout int[] x);
    oneway void e();

}
