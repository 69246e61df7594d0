package capbinder.bench;

/**
 * The benchmark's echo, through generated code: what an application that
 * defines its interface in AIDL gets.
 */
interface IBenchEcho {
    /** Returns `data`. */
    byte[] echo(in byte[] data);
}
