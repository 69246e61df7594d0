package capbinder.test.v1;

/** Version 1 of a record. */
parcelable Record {
    int id;
    String name;
}
