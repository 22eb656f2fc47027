package azurestore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/sinks/objstore/objstoretest"
	"github.com/sluicedata/sluice/sinks/objstore/testservers"
)

func open(t *testing.T, url string) objstore.Store {
	t.Helper()
	s, err := objstore.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open(%q): %v", url, err)
	}
	return s
}

// TestAzurite runs everything against one Azurite, which takes about two
// seconds to start. Without Azurite it fails, saying how to install it.
func TestAzurite(t *testing.T) {
	srv := testservers.StartAzurite(t)

	// Through AZURE_STORAGE_CONNECTION_STRING, which StartAzurite sets.
	t.Run("Conformance", func(t *testing.T) {
		objstoretest.Run(t, func(t *testing.T) objstore.Store {
			return open(t, srv.URL(srv.NewContainer(t)))
		}, objstoretest.Prefixes(func(t *testing.T) objstoretest.PrefixOpener {
			container := srv.NewContainer(t)
			return func(t *testing.T, prefix string) objstore.Store {
				return open(t, srv.URL(container, "prefix="+prefix))
			}
		}))
	})

	// Through AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY, with the
	// endpoint in the URL.
	t.Run("SharedKey", func(t *testing.T) {
		container := srv.NewContainer(t)
		t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "")
		t.Setenv("AZURE_STORAGE_ACCOUNT", testservers.AzuriteAccount)
		t.Setenv("AZURE_STORAGE_KEY", testservers.AzuriteKey)
		ctx := context.Background()
		s := open(t, srv.URL(container, append(srv.SharedKeyParams(), "prefix=p")...))
		defer s.Close()
		if err := s.Put(ctx, "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		root := open(t, srv.URL(container, srv.SharedKeyParams()...))
		defer root.Close()
		if got, err := root.GetRange(ctx, "p/k", 0, -1); err != nil || string(got) != "v" {
			t.Fatalf("p/k = %q, %v", got, err)
		}

		// A wrong key is refused, at Open, once.
		t.Setenv("AZURE_STORAGE_KEY", "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=")
		start := time.Now()
		_, err := objstore.Open(ctx, srv.URL(container, srv.SharedKeyParams()...))
		if err == nil || !strings.Contains(err.Error(), "Azure Blob refused the credentials") ||
			!strings.Contains(err.Error(), "AZURE_STORAGE_KEY") {
			t.Fatalf("wrong key: %v", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("refused credentials took %v: retried?", d)
		}
	})

	t.Run("OpenErrors", func(t *testing.T) {
		ctx := context.Background()
		for _, c := range []struct{ url, want string }{
			{srv.URL("no-such-container", "retries=0"), `Azure Blob bucket "no-such-container" does not exist`},
			{srv.URL("c", "unknown_param=1"), "unknown_param"},
			{"azblob://c/dir", "prefix=dir"},
		} {
			if _, err := objstore.Open(ctx, c.url); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Open(%q) = %v, want an error with %q", c.url, err, c.want)
			}
		}
	})
}
