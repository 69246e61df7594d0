package p;
import p.E;
parcelable Data { int a; E e; }
