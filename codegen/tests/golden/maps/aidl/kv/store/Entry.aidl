package kv.store;

/** A value kept in maps. */
parcelable Entry {
    String name;
    int[] counts;
}
