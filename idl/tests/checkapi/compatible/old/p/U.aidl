package p;
union U { int i; String s; }
