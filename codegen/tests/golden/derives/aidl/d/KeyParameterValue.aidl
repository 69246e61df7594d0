package d;

import d.Algorithm;

/** As KeyMint's: a union that keys a set. */
@RustDerive(Clone=true, Eq=true, PartialEq=true, Hash=true, Ord=true, PartialOrd=true)
union KeyParameterValue {
    boolean invalid = false;
    Algorithm algorithm;
    long longInteger;
    byte[] blob;
}
