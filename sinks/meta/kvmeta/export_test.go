package kvmeta

// Internals the external tests use to write values as older builds did.
var (
	KeyProducer    = keyProducer
	EncodeProducer = encodeProducer
)
