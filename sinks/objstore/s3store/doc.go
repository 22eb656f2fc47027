// Package s3store registers the "s3" scheme with objstore.Open: Amazon S3
// and S3-compatible stores (MinIO, Ceph, R2, …) through gocloud.dev/blob's
// s3blob driver on aws-sdk-go-v2.
//
//	s3://bucket?region=eu-west-1&prefix=cluster-a
//	s3://bucket?region=us-east-1&endpoint=http://127.0.0.1:9000&use_path_style=true&prefix=cluster-a
//
// Credentials come the AWS way, never from the URL: AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN for temporary ones),
// AWS_PROFILE with ~/.aws/config and ~/.aws/credentials, web identity or
// an instance or task role. The region comes from region= or AWS_REGION;
// an S3-compatible store usually wants any region (us-east-1) plus
// endpoint= and use_path_style=true. The driver's other parameters
// (disable_https, anonymous, profile, ssetype, kmskeyid,
// request_checksum_calculation, …) are passed through; see
// gocloud.dev/blob/s3blob.URLOpener and gocloud.dev/aws.V2ConfigFromURLParams.
//
// On top of those, blobstore.OpenURL handles prefix=, timeout=, retries=
// and max_uploads=, and checks the bucket at Open with one listing
// request.
package s3store
