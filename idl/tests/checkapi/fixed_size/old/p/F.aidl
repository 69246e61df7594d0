package p;
@FixedSize
parcelable F { int a; }
