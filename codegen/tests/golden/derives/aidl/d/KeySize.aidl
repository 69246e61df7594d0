package d;

import d.Algorithm;

/** Plain values only: every derive applies, `Copy` too. */
@RustDerive(Copy=true, Clone=true, Eq=true, PartialEq=true, Hash=true, Ord=true, PartialOrd=true)
parcelable KeySize {
    Algorithm algorithm = Algorithm.AES;
    int bits;
    boolean fixed;
}
