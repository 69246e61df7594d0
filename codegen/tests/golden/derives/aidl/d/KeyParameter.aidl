package d;

import d.KeyParameterValue;

@RustDerive(Clone=true, Eq=true, PartialEq=true, Hash=true, Ord=true, PartialOrd=true)
parcelable KeyParameter {
    int tag;
    KeyParameterValue value;
    String note;
}
