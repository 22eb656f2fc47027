package helm

import (
	"testing"

	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

// TestHelmLint is `helm lint --strict` (warnings fail too) for the
// defaults and each scenario's values, through Helm's lint package.
// (The linter reports a template's fail() only as a log line, so the bad
// combinations are tested by TestBadValues.)
func TestHelmLint(t *testing.T) {
	for name, files := range map[string][]string{
		"defaults":      nil,
		"single-node":   {"single-node.yaml"},
		"in-cluster s3": {"spanner-s3.yaml"},
		"external gcs":  {"spanner-gcs.yaml", "external-lb.yaml"},
		"azure":         {"spanner-azure.yaml"},
		"zonal":         {"spanner-s3.yaml", zoneFile(zones[0]), zoneFile(zones[1]), zoneFile(zones[2])},
	} {
		t.Run(name, func(t *testing.T) {
			l := lint.AllWithKubeVersion(chartDir, values(t, files...), namespace, &kubeVersion)
			for _, m := range l.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("%s", m)
				} else {
					t.Logf("%s", m)
				}
			}
		})
	}
}
