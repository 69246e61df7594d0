package d;

@Backing(type="int")
enum Algorithm { RSA = 1, EC = 3, AES = 32 }
