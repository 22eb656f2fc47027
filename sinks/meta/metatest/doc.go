// Package metatest is the conformance suite every meta.Store
// implementation runs in its own tests: Run(t, open) with open returning
// a fresh, empty store. The suite is the executable form of the contract
// in package meta; a behaviour it does not pin down is not promised.
package metatest
