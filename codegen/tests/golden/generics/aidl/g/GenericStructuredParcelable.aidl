package g;

/** As AOSP's test parcelable: its parameters go unused. */
parcelable GenericStructuredParcelable<T, U, B> {
    int a;
    int b;
}
