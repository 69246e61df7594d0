package p;
parcelable Data {
    int a;
}
