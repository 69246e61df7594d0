package net.common;

parcelable Data {
    Part part;
    parcelable Part {
        String name = "part";
    }
}
