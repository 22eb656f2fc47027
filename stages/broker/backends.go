package broker

// The store backends a broker can open by URL register themselves.
import (
	_ "github.com/sluicedata/sluice/sinks/meta/boltmeta"
	_ "github.com/sluicedata/sluice/sinks/meta/memmeta"
	_ "github.com/sluicedata/sluice/sinks/meta/spannermeta"
	_ "github.com/sluicedata/sluice/sinks/objstore/azurestore"
	_ "github.com/sluicedata/sluice/sinks/objstore/blobstore"
	_ "github.com/sluicedata/sluice/sinks/objstore/filestore"
	_ "github.com/sluicedata/sluice/sinks/objstore/gcsstore"
	_ "github.com/sluicedata/sluice/sinks/objstore/s3store"
)
