package stable;

/** A service generated as version 3 of a frozen API. */
interface IVersioned {
    const int LIMIT = 10;
    int ping(int x);
}
