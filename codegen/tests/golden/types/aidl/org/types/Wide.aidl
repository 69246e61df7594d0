package org.types;

@Backing(type="long")
enum Wide {
    MIN = 0x8000000000000000,
    MAX = 0x7fffffffffffffff,
    lowerCase = 3,
}
