package p;
parcelable Data {
    int a;
    int b = 1;
    String c;
    long d;
}
