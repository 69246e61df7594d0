package g;

import g.GenericStructuredParcelable;
import g.Pair;

parcelable UsesGenerics {
    GenericStructuredParcelable<int, String, boolean> unused;
    Pair<String, long> named;
    Pair<int, Pair<String, int>> nested;
    int count = 3;
}
