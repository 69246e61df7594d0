package p;

interface ISay {
    void say(in CharSequence s);
}
