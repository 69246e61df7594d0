package p;

parcelable Clash {
    int fooBar;
    int foo_bar;
}
