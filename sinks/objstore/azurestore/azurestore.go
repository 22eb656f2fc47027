package azurestore

import (
	"context"
	"errors"
	"net/url"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"
	"gocloud.dev/gcerrors"

	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/sinks/objstore/blobstore"
)

// Scheme is the URL scheme this package registers.
const Scheme = "azblob"

func init() { objstore.Register(Scheme, Open) }

var backend = blobstore.Backend{
	Name: "Azure Blob",
	Credentials: "AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, " +
		"AZURE_STORAGE_CONNECTION_STRING, or azidentity's DefaultAzureCredential",
	Open: func(ctx context.Context, u *url.URL) (*blob.Bucket, error) {
		// Not blob.DefaultURLMux: its azblob opener reads the environment
		// once per process, so a changed key would be ignored.
		o := &azureblob.URLOpener{
			MakeClient:        azureblob.NewDefaultClient,
			ServiceURLOptions: *azureblob.NewDefaultServiceURLOptions(),
		}
		return o.OpenBucketURL(ctx, u)
	},
	// azureblob calls a 403 other than AuthenticationFailed (e.g.
	// AuthorizationPermissionMismatch) Unknown.
	Code: func(err error) gcerrors.ErrorCode {
		var re *azcore.ResponseError
		if errors.As(err, &re) {
			return blobstore.StatusCode(re.StatusCode)
		}
		return gcerrors.Unknown
	},
}

// Open opens an azblob:// store URL (see the package comment).
func Open(ctx context.Context, rawURL string) (objstore.Store, error) {
	return blobstore.OpenURL(ctx, rawURL, backend)
}
