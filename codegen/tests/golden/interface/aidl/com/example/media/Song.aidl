package com.example.media;

/** A song. */
parcelable Song {
    String title;
    int lengthSeconds = 180;
    @nullable String artist;
}
