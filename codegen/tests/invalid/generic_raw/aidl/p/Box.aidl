package p;

parcelable Box<T> {
    T value;
}
