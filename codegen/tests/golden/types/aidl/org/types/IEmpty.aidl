package org.types;

/** No methods at all. */
interface IEmpty {}
