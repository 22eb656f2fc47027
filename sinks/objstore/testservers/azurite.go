package testservers

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// Azurite's well-known development account.
const (
	AzuriteAccount = "devstoreaccount1"
	AzuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// AzuriteEnv names a variable that, when set, is the azurite-blob program
// to run, overriding the search.
const AzuriteEnv = "SLUICE_AZURITE_BLOB"

// AzuriteInstallHint says how to install Azurite where FindAzurite looks.
const AzuriteInstallHint = "run `make objstore-deps` (it runs npm install --prefix " +
	"sinks/objstore/testservers/testdata/azurite, which needs Node.js 20 or later and npm), " +
	"or put azurite-blob on PATH, or set " + AzuriteEnv + " to its path"

// Azurite is an Azurite blob server run as a child process on 127.0.0.1,
// keeping its data in memory.
type Azurite struct {
	// Endpoint is the account's blob endpoint,
	// http://127.0.0.1:port/devstoreaccount1.
	Endpoint string
	// Host is 127.0.0.1:port.
	Host string
	// ConnectionString reaches the account with its key; StartAzurite
	// puts it in AZURE_STORAGE_CONNECTION_STRING.
	ConnectionString string
}

// FindAzurite returns the azurite-blob program: $SLUICE_AZURITE_BLOB, else
// the one `make objstore-deps` installs under testdata/azurite, else
// azurite-blob on PATH.
func FindAzurite() (string, error) {
	if p := os.Getenv(AzuriteEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w (unset it to use the copy that %s)", AzuriteEnv, p, err, "`make objstore-deps` installs")
		}
		return p, nil
	}
	var tried []string
	if _, file, _, ok := runtime.Caller(0); ok {
		p := filepath.Join(filepath.Dir(file), "testdata", "azurite", "node_modules", ".bin", "azurite-blob")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		tried = append(tried, p)
	}
	if p, err := exec.LookPath("azurite-blob"); err == nil {
		return p, nil
	}
	tried = append(tried, "azurite-blob on PATH")
	return "", fmt.Errorf("Azurite (npm package azurite) not found (looked at %v): %s", tried, AzuriteInstallHint)
}

// lockedBuffer collects a child's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// StartAzurite starts Azurite's blob service for the test (about two
// seconds), sets AZURE_STORAGE_CONNECTION_STRING to it, clears the other
// AZURE_STORAGE_* credentials, and kills it when the test ends. It fails
// the test if Azurite is not installed, saying how to install it.
func StartAzurite(tb testing.TB) *Azurite {
	tb.Helper()
	bin, err := FindAzurite()
	if err != nil {
		tb.Fatalf("testservers: %v", err)
	}
	var lastErr error
	for range 3 { // the free port may be taken before Azurite binds it
		a, err := startAzurite(tb, bin)
		if err == nil {
			isolateEnv(tb, "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN",
				"AZURE_STORAGEBLOB_CONNECTIONSTRING", "AZURE_STORAGE_DOMAIN", "AZURE_STORAGE_PROTOCOL",
				"AZURE_STORAGE_IS_CDN", "AZURE_STORAGE_IS_LOCAL_EMULATOR")
			tb.Setenv("AZURE_STORAGE_CONNECTION_STRING", a.ConnectionString)
			return a
		}
		lastErr = err
	}
	tb.Fatalf("testservers: %v", lastErr)
	return nil
}

func startAzurite(tb testing.TB, bin string) (*Azurite, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	host := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	cmd := exec.Command(bin,
		"--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port),
		"--inMemoryPersistence", "--skipApiVersionCheck", "--loose",
		"--disableTelemetry", "--silent")
	cmd.Dir = tb.TempDir()
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w (%s)", bin, err, AzuriteInstallHint)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", host, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			exited <- err // for stop
			return nil, fmt.Errorf("azurite-blob exited before listening on %s (%v): %s", host, err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("azurite-blob did not listen on %s within 30s: %s", host, out.String())
		}
	}
	tb.Cleanup(stop)
	ep := "http://" + host + "/" + AzuriteAccount
	return &Azurite{
		Endpoint: ep,
		Host:     host,
		ConnectionString: "DefaultEndpointsProtocol=http;AccountName=" + AzuriteAccount +
			";AccountKey=" + AzuriteKey + ";BlobEndpoint=" + ep + ";",
	}, nil
}

// NewContainer creates an empty container with a fresh name and returns
// the name.
func (a *Azurite) NewContainer(tb testing.TB) string {
	tb.Helper()
	name := newName()
	c, err := container.NewClientFromConnectionString(a.ConnectionString, name, nil)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = c.Create(ctx, nil)
	}
	if err != nil {
		tb.Fatalf("testservers: create Azurite container %s: %v", name, err)
	}
	return name
}

// URL returns the store URL of container on this server, with extra "k=v"
// parameters added: azblob://container, which reaches the server through
// AZURE_STORAGE_CONNECTION_STRING. With AZURE_STORAGE_ACCOUNT and
// AZURE_STORAGE_KEY instead, add SharedKeyParams.
func (a *Azurite) URL(container string, extra ...string) string {
	return storeURL("azblob", container, nil, extra)
}

// SharedKeyParams are the URL parameters that point the azblob:// opener
// at this server when the credentials are AZURE_STORAGE_ACCOUNT and
// AZURE_STORAGE_KEY rather than a connection string.
func (a *Azurite) SharedKeyParams() []string {
	return []string{"domain=" + a.Host, "protocol=http", "localemu=true"}
}
