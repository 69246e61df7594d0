package p;
interface IFoo {
    String a();
    void b(in String s);
}
