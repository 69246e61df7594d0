package r;

import r.Node;

parcelable Pair {
    @nullable(heap=true) Node left;
    Node right;
}
