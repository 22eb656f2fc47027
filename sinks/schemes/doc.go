// Package schemes is the registry of backends by URL scheme that the
// object stores (sinks/objstore) and the metadata stores (sinks/meta)
// share: a backend package registers its opener from its init function,
// so a program links exactly the backends it imports, and a URL whose
// backend is not linked gets an error saying what to import.
package schemes
