package p;
interface IFoo {
    const int A = 2;
    const String B = "b";
}
