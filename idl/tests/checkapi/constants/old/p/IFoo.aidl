package p;
interface IFoo {
    const int A = 1;
    const String B = "b";
    const int GONE = 3;
}
