package q;

parcelable Foo {
    parcelable Inner {}
}
