package capbinder.test;

/** What a client passes to the service: a capability it calls back. */
interface ICallback {
    String greet(String s);
    oneway void done(String s);
}
