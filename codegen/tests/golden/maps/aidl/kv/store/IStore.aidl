package kv.store;

import kv.store.Entry;
import kv.store.IWatcher;
import kv.store.Table;

/** Maps as parameters (in, out, inout) and return values. */
interface IStore {
    Map<String, Entry> get(in Map<String, String> query);
    @nullable Map<String, IWatcher> swapWatchers(in @nullable Map<String, IWatcher> add);
    void fill(out Map<String, Entry> into, int count);
    void update(inout Map<String, Table> tables);
    Map<String, Map<String, String>> group(in Map<String, List<String>> lists);
    oneway void publish(in Map<String, IBinder> binders);
}
