package broker

import "testing"

// Store URLs reach error messages and the marker; what may be a secret in
// them must not.
func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"mem://":                                "mem://",
		"file:///var/lib/sluice/objects":        "file:///var/lib/sluice/objects",
		"s3://bucket?region=eu-west-1&prefix=a": "s3://bucket?region=eu-west-1&prefix=a",
		"spanner://projects/p/instances/i/databases/d?credentials=/k.json": "spanner://projects/p/instances/i/databases/d?credentials=REDACTED",
		"s3://bucket?access_key=AK&secret=S&region=x":                      "s3://bucket?access_key=REDACTED&region=x&secret=REDACTED",
		"https://user:hunter2@example.com/x":                               "https://user:REDACTED@example.com/x",
		"azblob://c?sig=abc&sv=1":                                          "azblob://c?sig=REDACTED&sv=1",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
