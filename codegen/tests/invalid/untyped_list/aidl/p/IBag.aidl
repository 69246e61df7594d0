package p;

interface IBag {
    void put(in List things);
}
