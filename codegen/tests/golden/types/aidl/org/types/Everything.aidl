package org.types;

import org.types.ICallback;
import org.types.Mode;
import org.types.Shape;

/** Every kind of field, with AIDL defaults. */
parcelable Everything {
    const int LIMIT = 10;
    const String GREETING = "hi" + " there";
    const long BIG = 1L << 40;
    const byte SMALL = -1;
    const float RATIO = 1.5f;
    const double TAU_ISH = 6.28318;
    const int kMagic = 0x7f;

    boolean flag = true;
    byte b = -128;
    char c = 'x';
    int i = 0x80000000;
    long l = 1L << 40;
    float f = -0.5f;
    double d = 2.25;
    String s = "default";
    @nullable String ns;
    @nullable String nsDefault = "maybe";
    int[] ints = {1, 2, 3};
    byte[] bytes = {1, -1};
    String[] strings = {"a", "b"};
    List<String> list;
    List<Shape> shapes;
    int[2][3] grid = {{1, 2, 3}, {4, 5, 6}};
    byte[40] big;
    long[3] triple;
    @nullable int[] maybeInts;
    @nullable String[] maybeStrings = {"x", "y"};
    @nullable List<String> maybeList;
    @nullable String[2][2] maybeGrid = {{"a", "b"}, {"c", "d"}};
    @nullable Shape[] maybeShapes;
    @nullable Mode[] maybeModes;
    Mode mode = Mode.FAST;
    Mode plainMode;
    Shape shape;
    @nullable Shape maybeShape;
    IBinder binder;
    @nullable IBinder maybeBinder;
    ICallback callback;
    @nullable ICallback maybeCallback;
    ParcelFileDescriptor fd;
    @nullable ParcelFileDescriptor maybeFd;
    IBinder[] binders;
    List<ICallback> callbacks;
    @nullable(heap=true) Everything next;
    Inner inner;
    /** @deprecated kept for old readers */
    int legacy;

    /** Nested in Everything. */
    parcelable Inner {
        int x = 7;
        Level level = Level.HIGH;

        @Backing(type="int")
        enum Level { LOW, HIGH }
    }
}
