package g;

import g.Pair;

interface IPairs {
    Pair<String, int> swap(in Pair<int, String> p);
}
