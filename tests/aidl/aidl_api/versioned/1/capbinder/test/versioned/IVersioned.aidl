package capbinder.test.versioned;

/** Version 1 of a versioned interface, frozen. */
interface IVersioned {
    int ping(int x);
}
