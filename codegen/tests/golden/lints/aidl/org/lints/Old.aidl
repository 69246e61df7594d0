package org.lints;

/** @deprecated use New */
@Backing(type="int")
enum Old { A, B }
