package p;
parcelable Kind { int a; }
