package p;

interface IMap {
    Map<String, String> get();
}
