package p;

parcelable Ext {
    ParcelableHolder ext;
}
