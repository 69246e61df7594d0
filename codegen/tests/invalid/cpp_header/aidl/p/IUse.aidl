package p;

import p.Native;

interface IUse {
    void put(in Native n);
}
