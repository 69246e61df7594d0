package org.types;

interface ICallback {
    void call();
}
