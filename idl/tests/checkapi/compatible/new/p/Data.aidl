package p;
import p.Kind;
@JavaDerive(toString=true)
parcelable Data {
    int id;
    @nullable String name;
    int added = 5;
    @nullable String note;
    Kind kind;
    Kind kind2 = Kind.A;
}
