package objstore

import "context"

// LimitPuts wraps s so that at most n Puts run at once; the others wait
// (until their context ends). n < 1 returns s unchanged.
//
// The broker's produce pipeline already bounds its in-flight uploads; this
// is a store-level cap for when several producers of uploads share one
// store (the max_uploads URL parameter of the cloud backends).
func LimitPuts(s Store, n int) Store {
	if n < 1 {
		return s
	}
	return &limitStore{Store: s, sem: make(chan struct{}, n)}
}

type limitStore struct {
	Store
	sem chan struct{}
}

// Unwrap returns the wrapped store.
func (l *limitStore) Unwrap() Store { return l.Store }

func (l *limitStore) Put(ctx context.Context, key string, data []byte) error {
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-l.sem }()
	return l.Store.Put(ctx, key, data)
}
