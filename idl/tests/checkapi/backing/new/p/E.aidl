package p;
@Backing(type="int")
enum E { A, B }
