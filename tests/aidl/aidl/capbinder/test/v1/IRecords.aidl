package capbinder.test.v1;

import capbinder.test.v1.Record;

/** Version 1 of the records service. */
@Descriptor(value="capbinder.test.IRecords")
interface IRecords {
    /** Returns what the service read, as the service's version sees it. */
    Record echo(in Record r);
    /** A record as the service's version makes it. */
    Record make();
}
