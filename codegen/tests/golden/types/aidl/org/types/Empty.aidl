package org.types;

parcelable Empty {}
