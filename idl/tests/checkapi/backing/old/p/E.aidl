package p;
@Backing(type="byte")
enum E { A, B }
