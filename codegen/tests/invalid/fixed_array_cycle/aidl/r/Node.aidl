package r;

import r.Pair;

// AOSP's check accepts this (an array breaks recursion in Java), but a
// Rust `[Pair; 2]` is stored inline: Node -> Pair -> Node is infinite.
parcelable Node {
    int v;
    Pair[2] kids;
    // a dynamic array does break the cycle
    Node[] more;
}
