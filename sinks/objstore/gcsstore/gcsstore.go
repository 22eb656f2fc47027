package gcsstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/gcerrors"
	"gocloud.dev/gcp"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/sinks/objstore/blobstore"
)

// Scheme is the URL scheme this package registers.
const Scheme = "gs"

// ParamEndpoint points the store at an emulator: an http:// or https://
// base URL, used without credentials.
const ParamEndpoint = "endpoint"

func init() { objstore.Register(Scheme, Open) }

var backend = blobstore.Backend{
	Name: "GCS",
	Credentials: "Google Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS, " +
		"gcloud auth application-default login, or the metadata server",
	Open: openBucket,
	// gcsblob calls a 401 Unknown.
	Code: func(err error) gcerrors.ErrorCode {
		var ge *googleapi.Error
		if errors.As(err, &ge) {
			return blobstore.StatusCode(ge.Code)
		}
		return gcerrors.Unknown
	},
}

func openBucket(ctx context.Context, u *url.URL) (*blob.Bucket, error) {
	q := u.Query()
	ep := q.Get(ParamEndpoint)
	if ep == "" {
		return blob.DefaultURLMux().OpenBucketURL(ctx, u)
	}
	if len(q) != 1 {
		return nil, fmt.Errorf("gcsstore: %s= takes no other driver parameter", ParamEndpoint)
	}
	p, err := url.Parse(ep)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return nil, fmt.Errorf("gcsstore: %s=%q: want http://host:port", ParamEndpoint, ep)
	}
	base := strings.TrimSuffix(ep, "/")
	return gcsblob.OpenBucket(ctx, gcp.NewAnonymousHTTPClient(gcp.DefaultTransport()), u.Host, &gcsblob.Options{
		ClientOptions: []option.ClientOption{
			option.WithoutAuthentication(),
			option.WithEndpoint(base + "/storage/v1/"),
		},
	})
}

// Open opens a gs:// store URL (see the package comment).
func Open(ctx context.Context, rawURL string) (objstore.Store, error) {
	return blobstore.OpenURL(ctx, rawURL, backend)
}
