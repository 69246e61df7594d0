package p;
interface IFoo { void a(); }
