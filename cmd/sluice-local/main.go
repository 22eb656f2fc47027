// Command sluice-local runs a Sluice cluster on this machine: the Cloud
// Spanner emulator, an in-process S3 server and several brokers in two
// zones on 127.0.0.1. It prints the bootstrap addresses and stops
// everything on Ctrl-C.
//
//	go run ./cmd/sluice-local            # 3 brokers, zones a, a, b, ports 9092-9094
//	go run ./cmd/sluice-local --zones a,a,b,b --base-port 19092
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sluicedata/sluice/deploy/local"
)

func main() {
	zones := flag.String("zones", "a,a,b", "one zone per broker")
	basePort := flag.Int("base-port", 9092, "first broker's Kafka port (admin ports are 100 higher)")
	dir := flag.String("dir", "", "data and log directory (default: a temporary one, removed at exit)")
	bin := flag.String("sluice", "", "sluice binary (default: go build ./cmd/sluice)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := local.Start(ctx, local.Config{Zones: local.ParseZones(*zones), BasePort: *basePort, Dir: *dir, Sluice: *bin, Out: os.Stdout})
	if err != nil {
		fmt.Fprintln(os.Stderr, "sluice-local:", err)
		os.Exit(1)
	}
	fmt.Printf("\nbootstrap: %s\ntry: kcat -b %s -L\nCtrl-C stops the cluster.\n", strings.Join(c.Bootstrap, ","), c.Bootstrap[0])
	<-ctx.Done()
	fmt.Println("stopping")
	c.Stop()
}
