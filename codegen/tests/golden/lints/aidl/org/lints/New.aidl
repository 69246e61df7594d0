package org.lints;

@Backing(type="int")
enum New { /** @deprecated kept for old clients */ ZERO, ONE }
