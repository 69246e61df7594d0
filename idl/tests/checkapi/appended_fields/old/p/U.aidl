package p;
union U {
    int a;
}
