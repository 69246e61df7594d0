package org.fixed;

interface IHandle {
    int id();
}
