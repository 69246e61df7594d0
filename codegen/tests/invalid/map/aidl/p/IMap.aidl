package p;

interface IMap {
    Map get();
    void put(in Map<String, String> typed, in java.util.Map untyped);
}
