package p;

union Either<L, R> {
    L left;
    R right;
}
