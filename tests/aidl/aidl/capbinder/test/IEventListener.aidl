package capbinder.test;

/** A multicast topic's subscribers implement this; its publisher calls it
 *  through a proxy over the topic's handle. */
oneway interface IEventListener {
    void onEvent(int kind, String what);
}
