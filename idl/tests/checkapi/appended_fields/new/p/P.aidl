package p;
parcelable P {
    int a;
    // AOSP gives these an implicit default (false or 0): no error
    boolean b;
    byte by;
    int i;
    long l;
    float f;
    double d;
    // ... but not these
    char c;
    String s;
    int[] arr;
}
