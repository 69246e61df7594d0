package com.example.media;

/** Hears about playback. */
oneway interface IPlayerListener {
    void onPlay(long position, in String name);
}
