/*
 * File header comment: not documentation.
 */
package com.example.media;

import com.example.media.IPlayerListener;
import com.example.media.Song;

/**
 * Plays media.
 *
 * Every method may fail with a service-specific error.
 */
interface IPlayer {
    /** The loudest volume. */
    const int MAX_VOLUME = 100;
    const String DEFAULT_NAME = "player";

    /** Starts playing `name`; returns the position. */
    long play(String name);

    /** Queues songs; fills in how many were dropped. */
    void queue(in Song[] songs, out int[] dropped, inout List<String> log);

    /** Registers a listener (a capability passed in the call). */
    void addListener(IPlayerListener listener);

    /** Notifies without waiting. */
    oneway void poke(@nullable String why);

    /**
     * The old way to stop.
     * @deprecated use stop instead
     */
    void halt();

    void stop();

    @nullable IBinder token();

    byte[] read(in byte[] data);

    /** Many parameters, names clippy has opinions on. */
    String fromParts(int a, long b, float c, double d, boolean e, char f, byte g, in String[] h);

    @nullable Song[] maybeSongs(in @nullable Song song, @nullable IPlayerListener listener,
            in List<IPlayerListener> listeners, inout @nullable int[] counts);

    ParcelFileDescriptor open(in ParcelFileDescriptor fd, in @nullable ParcelFileDescriptor other);
}
