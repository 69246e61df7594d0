package p;
parcelable Data {
    int a;
    int b;
}
