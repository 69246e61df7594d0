package p;
import p.Kind;
parcelable Data {
    int id;
    @nullable String name;
}
