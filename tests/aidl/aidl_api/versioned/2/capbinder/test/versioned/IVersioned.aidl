package capbinder.test.versioned;

/** Version 2 of a versioned interface, frozen: a method appended. */
interface IVersioned {
    int ping(int x);
    String name();
}
