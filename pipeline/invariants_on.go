//go:build invariants

package pipeline

// Invariants reports whether the engine checks its invariants by
// panicking (the invariants build tag, which make test sets).
const Invariants = true
