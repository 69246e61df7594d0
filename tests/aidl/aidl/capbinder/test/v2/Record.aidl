package capbinder.test.v2;

import capbinder.test.Kind;

/** Version 2 of a record: fields appended at the end. */
parcelable Record {
    int id;
    String name;
    List<String> tags;
    @nullable String note = "v2 default";
    Kind kind = Kind.C;
}
