package p;

import p.Box;

parcelable User {
    Box boxed;
}
