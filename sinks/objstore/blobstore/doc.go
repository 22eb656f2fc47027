// Package blobstore adapts a gocloud.dev/blob bucket to objstore.Store.
//
// It serves "mem://" (gocloud's memblob) now, and will serve s3://, gs://
// and azblob:// once their drivers are linked. Durability is the
// bucket's: for cloud stores a completed write is durable; memblob is for
// tests and development only.
//
// Importing the package registers the "mem" scheme with objstore.Open.
package blobstore
