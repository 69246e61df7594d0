package p;
parcelable P {
    int a;
}
