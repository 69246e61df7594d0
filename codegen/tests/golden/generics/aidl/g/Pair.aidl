package g;

parcelable Pair<K, V> {
    const int VERSION = 1;
    K first;
    V second;
    List<K> more;
}
