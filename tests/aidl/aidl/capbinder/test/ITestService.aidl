package capbinder.test;

import capbinder.test.Catalog;
import capbinder.test.Extendable;
import capbinder.test.ICallback;
import capbinder.test.Kind;
import capbinder.test.Payload;
import capbinder.test.Value;

/**
 * The service the cross-process tests call: one method per kind of
 * parameter, nested calls through callbacks, oneway calls and errors.
 */
interface ITestService {
    /** What every question is answered with. */
    const int ANSWER = 42;
    const String NAME = "capbinder.test";

    boolean repeatBoolean(boolean v);
    byte repeatByte(byte v);
    char repeatChar(char v);
    int repeatInt(int v);
    long repeatLong(long v);
    float repeatFloat(float v);
    double repeatDouble(double v);
    String repeatString(String v);
    @nullable String repeatNullableString(@nullable String v);
    Kind repeatKind(Kind v);

    /** Returns `v` reversed and fills `repeated` with `v`. */
    int[] reverseInts(in int[] v, out int[] repeated);
    String[] reverseStrings(in String[] v, out String[] repeated);
    byte[] reverseBytes(in byte[] v);
    List<String> reverseList(in List<String> v);
    long[4] repeatFixed(in long[4] v);
    int[2][3] repeatGrid(in int[2][3] v);
    @nullable int[] repeatNullableInts(in @nullable int[] v);
    Kind[] repeatKinds(in Kind[] v);

    Payload repeatPayload(in Payload v);
    @nullable Payload repeatNullablePayload(in @nullable Payload v);
    List<Payload> repeatPayloads(in List<Payload> v);
    Value repeatValue(in Value v);

    /** Fills `p` from `seed` (an `out` parcelable). */
    void fillPayload(int seed, out Payload p);
    /** Adds one to `p.number` and appends to `p.words` (`inout`). */
    void bumpPayload(inout Payload p);
    void appendList(inout List<String> list, String item);

    IBinder repeatBinder(IBinder b);
    @nullable IBinder repeatNullableBinder(@nullable IBinder b);
    boolean isSameBinder(IBinder a, IBinder b);
    /** Reads `fd` to its end. */
    String readFd(in ParcelFileDescriptor fd);
    /** A pipe's read end holding `contents`. */
    ParcelFileDescriptor makeFd(String contents);
    ICallback repeatCallback(ICallback cb);
    @nullable ICallback repeatNullableCallback(@nullable ICallback cb);

    /** Calls `cb.greet(s)` while the caller waits: a nested call. */
    String callBack(ICallback cb, String s);
    /** Keeps `cb` for `block`. */
    void listen(ICallback cb);
    /** Waits (on a service thread) until `release`, then calls `done("released")` on what `listen` kept. */
    oneway void block();
    void release();

    /** Fails with a service-specific error. */
    void fail(int code, String message);
    int pid();

    /** Returns `v` and copies it into `copy` (an `out` map). */
    Map<String, Payload> repeatPayloadMap(in Map<String, Payload> v, out Map<String, Payload> copy);
    /** Returns the callbacks it got: binders inside map values, both ways. */
    Map<String, ICallback> repeatCallbackMap(in Map<String, ICallback> v);
    /** Calls `greet(s)` on each callback while the caller waits; the answers by key. */
    Map<String, String> greetAll(in Map<String, ICallback> callbacks, String s);
    /** Adds one to every payload's number and puts a default payload at `key` (`inout`). */
    void bumpPayloadMap(inout Map<String, Payload> m, String key);
    @nullable Map<String, List<String>> repeatNullableMap(in @nullable Map<String, List<String>> v);
    Catalog repeatCatalog(in Catalog c);

    /** Writes `text` into `fd` (a raw `FileDescriptor`) and returns it. */
    FileDescriptor writeRawFd(in FileDescriptor fd, String text);
    /**
     * If `e.ext` holds an `Extension`: adds one to its count, appends "!"
     * to its label and writes "bumped" into its fd. A slot holding
     * anything else comes back as it came.
     */
    Extendable bumpExtension(in Extendable e);

    /** The elements of a `@nullable` array or list may be null as well. */
    @nullable String[] repeatNullableStrings(in @nullable String[] v);
    @nullable List<Payload> repeatNullablePayloads(in @nullable List<Payload> v);
}
