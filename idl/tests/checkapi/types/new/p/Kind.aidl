package p;
union Kind { int a; }
