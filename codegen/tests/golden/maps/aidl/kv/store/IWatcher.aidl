package kv.store;

/** An interface held as a map value. */
interface IWatcher {
    void changed(String key);
}
