package stable;

/** Oneway: its meta methods are still two-way calls. */
oneway interface IListener {
    void tick();
}
