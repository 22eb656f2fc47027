package broker

// The store backends a broker can open by URL register themselves.
import (
	_ "github.com/sluicedata/sluice/sinks/meta/boltmeta"
	_ "github.com/sluicedata/sluice/sinks/meta/memmeta"
	_ "github.com/sluicedata/sluice/sinks/objstore/blobstore"
	_ "github.com/sluicedata/sluice/sinks/objstore/filestore"
)
