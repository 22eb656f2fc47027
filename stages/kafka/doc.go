// Package kafka is Sluice's Kafka front end: the listener, the per
// connection request loop, and one handler per Kafka API.
//
// Each API lives in its own file named after its key (00_produce.go,
// 01_fetch.go, …), which opens with the versions served and the behaviour,
// and registers its handler in init. ApiVersions is answered from that
// registry, so a handler that exists is advertised and one that does not is
// not.
//
// A connection reads requests in order and answers them in order, as the
// protocol requires, while letting several be in flight: each request takes
// a response slot when it is read, a handler fills the slot whenever it is
// done (a produce after its batches are acknowledged, a fetch after its long
// poll), and the writer sends filled slots in order.
//
// Protocol errors go in the response; a Go error from a handler, a
// malformed frame or an unknown API closes the connection with one log
// line.
package kafka
