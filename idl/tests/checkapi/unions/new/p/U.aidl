package p;
union U { int a; long inserted; String b; }
