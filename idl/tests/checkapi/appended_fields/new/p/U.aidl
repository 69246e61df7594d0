package p;
union U {
    int a;
    // trunk_stable_test: V2 adds `int c` to a union
    int c;
}
