package s3store

import (
	"context"
	"errors"
	"net/url"

	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"

	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/sinks/objstore/blobstore"
)

// Scheme is the URL scheme this package registers.
const Scheme = "s3"

func init() { objstore.Register(Scheme, Open) }

var backend = blobstore.Backend{
	Name: "S3",
	Credentials: "the AWS SDK's default chain: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY " +
		"(and AWS_SESSION_TOKEN), AWS_PROFILE, ~/.aws, or an instance role",
	Open: func(ctx context.Context, u *url.URL) (*blob.Bucket, error) {
		// A fresh opener each time: it reads the environment anew.
		return (&s3blob.URLOpener{}).OpenBucketURL(ctx, u)
	},
	// s3blob calls an InvalidAccessKeyId or SignatureDoesNotMatch (403)
	// Unknown.
	Code: func(err error) gcerrors.ErrorCode {
		var re interface{ HTTPStatusCode() int }
		if errors.As(err, &re) {
			return blobstore.StatusCode(re.HTTPStatusCode())
		}
		return gcerrors.Unknown
	},
}

// Open opens an s3:// store URL (see the package comment).
func Open(ctx context.Context, rawURL string) (objstore.Store, error) {
	return blobstore.OpenURL(ctx, rawURL, backend)
}
