package capbinder.test;

import capbinder.test.ICallback;
import capbinder.test.Payload;

/** Maps inside a parcelable: parcelables, interfaces and binders as values. */
parcelable Catalog {
    String title = "catalog";
    Map<String, Payload> payloads;
    Map<String, ICallback> callbacks;
    @nullable Map<String, String> notes;
    Map<String, Map<String, IBinder>> binders;
}
