package capbinder.test.v2;

import capbinder.test.v2.Record;

/** Version 2 of the records service. */
@Descriptor(value="capbinder.test.IRecords")
interface IRecords {
    Record echo(in Record r);
    Record make();
}
