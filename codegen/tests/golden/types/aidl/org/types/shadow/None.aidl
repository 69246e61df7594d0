package org.types.shadow;

/** Named like a prelude value. */
@Backing(type="int")
enum None { NOTHING }
