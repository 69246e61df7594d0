package p;
union U { int i; String s; long l = 0; }
