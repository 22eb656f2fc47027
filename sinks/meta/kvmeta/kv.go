package kvmeta

// KV is an ordered, transactional key-value store: the one thing a
// metadata backend has to provide.
type KV interface {
	// View runs fn in a read-only transaction that sees a consistent
	// snapshot.
	View(fn func(Tx) error) error
	// Update runs fn in a read-write transaction. If fn returns nil the
	// transaction commits atomically (and, for persistent backends,
	// durably) before Update returns; if fn returns an error (or the
	// commit fails) none of its writes are visible, ever. Updates are
	// serializable.
	Update(fn func(Tx) error) error
	Close() error
}

// Tx is a transaction. It is used by one goroutine only.
type Tx interface {
	// Get returns key's value, nil if absent. The slice is valid only
	// until the transaction ends and must not be modified.
	Get(key []byte) []byte
	// Put sets key to val (an empty val is allowed and distinct from
	// absent). The backend may keep key and val until the transaction
	// ends; the caller must not modify them. Read-only transactions
	// return an error.
	Put(key, val []byte) error
	// Delete removes key; a missing key is not an error.
	Delete(key []byte) error
	// Seek calls fn, in ascending key order, for each key that starts
	// with prefix and is >= from (from nil: from the prefix on), until
	// fn returns false. k and v are valid only during the call; fn must
	// not modify the transaction (collect keys and delete afterwards).
	Seek(prefix, from []byte, fn func(k, v []byte) bool) error
}
