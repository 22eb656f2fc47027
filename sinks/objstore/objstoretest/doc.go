// Package objstoretest is the conformance suite every objstore.Store
// backend runs in its own tests: Run(t, open) with open returning a fresh,
// empty store.
package objstoretest
