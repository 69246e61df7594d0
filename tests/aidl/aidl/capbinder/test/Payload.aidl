package capbinder.test;

import capbinder.test.ICallback;
import capbinder.test.Kind;
import capbinder.test.Value;

/** A parcelable with one field of each kind. */
parcelable Payload {
    int number = 7;
    long big = -1;
    double ratio = 0.5;
    String name = "payload";
    @nullable String maybe;
    byte[] bytes;
    List<String> words;
    Kind kind = Kind.B;
    Value value;
    Inner inner;
    @nullable IBinder binder;
    @nullable ICallback callback;
    @nullable ParcelFileDescriptor fd;
    int[3] triple = {1, 2, 3};
    @nullable(heap=true) Payload next;

    /** A nested parcelable. */
    parcelable Inner {
        boolean on;
        char letter = 'q';
    }
}
