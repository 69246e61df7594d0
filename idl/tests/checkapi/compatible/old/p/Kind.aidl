package p;
@Backing(type="int")
enum Kind { A, B }
