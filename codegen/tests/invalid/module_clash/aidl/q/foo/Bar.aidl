package q.foo;

parcelable Bar {}
