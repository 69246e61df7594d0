package org.types;

parcelable URL {
    String spec;
    int type;
    int match;
    int self;
    int fnName;
}
