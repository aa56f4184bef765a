package dsl

// FKValueHash is the hash a foreign-key join response carries of the left
// value it was computed for, for tests that write responses by hand.
var FKValueHash = valueHash
