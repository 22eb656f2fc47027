package meta

import (
	"context"
	"errors"
	"time"
)

// BrokerInfo is one broker as the registry records it.
type BrokerInfo struct {
	// Name is the broker's stable identity (a name persisted in its data
	// directory, or --broker-name, e.g. the pod name).
	Name string
	// NodeID is the small id clients see; the store allocates it once
	// per Name (or records the one the broker asks for) and keeps it.
	NodeID int32
	// Zone is the broker's availability zone ("" if none).
	Zone string
	// Host and Port are the advertised Kafka address.
	Host string
	Port int32
	// PeerAddr is the broker's admin host:port other brokers can reach
	// (commit notifications), "" if none.
	PeerAddr string
	// Expires is when the lease lapses unless renewed. The zero time
	// means deregistered.
	Expires time.Time
}

// ErrNodeIDTaken is returned by Register when the node id asked for is
// held by another broker name whose lease has not lapsed.
var ErrNodeIDTaken = errors.New("meta: node id held by another live broker")

// AnyNodeID asks Register to allocate (or reuse) the name's node id.
const AnyNodeID = -1

// Brokers is the broker registry. Every method is safe for concurrent
// use.
//
// Leases are wall-clock times written by the registering broker
// (now+ttl) and compared with the reader's clock: brokers' clocks must
// agree to well within a lease (NTP), as they do in any cloud.
type Brokers interface {
	// Register records b (its Name, Zone, Host, Port, PeerAddr) with a
	// lease until b.Expires, and returns its node id. The first
	// registration of a name allocates the smallest node id no other
	// name holds (b.NodeID AnyNodeID) or records b.NodeID; later ones
	// keep the name's id (or move it to an explicit b.NodeID). Renewing
	// the lease is calling Register again.
	Register(ctx context.Context, b BrokerInfo) (int32, error)
	// Deregister ends the name's lease at once; its node id stays
	// reserved for it.
	Deregister(ctx context.Context, name string) error
	// Brokers returns every broker whose lease has not lapsed at now, by
	// node id.
	Brokers(ctx context.Context, now time.Time) ([]BrokerInfo, error)
}

// PickNodeID is the node id rule every backend shares: given every
// registered broker (live or not) and a registration, it returns the id
// the registration gets. A name keeps its id unless it asks for another;
// a new name gets the smallest id no other name holds; an explicit id
// held by another name is ErrNodeIDTaken while that name's lease lives
// (a lapsed holder loses it, and gets a new id when it comes back).
func PickNodeID(all []BrokerInfo, b BrokerInfo, now time.Time) (int32, error) {
	held := map[int32]BrokerInfo{}
	own := int32(AnyNodeID)
	for _, r := range all {
		if r.Name == b.Name {
			own = r.NodeID
			continue
		}
		if h, ok := held[r.NodeID]; !ok || !h.Expires.After(now) {
			held[r.NodeID] = r
		}
	}
	if b.NodeID >= 0 {
		if h, ok := held[b.NodeID]; ok && h.Expires.After(now) {
			return 0, ErrNodeIDTaken
		}
		return b.NodeID, nil
	}
	if own >= 0 {
		if h, ok := held[own]; !ok || !h.Expires.After(now) {
			return own, nil
		}
	}
	for id := int32(0); ; id++ {
		if _, ok := held[id]; !ok {
			return id, nil
		}
	}
}
