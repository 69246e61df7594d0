package org.types;

import org.types.Mode;

/** One of several things. */
union Shape {
    const int SIDES = 4;
    int circle = 3;
    String label;
    @nullable IBinder handle;
    IBinder strongHandle;
    Mode mode;
    int[] points;
}
