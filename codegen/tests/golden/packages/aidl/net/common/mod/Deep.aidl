package net.common.mod;

parcelable Deep {
    Kind kind = Kind.ONE;
    @Backing(type="int")
    enum Kind { ZERO, ONE }
}
