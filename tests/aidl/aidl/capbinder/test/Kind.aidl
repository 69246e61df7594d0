package capbinder.test;

@Backing(type="int")
enum Kind {
    A = 1,
    B,
    C = 100,
}
