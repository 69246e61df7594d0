package p;
@VintfStability
interface IFoo {
    @utf8InCpp String a();
    void b(in @utf8InCpp String s);
}
