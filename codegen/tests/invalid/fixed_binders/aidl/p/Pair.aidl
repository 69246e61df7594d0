package p;

parcelable Pair {
    IBinder[2] pair;
}
