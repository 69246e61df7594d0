package p;

parcelable P {
    Map<String, String> fine;
    Map<String, FileDescriptor> fds;
    Map<String, Map<String, CharSequence>> nested;
}
