package capbinder.test;

import capbinder.test.Kind;

/** A union: one of these. */
union Value {
    int number = 5;
    String text;
    Kind kind;
    @nullable IBinder binder;
    List<String> words;
}
