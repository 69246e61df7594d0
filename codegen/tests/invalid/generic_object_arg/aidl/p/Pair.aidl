package p;

parcelable Pair<A, B> {
    A first;
    B second;
}
