package p;
parcelable Gone { int a; }
