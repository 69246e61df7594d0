package p;

/** Every call to it, and every reply, is wiped from the receiver's buffer once freed. */
@SensitiveData
interface IKeystore {
    byte[] unwrap(in byte[] wrapped);
    void forget();
    oneway void put(String alias, in byte[] key);
}
