package net.app;

import net.common.Data;
import net.common.Point;
import net.common.mod.Deep;

/** Uses types from other packages, under its own descriptor. */
@Descriptor(value="net.thing")
interface IThing {
    Data get() = 3;
    void put(in Data d, in Data.Part part) = 7;
    Point where(in Point p) = 1;
    Deep.Kind deep(in Deep d) = 100;
    /** Nested in an interface. */
    parcelable Result {
        Data data;
        @nullable(heap=true) IThing.Result again;
        Point at;
    }
    Result result() = 2;
}
