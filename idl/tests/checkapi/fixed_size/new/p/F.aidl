package p;
@FixedSize
parcelable F { int a; int b = 0; }
