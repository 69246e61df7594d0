package example;

/** The echo service of the examples. */
interface IEcho {
    /** Returns `s`. */
    String echo(String s);

    /**
     * Calls `cb.echo(s in upper case)` and returns its answer: a nested
     * call back into the caller, while the caller waits.
     */
    String callMeBack(IEcho cb, String s);

    /** The serving process's id. */
    int pid();
}
