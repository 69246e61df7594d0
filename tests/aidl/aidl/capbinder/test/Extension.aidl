package capbinder.test;

/** What `ITestService` knows to find in an `Extendable`'s slot. */
parcelable Extension {
    int count;
    String label;
    @nullable FileDescriptor fd;
}
