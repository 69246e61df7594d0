package org.types;

/** Speeds; ALIAS repeats FAST. */
@Backing(type="byte")
enum Mode {
    SLOW,
    /** Fast. */
    FAST = 5,
    FASTER,
    ALIAS = FAST,
    NEGATIVE = -128,
}
