package p;
union U { int a; String b; }
