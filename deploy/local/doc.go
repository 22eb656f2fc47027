// Package local runs a Sluice cluster on one machine for people without
// Kubernetes: the Cloud Spanner emulator (from the Debian package
// google-cloud-cli-spanner-emulator), an S3 server in process (gofakes3),
// and several `sluice serve` processes in two zones on 127.0.0.1, all
// stopped together on Ctrl-C. cmd/sluice-local is its command.
package local
