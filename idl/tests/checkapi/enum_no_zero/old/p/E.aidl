package p;
enum E { A = 1, B }
