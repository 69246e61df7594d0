package capbinder.test;

/** A parcelable with an extension slot (AIDL's `ParcelableHolder`). */
parcelable Extendable {
    String name;
    ParcelableHolder ext;
    int after = 7;
}
