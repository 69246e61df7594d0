package org.types.shadow;

import org.types.shadow.None;
import org.types.shadow.Option;

interface Vec {
    @nullable Option get(@nullable String key, in None n, in String[] keys);
}
