package kv.store;

import kv.store.Choice;
import kv.store.Entry;
import kv.store.IWatcher;

/** A map in every field position; each default is an empty map. */
parcelable Table {
    int id = 1;
    Map<String, Entry> entries;
    @nullable Map<String, String> tags;
    Map<String, Map<String, Entry>> nested;
    Map<String, List<Entry>> lists;
    Map<String, Entry[]> arrays;
    Map<String, byte[]> blobs;
    Map<String, String[]> names;
    Map<String, int[2]> pairs;
    Map<String, IWatcher> watchers;
    Map<String, IBinder> binders;
    Map<String, ParcelFileDescriptor> fds;
    Map<String, Choice> choices;
    java.util.Map<String, String> qualified;
}
