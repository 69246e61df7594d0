package kv.store;

import kv.store.Entry;

/** A union whose members are maps (the first one is the default). */
union Choice {
    Map<String, String> labels;
    int number;
    @nullable Map<String, Entry> entries;
}
