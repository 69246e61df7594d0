package p;
enum E { A = 1, C = 5 }
