package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sluicedata/sluice/sinks/meta/spannermeta"
)

// newMigrate is `sluice migrate`: apply the metadata store's schema.
//
//	sluice migrate --metadata spanner://projects/P/instances/I/databases/D
//
// The URL may also come from SLUICE_METADATA. Stores without a schema
// (the embedded bbolt store, mem://) need no migration: they create what
// they need when opened, so for them migrate says so and succeeds.
func newMigrate() *cobra.Command {
	var url string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the metadata store schema (spanner://) up to this version's",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if url == "" {
				url = os.Getenv("SLUICE_METADATA")
			}
			out := cmd.OutOrStdout()
			if !strings.HasPrefix(url, spannermeta.Scheme+"://") {
				if url == "" {
					return errors.New("migrate: --metadata is required (spanner://projects/P/instances/I/databases/D)")
				}
				fmt.Fprintf(out, "metadata store %s has no schema to migrate\n", url)
				return nil
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			from, to, err := spannermeta.Migrate(ctx, url)
			if err != nil {
				return err
			}
			if from == to {
				fmt.Fprintf(out, "%s: schema already at version %d\n", url, to)
			} else {
				fmt.Fprintf(out, "%s: schema migrated from version %d to %d\n", url, from, to)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "metadata", "", "metadata store URL (spanner://projects/P/instances/I/databases/D)")
	return cmd
}
