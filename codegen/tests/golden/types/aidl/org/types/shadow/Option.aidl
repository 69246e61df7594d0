package org.types.shadow;

/** Named like a prelude type: generated code in this package spells the prelude's out. */
parcelable Option {
    @nullable String value;
    String[] values;
}
