package p;
parcelable Data {
    int a;
    int b = 2;
    long d;
    String c;
    String e;
}
