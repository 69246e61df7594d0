package p;
interface INew { void x(); }
