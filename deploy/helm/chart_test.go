// Package helm tests the Sluice Helm chart in deploy/helm/sluice without a
// cluster: each scenario's values are rendered with Helm's own packages
// (chart loader, values coalescing with values.schema.json, the template
// engine: what `helm install` and `helm template` do before talking to the
// API server), every manifest is decoded strictly into the Kubernetes API
// types (unknown or duplicate fields fail), and the settings that matter
// are checked. `helm lint` runs through helm.sh/helm/v3/pkg/lint.
package helm

import (
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

const (
	chartDir    = "sluice"
	examplesDir = "examples"
	release     = "sluice"
	namespace   = "streaming"
	headless    = "sluice-headless"
	zoneKey     = "topology.kubernetes.io/zone"
)

// kubeVersion is the cluster the chart is rendered for: the oldest it
// supports (StatefulSet ordinals and the pod-index label) would be 1.28.
var kubeVersion = chartutil.KubeVersion{Version: "v1.31.0", Major: "1", Minor: "31"}

var (
	chartOnce sync.Once
	theChart  *chart.Chart
	chartErr  error
)

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	chartOnce.Do(func() { theChart, chartErr = loader.Load(chartDir) })
	if chartErr != nil {
		t.Fatalf("loading the chart: %v", chartErr)
	}
	return theChart
}

// values reads example files and merges them the way `helm -f a -f b`
// does: later files win, maps merge.
func values(t *testing.T, files ...string) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, f := range files {
		v, err := chartutil.ReadValuesFile(filepath.Join(examplesDir, f))
		if err != nil {
			t.Fatalf("reading %s: %v", f, err)
		}
		out = mergeMaps(out, v.AsMap())
	}
	return out
}

// with returns vals with the dotted path set to v, like `--set path=v`.
func with(vals map[string]any, path string, v any) map[string]any {
	keys := strings.Split(path, ".")
	var over any = v
	for i := len(keys) - 1; i >= 0; i-- {
		over = map[string]any{keys[i]: over}
	}
	return mergeMaps(vals, over.(map[string]any))
}

// mergeMaps is helm's merge of -f files (pkg/cli/values).
func mergeMaps(a, b map[string]any) map[string]any {
	out := maps.Clone(a)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range b {
		if vm, ok := v.(map[string]any); ok {
			if bv, ok := out[k].(map[string]any); ok {
				out[k] = mergeMaps(bv, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// render does what `helm install --dry-run` does before the API server:
// coalesce the values with the chart's (checking values.schema.json) and
// run the templates.
func render(t *testing.T, vals map[string]any) (map[string]string, error) {
	t.Helper()
	ch := loadChart(t)
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = kubeVersion
	if !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, caps.KubeVersion.String()) {
		t.Fatalf("chart kubeVersion %q does not admit %s", ch.Metadata.KubeVersion, caps.KubeVersion.String())
	}
	rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{
		Name: release, Namespace: namespace, Revision: 1, IsInstall: true,
	}, caps)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, rv)
}

// manifests is what a render produced, decoded.
type manifests struct {
	statefulSets    []*appsv1.StatefulSet
	services        []*corev1.Service
	serviceAccounts []*corev1.ServiceAccount
	pdbs            []*policyv1.PodDisruptionBudget
	hpas            []*autoscalingv2.HorizontalPodAutoscaler
	netpols         []*networkingv1.NetworkPolicy
	serviceMonitors []*monitoringv1.ServiceMonitor
	notes           string
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// mustRender renders vals and decodes every manifest strictly.
func mustRender(t *testing.T, vals map[string]any) *manifests {
	t.Helper()
	out, err := render(t, vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	m := &manifests{}
	names := slices.Sorted(maps.Keys(out))
	seen := map[string]string{}
	for _, name := range names {
		base := filepath.Base(name)
		if base == "NOTES.txt" {
			m.notes = out[name]
			continue
		}
		if strings.HasPrefix(base, "_") {
			continue
		}
		for i, doc := range docSep.Split(out[name], -1) {
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s doc %d: not YAML: %v\n%s", name, i, err, doc)
			}
			if tm.Kind == "" && tm.APIVersion == "" {
				if strings.TrimSpace(stripComments(doc)) != "" {
					t.Fatalf("%s doc %d: no apiVersion/kind:\n%s", name, i, doc)
				}
				continue
			}
			obj, meta := m.add(t, tm)
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s doc %d (%s): strict decode into %T: %v\n%s", name, i, tm.Kind, obj, err, doc)
			}
			checkMeta(t, tm.Kind, meta)
			key := tm.Kind + "/" + meta.Name
			if prev, dup := seen[key]; dup {
				t.Fatalf("%s rendered twice (%s and %s)", key, prev, name)
			}
			seen[key] = name
		}
	}
	m.checkWiring(t)
	return m
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// add makes the typed object for a kind and keeps it.
func (m *manifests) add(t *testing.T, tm metav1.TypeMeta) (any, *metav1.ObjectMeta) {
	t.Helper()
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 StatefulSet":
		o := &appsv1.StatefulSet{}
		m.statefulSets = append(m.statefulSets, o)
		return o, &o.ObjectMeta
	case "v1 Service":
		o := &corev1.Service{}
		m.services = append(m.services, o)
		return o, &o.ObjectMeta
	case "v1 ServiceAccount":
		o := &corev1.ServiceAccount{}
		m.serviceAccounts = append(m.serviceAccounts, o)
		return o, &o.ObjectMeta
	case "policy/v1 PodDisruptionBudget":
		o := &policyv1.PodDisruptionBudget{}
		m.pdbs = append(m.pdbs, o)
		return o, &o.ObjectMeta
	case "autoscaling/v2 HorizontalPodAutoscaler":
		o := &autoscalingv2.HorizontalPodAutoscaler{}
		m.hpas = append(m.hpas, o)
		return o, &o.ObjectMeta
	case "networking.k8s.io/v1 NetworkPolicy":
		o := &networkingv1.NetworkPolicy{}
		m.netpols = append(m.netpols, o)
		return o, &o.ObjectMeta
	case "monitoring.coreos.com/v1 ServiceMonitor":
		o := &monitoringv1.ServiceMonitor{}
		m.serviceMonitors = append(m.serviceMonitors, o)
		return o, &o.ObjectMeta
	}
	t.Fatalf("unexpected kind %s %s", tm.APIVersion, tm.Kind)
	return nil, nil
}

// checkMeta checks names and labels the way the API server would.
func checkMeta(t *testing.T, kind string, meta *metav1.ObjectMeta) {
	t.Helper()
	errs := validation.IsDNS1123Subdomain(meta.Name)
	if kind == "Service" || kind == "StatefulSet" {
		errs = validation.IsDNS1123Label(meta.Name)
	}
	if kind == "StatefulSet" && len(meta.Name) > 52 {
		errs = append(errs, "longer than 52 characters")
	}
	if len(errs) > 0 {
		t.Errorf("%s name %q: %v", kind, meta.Name, errs)
	}
	if meta.Namespace != "" {
		t.Errorf("%s %s: namespace set in the template (%q); helm sets it", kind, meta.Name, meta.Namespace)
	}
	checkLabels(t, kind+" "+meta.Name, meta.Labels)
}

func checkLabels(t *testing.T, what string, l map[string]string) {
	t.Helper()
	for k, v := range l {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			t.Errorf("%s: label key %q: %v", what, k, errs)
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			t.Errorf("%s: label %s=%q: %v", what, k, v, errs)
		}
	}
}

// checkWiring checks what decoding cannot: that selectors select, names
// resolve and ports exist.
func (m *manifests) checkWiring(t *testing.T) {
	t.Helper()
	podLabels := map[string]map[string]string{} // StatefulSet -> pod labels
	for _, s := range m.statefulSets {
		checkLabels(t, "pods of "+s.Name, s.Spec.Template.Labels)
		sel, err := metav1.LabelSelectorAsSelector(s.Spec.Selector)
		if err != nil || sel.Empty() {
			t.Fatalf("StatefulSet %s: selector %v: %v", s.Name, s.Spec.Selector, err)
		}
		if !sel.Matches(labels.Set(s.Spec.Template.Labels)) {
			t.Errorf("StatefulSet %s: selector %v does not match its pods %v", s.Name, s.Spec.Selector, s.Spec.Template.Labels)
		}
		for _, o := range m.statefulSets {
			if o != s && sel.Matches(labels.Set(o.Spec.Template.Labels)) {
				t.Errorf("StatefulSet %s's selector also matches the pods of %s", s.Name, o.Name)
			}
		}
		if m.service(s.Spec.ServiceName) == nil {
			t.Errorf("StatefulSet %s: serviceName %q is not rendered", s.Name, s.Spec.ServiceName)
		}
		podLabels[s.Name] = s.Spec.Template.Labels
		pod := s.Spec.Template.Spec
		vols := map[string]bool{}
		for _, v := range pod.Volumes {
			vols[v.Name] = true
		}
		for _, v := range s.Spec.VolumeClaimTemplates {
			vols[v.Name] = true
		}
		if pod.ServiceAccountName != "" && pod.ServiceAccountName != "default" && len(m.serviceAccounts) > 0 &&
			!slices.ContainsFunc(m.serviceAccounts, func(sa *corev1.ServiceAccount) bool { return sa.Name == pod.ServiceAccountName }) {
			t.Errorf("StatefulSet %s: service account %q is not rendered", s.Name, pod.ServiceAccountName)
		}
		for _, c := range pod.Containers {
			for _, vm := range c.VolumeMounts {
				if !vols[vm.Name] {
					t.Errorf("StatefulSet %s: mount %q has no volume", s.Name, vm.Name)
				}
			}
			env := map[string]bool{}
			for _, e := range c.Env {
				env[e.Name] = true
			}
			for _, a := range c.Args {
				for _, ref := range regexp.MustCompile(`\$\(([A-Z_][A-Z0-9_]*)\)`).FindAllStringSubmatch(a, -1) {
					if !env[ref[1]] {
						t.Errorf("StatefulSet %s: arg %q uses $(%s), which is not in env", s.Name, a, ref[1])
					}
				}
			}
		}
	}
	selects := func(what string, sel map[string]string) {
		if len(sel) == 0 {
			t.Errorf("%s: empty selector", what)
			return
		}
		for _, pl := range podLabels {
			if labels.SelectorFromSet(sel).Matches(labels.Set(pl)) {
				return
			}
		}
		t.Errorf("%s: selector %v matches no broker pods", what, sel)
	}
	for _, s := range m.services {
		selects("Service "+s.Name, s.Spec.Selector)
		for _, p := range s.Spec.Ports {
			if p.TargetPort.String() != "kafka" && p.TargetPort.String() != "admin" {
				t.Errorf("Service %s port %s: targetPort %s is not a named container port", s.Name, p.Name, p.TargetPort.String())
			}
		}
	}
	for _, p := range m.pdbs {
		selects("PodDisruptionBudget "+p.Name, p.Spec.Selector.MatchLabels)
	}
	for _, n := range m.netpols {
		selects("NetworkPolicy "+n.Name, n.Spec.PodSelector.MatchLabels)
	}
	for _, h := range m.hpas {
		if h.Spec.ScaleTargetRef.Kind != "StatefulSet" || m.statefulSet(h.Spec.ScaleTargetRef.Name) == nil {
			t.Errorf("HPA %s: target %v is not a rendered StatefulSet", h.Name, h.Spec.ScaleTargetRef)
		}
	}
	for _, sm := range m.serviceMonitors {
		var hit bool
		for _, s := range m.services {
			if labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(s.Labels)) {
				hit = hit || slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == sm.Spec.Endpoints[0].Port })
			}
		}
		if !hit {
			t.Errorf("ServiceMonitor %s selects no service with port %q", sm.Name, sm.Spec.Endpoints[0].Port)
		}
	}
}

func (m *manifests) service(name string) *corev1.Service {
	for _, s := range m.services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (m *manifests) statefulSet(name string) *appsv1.StatefulSet {
	for _, s := range m.statefulSets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (m *manifests) servicesOfType(typ corev1.ServiceType) []*corev1.Service {
	var out []*corev1.Service
	for _, s := range m.services {
		if s.Spec.Type == typ {
			out = append(out, s)
		}
	}
	return out
}

func broker(t *testing.T, s *appsv1.StatefulSet) corev1.Container {
	t.Helper()
	if len(s.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("StatefulSet %s: want one container, got %d", s.Name, len(s.Spec.Template.Spec.Containers))
	}
	return s.Spec.Template.Spec.Containers[0]
}

// flag returns the value of --name=value in args, and whether it is there.
func flag(args []string, name string) (string, bool) {
	for _, a := range args {
		if a == "--"+name {
			return "", true
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func mustFlag(t *testing.T, s *appsv1.StatefulSet, name string) string {
	t.Helper()
	v, ok := flag(broker(t, s).Args, name)
	if !ok {
		t.Fatalf("StatefulSet %s: no --%s in %q", s.Name, name, broker(t, s).Args)
	}
	return v
}

func envVar(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func containerPort(t *testing.T, c corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port %q", c.Name, name)
	return 0
}

// checkBroker checks what every StatefulSet must have: listeners on all
// interfaces, probes on the admin port, the node id, a drain that fits in
// the grace period.
func checkBroker(t *testing.T, s *appsv1.StatefulSet) {
	t.Helper()
	c := broker(t, s)
	if len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Errorf("%s: args %q do not start with serve", s.Name, c.Args)
	}
	kafkaPort := containerPort(t, c, "kafka")
	adminPort := containerPort(t, c, "admin")
	if got, want := mustFlag(t, s, "kafka-addr"), fmt.Sprintf("0.0.0.0:%d", kafkaPort); got != want {
		t.Errorf("%s: --kafka-addr=%s, want %s", s.Name, got, want)
	}
	if got, want := mustFlag(t, s, "admin-addr"), fmt.Sprintf("0.0.0.0:%d", adminPort); got != want {
		t.Errorf("%s: --admin-addr=%s, want %s", s.Name, got, want)
	}
	probes := map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe}
	paths := map[string]string{"readiness": "/readyz", "liveness": "/healthz", "startup": "/healthz"}
	for kind, p := range probes {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s probe", s.Name, kind)
			continue
		}
		if p.HTTPGet.Path != paths[kind] {
			t.Errorf("%s: %s probe path %s, want %s", s.Name, kind, p.HTTPGet.Path, paths[kind])
		}
		if port := p.HTTPGet.Port; port.String() != "admin" && port.IntValue() != int(adminPort) {
			t.Errorf("%s: %s probe on port %s, want the admin port %d", s.Name, kind, port.String(), adminPort)
		}
	}
	if got := mustFlag(t, s, "broker-name"); got != "$(POD_NAME)" {
		t.Errorf("%s: --broker-name=%s, want $(POD_NAME)", s.Name, got)
	}
	if got := mustFlag(t, s, "peer-addr"); !strings.HasPrefix(got, "$(POD_IP):") {
		t.Errorf("%s: --peer-addr=%s, want $(POD_IP):<admin port>", s.Name, got)
	}
	if e := envVar(c, "POD_IP"); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "status.podIP" {
		t.Errorf("%s: POD_IP does not come from status.podIP: %+v", s.Name, e)
	}
	if got := mustFlag(t, s, "node-id"); got != "$(POD_INDEX)" {
		t.Errorf("%s: --node-id=%s, want $(POD_INDEX)", s.Name, got)
	}
	if e := envVar(c, "POD_INDEX"); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil ||
		e.ValueFrom.FieldRef.FieldPath != "metadata.labels['apps.kubernetes.io/pod-index']" {
		t.Errorf("%s: POD_INDEX does not come from the pod-index label: %+v", s.Name, e)
	}
	var shutdown int64
	if _, err := fmt.Sscanf(mustFlag(t, s, "shutdown-timeout"), "%ds", &shutdown); err != nil {
		t.Fatalf("%s: --shutdown-timeout: %v", s.Name, err)
	}
	var preStop int64
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		preStop = c.Lifecycle.PreStop.Sleep.Seconds
	}
	if g := s.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g <= shutdown+preStop {
		t.Errorf("%s: terminationGracePeriodSeconds %v does not exceed preStop %ds + --shutdown-timeout %ds", s.Name, g, preStop, shutdown)
	}
	sc := c.SecurityContext
	if ps := s.Spec.Template.Spec.SecurityContext; ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot {
		t.Errorf("%s: pods may run as root", s.Name)
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: root filesystem is writable", s.Name)
	}
}

// inClusterAddr is what a pod advertises without a public address.
func inClusterAddr(port int) string {
	return fmt.Sprintf("$(POD_NAME).%s.$(POD_NAMESPACE).svc.cluster.local:%d", headless, port)
}

func checkHeadless(t *testing.T, m *manifests) {
	t.Helper()
	h := m.service(headless)
	if h == nil {
		t.Fatalf("no headless service %s", headless)
	}
	if h.Spec.ClusterIP != corev1.ClusterIPNone || !h.Spec.PublishNotReadyAddresses {
		t.Errorf("%s: clusterIP %q publishNotReadyAddresses %v, want None and true", headless, h.Spec.ClusterIP, h.Spec.PublishNotReadyAddresses)
	}
	for _, s := range m.statefulSets {
		if s.Spec.ServiceName != headless {
			t.Errorf("%s: serviceName %s, want %s", s.Name, s.Spec.ServiceName, headless)
		}
	}
	b := m.service(release)
	if b == nil || b.Spec.Type != corev1.ServiceTypeClusterIP || b.Spec.ClusterIP == corev1.ClusterIPNone {
		t.Fatalf("no ClusterIP bootstrap service %s: %+v", release, b)
	}
	if len(b.Spec.Ports) != 1 || b.Spec.Ports[0].Port != 9092 || b.Spec.Ports[0].TargetPort.String() != "kafka" {
		t.Errorf("bootstrap service ports %+v, want 9092 -> kafka", b.Spec.Ports)
	}
}

// checkStateless: no PVC, the data dir on an emptyDir.
func checkStateless(t *testing.T, s *appsv1.StatefulSet) {
	t.Helper()
	if len(s.Spec.VolumeClaimTemplates) != 0 {
		t.Errorf("%s: stateless brokers with a PVC", s.Name)
	}
	for _, v := range s.Spec.Template.Spec.Volumes {
		if v.Name == "data" && v.EmptyDir == nil {
			t.Errorf("%s: data volume is not an emptyDir: %+v", s.Name, v)
		}
	}
	if got := mustFlag(t, s, "metadata"); got != "spanner://projects/my-project/instances/sluice/databases/sluice" {
		t.Errorf("%s: --metadata=%s", s.Name, got)
	}
}

func objectsURL(t *testing.T, s *appsv1.StatefulSet) *url.URL {
	t.Helper()
	u, err := url.Parse(mustFlag(t, s, "objects"))
	if err != nil {
		t.Fatalf("%s: --objects: %v", s.Name, err)
	}
	return u
}

func secretEnv(t *testing.T, c corev1.Container, name, secret string) {
	t.Helper()
	e := envVar(c, name)
	if e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
		e.ValueFrom.SecretKeyRef.Name != secret || e.ValueFrom.SecretKeyRef.Key != name {
		t.Errorf("%s does not come from key %s of Secret %s: %+v", name, name, secret, e)
	}
}

func TestSingleNodeEmbedded(t *testing.T) {
	for name, vals := range map[string]map[string]any{
		"defaults":         {},
		"single-node.yaml": values(t, "single-node.yaml"),
	} {
		t.Run(name, func(t *testing.T) {
			m := mustRender(t, vals)
			if len(m.statefulSets) != 1 {
				t.Fatalf("%d StatefulSets, want 1", len(m.statefulSets))
			}
			s := m.statefulSets[0]
			checkBroker(t, s)
			checkHeadless(t, m)
			if s.Name != release || s.Spec.Replicas == nil || *s.Spec.Replicas != 1 {
				t.Errorf("StatefulSet %s replicas %v, want sluice with 1", s.Name, s.Spec.Replicas)
			}
			if got := mustFlag(t, s, "public-addr"); got != inClusterAddr(9092) {
				t.Errorf("--public-addr=%s, want %s", got, inClusterAddr(9092))
			}
			if got := mustFlag(t, s, "data-dir"); got != "/var/lib/sluice" {
				t.Errorf("--data-dir=%s", got)
			}
			for _, f := range []string{"metadata", "objects", "zone"} {
				if v, ok := flag(broker(t, s).Args, f); ok {
					t.Errorf("--%s=%s with embedded metadata and file storage", f, v)
				}
			}
			if len(s.Spec.VolumeClaimTemplates) != 1 || s.Spec.VolumeClaimTemplates[0].Name != "data" {
				t.Fatalf("want one PVC template named data: %+v", s.Spec.VolumeClaimTemplates)
			}
			if s.Spec.Template.Spec.SecurityContext.FSGroup == nil {
				t.Errorf("no fsGroup: the non-root broker cannot write its volume")
			}
			if slices.ContainsFunc(s.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "data" }) {
				t.Errorf("a data volume besides the PVC template")
			}
			if len(m.servicesOfType(corev1.ServiceTypeLoadBalancer)) != 0 || len(m.hpas) != 0 {
				t.Errorf("load balancer or HPA rendered by default")
			}
			if len(m.pdbs) != 1 || m.pdbs[0].Spec.MaxUnavailable == nil || m.pdbs[0].Spec.MaxUnavailable.IntValue() != 1 {
				t.Errorf("want one PDB with maxUnavailable 1: %+v", m.pdbs)
			}
			if !strings.Contains(m.notes, "sluice.streaming.svc.cluster.local:9092") {
				t.Errorf("NOTES lack the bootstrap address:\n%s", m.notes)
			}
		})
	}
}

func TestInClusterSpannerS3(t *testing.T) {
	m := mustRender(t, values(t, "spanner-s3.yaml"))
	if len(m.statefulSets) != 1 {
		t.Fatalf("%d StatefulSets, want 1", len(m.statefulSets))
	}
	s := m.statefulSets[0]
	checkBroker(t, s)
	checkHeadless(t, m)
	checkStateless(t, s)
	c := broker(t, s)
	if *s.Spec.Replicas != 3 {
		t.Errorf("replicas %d, want 3", *s.Spec.Replicas)
	}
	if got := mustFlag(t, s, "public-addr"); got != inClusterAddr(9092) {
		t.Errorf("--public-addr=%s, want %s", got, inClusterAddr(9092))
	}
	for _, e := range []string{"POD_NAME", "POD_NAMESPACE"} {
		if v := envVar(c, e); v == nil || v.ValueFrom == nil || v.ValueFrom.FieldRef == nil {
			t.Errorf("%s is not from the downward API: %+v", e, v)
		}
	}
	if _, ok := flag(c.Args, "auto-migrate"); !ok {
		t.Errorf("no --auto-migrate with metadata.spanner.autoMigrate")
	}
	if got, want := mustFlag(t, s, "objects"), "s3://my-sluice-bucket?region=us-east-1&prefix=cluster-a"; got != want {
		t.Errorf("--objects=%s, want %s", got, want)
	}
	secretEnv(t, c, "AWS_ACCESS_KEY_ID", "sluice-s3")
	secretEnv(t, c, "AWS_SECRET_ACCESS_KEY", "sluice-s3")
	if e := envVar(c, "GOOGLE_APPLICATION_CREDENTIALS"); e == nil || e.Value != "/var/run/secrets/sluice/gcp/credentials.json" {
		t.Errorf("GOOGLE_APPLICATION_CREDENTIALS: %+v", e)
	}
	var mounted bool
	for _, v := range s.Spec.Template.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == "sluice-gcp" {
			for _, vm := range c.VolumeMounts {
				mounted = mounted || (vm.Name == v.Name && vm.MountPath == "/var/run/secrets/sluice/gcp" && vm.ReadOnly)
			}
		}
	}
	if !mounted {
		t.Errorf("Secret sluice-gcp is not mounted read-only at /var/run/secrets/sluice/gcp")
	}
	// Spread over zones when not pinned to one, and away from each other.
	pod := s.Spec.Template.Spec
	if !slices.ContainsFunc(pod.TopologySpreadConstraints, func(c corev1.TopologySpreadConstraint) bool { return c.TopologyKey == zoneKey }) {
		t.Errorf("no topology spread over %s: %+v", zoneKey, pod.TopologySpreadConstraints)
	}
	if pod.Affinity == nil || pod.Affinity.PodAntiAffinity == nil || pod.Affinity.NodeAffinity != nil {
		t.Errorf("want pod anti-affinity and no node affinity: %+v", pod.Affinity)
	}
	if _, ok := flag(c.Args, "zone"); ok {
		t.Errorf("--zone without a zone")
	}

	// An S3-compatible store: endpoint and path style reach the URL.
	vals := with(values(t, "spanner-s3.yaml"), "storage.endpoint", "http://minio.minio.svc:9000")
	vals = with(vals, "storage.usePathStyle", true)
	vals = with(vals, "storage.params", map[string]any{"timeout": "10s", "retries": 5})
	u := objectsURL(t, mustRender(t, vals).statefulSets[0])
	q := u.Query()
	if u.Scheme != "s3" || u.Host != "my-sluice-bucket" || q.Get("region") != "us-east-1" ||
		q.Get("endpoint") != "http://minio.minio.svc:9000" || q.Get("use_path_style") != "true" ||
		q.Get("prefix") != "cluster-a" || q.Get("timeout") != "10s" || q.Get("retries") != "5" {
		t.Errorf("--objects=%s", u)
	}
}

func TestExternalLoadBalancerSpannerGCS(t *testing.T) {
	m := mustRender(t, values(t, "spanner-gcs.yaml", "external-lb.yaml"))
	if len(m.statefulSets) != 1 {
		t.Fatalf("%d StatefulSets, want 1", len(m.statefulSets))
	}
	s := m.statefulSets[0]
	checkBroker(t, s)
	checkHeadless(t, m)
	checkStateless(t, s)
	c := broker(t, s)
	if got := mustFlag(t, s, "public-addr"); got != "kafka.example.com:9092" {
		t.Errorf("--public-addr=%s, want the load balancer's kafka.example.com:9092", got)
	}
	lbs := m.servicesOfType(corev1.ServiceTypeLoadBalancer)
	if len(lbs) != 1 {
		t.Fatalf("%d LoadBalancer services, want 1", len(lbs))
	}
	lb := lbs[0]
	if lb.Name != "sluice-external" || len(lb.Spec.Ports) != 1 || lb.Spec.Ports[0].Port != 9092 ||
		lb.Spec.Ports[0].TargetPort.String() != "kafka" || lb.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		t.Errorf("load balancer %s: %+v", lb.Name, lb.Spec)
	}
	if got, want := mustFlag(t, s, "objects"), "gs://my-sluice-bucket?prefix=cluster-a"; got != want {
		t.Errorf("--objects=%s, want %s", got, want)
	}
	// Workload identity: the annotation, no key file.
	if len(m.serviceAccounts) != 1 || m.serviceAccounts[0].Annotations["iam.gke.io/gcp-service-account"] == "" {
		t.Errorf("service account lacks the workload identity annotation: %+v", m.serviceAccounts)
	}
	if s.Spec.Template.Spec.ServiceAccountName != m.serviceAccounts[0].Name {
		t.Errorf("pods use service account %q", s.Spec.Template.Spec.ServiceAccountName)
	}
	if e := envVar(c, "GOOGLE_APPLICATION_CREDENTIALS"); e != nil {
		t.Errorf("GOOGLE_APPLICATION_CREDENTIALS set with workload identity: %+v", e)
	}
	if len(m.netpols) != 1 {
		t.Fatalf("%d NetworkPolicies, want 1", len(m.netpols))
	}
	if !strings.Contains(m.notes, "kafka.example.com:9092") {
		t.Errorf("NOTES lack the public address:\n%s", m.notes)
	}

	// The GCS key file from a Secret when there is no workload identity.
	vals := with(values(t, "spanner-gcs.yaml"), "storage.credentials.secretName", "gcs-key")
	c = broker(t, mustRender(t, vals).statefulSets[0])
	if e := envVar(c, "GOOGLE_APPLICATION_CREDENTIALS"); e == nil || e.Value != "/var/run/secrets/sluice/gcp/credentials.json" {
		t.Errorf("GOOGLE_APPLICATION_CREDENTIALS for the GCS key: %+v", e)
	}
}

func TestSpannerAzure(t *testing.T) {
	m := mustRender(t, values(t, "spanner-azure.yaml"))
	s := m.statefulSets[0]
	checkBroker(t, s)
	checkStateless(t, s)
	if got, want := mustFlag(t, s, "objects"), "azblob://sluice?prefix=cluster-a"; got != want {
		t.Errorf("--objects=%s, want %s", got, want)
	}
	c := broker(t, s)
	secretEnv(t, c, "AZURE_STORAGE_ACCOUNT", "sluice-azure")
	secretEnv(t, c, "AZURE_STORAGE_KEY", "sluice-azure")
	if envVar(c, "AWS_ACCESS_KEY_ID") != nil {
		t.Errorf("AWS credentials with storage.use=azure")
	}
}

var zones = []string{"us-east-1a", "us-east-1b", "us-east-1c"}

func zoneFile(z string) string { return filepath.Join("zonal", z+".yaml") }

// checkZone checks that a StatefulSet's pods are in zone z and say so.
func checkZone(t *testing.T, m *manifests, s *appsv1.StatefulSet, z string, nodeIDStart int32) {
	t.Helper()
	checkBroker(t, s)
	checkStateless(t, s)
	if s.Name != "sluice-"+z {
		t.Errorf("StatefulSet %s, want sluice-%s", s.Name, z)
	}
	if got := mustFlag(t, s, "zone"); got != z {
		t.Errorf("%s: --zone=%s, want %s", s.Name, got, z)
	}
	if got := mustFlag(t, s, "public-addr"); got != inClusterAddr(9092) {
		t.Errorf("%s: --public-addr=%s", s.Name, got)
	}
	pod := s.Spec.Template.Spec
	var pinned bool
	if a := pod.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			for _, e := range term.MatchExpressions {
				pinned = pinned || (e.Key == zoneKey && e.Operator == corev1.NodeSelectorOpIn && slices.Equal(e.Values, []string{z}))
			}
		}
	}
	if !pinned {
		t.Errorf("%s: not pinned to %s by a required node affinity on %s: %+v", s.Name, z, zoneKey, pod.Affinity)
	}
	if s.Spec.Template.Labels["sluice/zone"] != z || s.Spec.Selector.MatchLabels["sluice/zone"] != z {
		t.Errorf("%s: pods or selector lack sluice/zone=%s", s.Name, z)
	}
	if nodeIDStart == 0 && s.Spec.Ordinals != nil && s.Spec.Ordinals.Start != 0 ||
		nodeIDStart != 0 && (s.Spec.Ordinals == nil || s.Spec.Ordinals.Start != nodeIDStart) {
		t.Errorf("%s: ordinals %+v, want start %d", s.Name, s.Spec.Ordinals, nodeIDStart)
	}
	if s.Spec.Replicas == nil || *s.Spec.Replicas != 2 {
		t.Errorf("%s: replicas %v, want 2", s.Name, s.Spec.Replicas)
	}
	b := m.service("sluice-" + z)
	if b == nil || b.Spec.Selector["sluice/zone"] != z || b.Spec.ClusterIP == corev1.ClusterIPNone {
		t.Errorf("no ClusterIP bootstrap service for zone %s: %+v", z, b)
	}
	if !slices.ContainsFunc(m.pdbs, func(p *policyv1.PodDisruptionBudget) bool {
		return p.Name == s.Name && p.Spec.Selector.MatchLabels["sluice/zone"] == z
	}) {
		t.Errorf("no PodDisruptionBudget for zone %s", z)
	}
}

func TestZonalValuesFiles(t *testing.T) {
	for i, z := range zones {
		t.Run(z, func(t *testing.T) {
			m := mustRender(t, values(t, "spanner-s3.yaml", zoneFile(z)))
			if len(m.statefulSets) != 1 {
				t.Fatalf("%d StatefulSets, want 1", len(m.statefulSets))
			}
			checkHeadless(t, m)
			checkZone(t, m, m.statefulSets[0], z, int32(i*100))
		})
	}
	t.Run("all three", func(t *testing.T) {
		files := []string{"spanner-s3.yaml"}
		for _, z := range zones {
			files = append(files, zoneFile(z))
		}
		m := mustRender(t, values(t, files...))
		if len(m.statefulSets) != 3 || len(m.pdbs) != 3 {
			t.Fatalf("%d StatefulSets and %d PDBs, want 3 of each", len(m.statefulSets), len(m.pdbs))
		}
		checkHeadless(t, m)
		sort.Slice(m.statefulSets, func(i, j int) bool { return m.statefulSets[i].Name < m.statefulSets[j].Name })
		for i, z := range zones {
			checkZone(t, m, m.statefulSets[i], z, int32(i*100))
		}
		for _, z := range zones {
			if !strings.Contains(m.notes, z+": sluice-"+z+".streaming.svc.cluster.local:9092") {
				t.Errorf("NOTES lack the bootstrap address of %s:\n%s", z, m.notes)
			}
		}
	})
	t.Run("external per zone", func(t *testing.T) {
		vals := values(t, "spanner-s3.yaml", zoneFile(zones[0]), zoneFile(zones[1]), zoneFile(zones[2]))
		vals = with(vals, "service.loadBalancer.enabled", true)
		for _, z := range zones {
			vals = with(vals, "zonal.zones."+z+".publicAddress", map[string]any{"host": "kafka-" + z + ".example.com", "port": 9094})
		}
		m := mustRender(t, vals)
		lbs := m.servicesOfType(corev1.ServiceTypeLoadBalancer)
		if len(lbs) != 3 {
			t.Fatalf("%d load balancers, want one per zone", len(lbs))
		}
		for _, s := range m.statefulSets {
			z := mustFlag(t, s, "zone")
			if got, want := mustFlag(t, s, "public-addr"), "kafka-"+z+".example.com:9094"; got != want {
				t.Errorf("%s: --public-addr=%s, want %s", s.Name, got, want)
			}
			lb := m.service(s.Name + "-external")
			if lb == nil || lb.Spec.Type != corev1.ServiceTypeLoadBalancer || lb.Spec.Selector["sluice/zone"] != z || lb.Spec.Ports[0].Port != 9094 {
				t.Errorf("zone %s: load balancer %+v", z, lb)
			}
		}
	})
}

// A pinned single-zone release (zone set, not zonal mode).
func TestSingleZoneRelease(t *testing.T) {
	m := mustRender(t, with(values(t, "spanner-s3.yaml"), "zone", "europe-west1-b"))
	s := m.statefulSets[0]
	if got := mustFlag(t, s, "zone"); got != "europe-west1-b" {
		t.Errorf("--zone=%s", got)
	}
	na := s.Spec.Template.Spec.Affinity.NodeAffinity
	if na == nil || na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Values[0] != "europe-west1-b" {
		t.Errorf("not pinned to europe-west1-b: %+v", na)
	}
	if slices.ContainsFunc(s.Spec.Template.Spec.TopologySpreadConstraints, func(c corev1.TopologySpreadConstraint) bool { return c.TopologyKey == zoneKey }) {
		t.Errorf("spread over zones although pinned to one")
	}
}

// Everything optional on: each kind decodes strictly and is wired.
func TestAllOptionalResources(t *testing.T) {
	vals := values(t, "spanner-s3.yaml", "external-lb.yaml")
	for path, v := range map[string]any{
		"autoscaling.enabled":                           true,
		"serviceMonitor.enabled":                        true,
		"serviceMonitor.labels":                         map[string]any{"release": "prometheus"},
		"observability.metrics":                         "prometheus",
		"observability.traces":                          "otlp",
		"observability.otel.endpoint":                   "http://otel-collector.observability:4318",
		"observability.otel.protocol":                   "http/protobuf",
		"observability.otel.headersSecret.name":         "otel-headers",
		"observability.otel.env":                        map[string]any{"OTEL_METRIC_EXPORT_INTERVAL": 15000},
		"tls.enabled":                                   true,
		"tls.secretName":                                "sluice-tls",
		"networkPolicy.kafkaFrom":                       []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kafka-client": "true"}}}},
		"networkPolicy.adminFrom":                       []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"name": "monitoring"}}}},
		"networkPolicy.egress":                          []any{map[string]any{"to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "0.0.0.0/0"}}}}},
		"podDisruptionBudget.maxUnavailable":            nil,
		"podDisruptionBudget.minAvailable":              "50%",
		"podAntiAffinity":                               "hard",
		"priorityClassName":                             "high",
		"service.loadBalancer.loadBalancerSourceRanges": []any{"203.0.113.0/24"},
		"broker.extraArgs":                              []any{"--linger=5ms"},
		"extraEnv":                                      []any{map[string]any{"name": "GODEBUG", "value": "madvdontneed=1"}},
	} {
		vals = with(vals, path, v)
	}
	m := mustRender(t, vals)
	s := m.statefulSets[0]
	checkBroker(t, s)
	c := broker(t, s)
	if s.Spec.Replicas != nil {
		t.Errorf("replicas %d set although the HPA owns them", *s.Spec.Replicas)
	}
	if len(m.hpas) != 1 || m.hpas[0].Spec.ScaleTargetRef.Name != s.Name || m.hpas[0].Spec.MaxReplicas != 10 {
		t.Errorf("HPA: %+v", m.hpas)
	}
	if len(m.serviceMonitors) != 1 {
		t.Fatalf("%d ServiceMonitors", len(m.serviceMonitors))
	}
	if ep := m.serviceMonitors[0].Spec.Endpoints[0]; ep.Port != "admin" || ep.Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoint %+v", ep)
	}
	if got := mustFlag(t, s, "metrics"); got != "prometheus" {
		t.Errorf("--metrics=%s", got)
	}
	if got := mustFlag(t, s, "traces"); got != "otlp" {
		t.Errorf("--traces=%s", got)
	}
	for name, want := range map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability:4318",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_SERVICE_NAME":           "sluice",
		"OTEL_METRIC_EXPORT_INTERVAL": "15000",
		"OTEL_RESOURCE_ATTRIBUTES":    "k8s.namespace.name=$(POD_NAMESPACE),k8s.pod.name=$(POD_NAME)",
	} {
		if e := envVar(c, name); e == nil || e.Value != want {
			t.Errorf("%s: %+v, want %q", name, e, want)
		}
	}
	if e := envVar(c, "OTEL_EXPORTER_OTLP_HEADERS"); e == nil || e.ValueFrom.SecretKeyRef.Name != "otel-headers" {
		t.Errorf("OTEL_EXPORTER_OTLP_HEADERS: %+v", e)
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool {
		return vm.Name == "tls" && vm.MountPath == "/etc/sluice/tls" && vm.ReadOnly
	}) || !slices.ContainsFunc(s.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool {
		return v.Name == "tls" && v.Secret != nil && v.Secret.SecretName == "sluice-tls"
	}) {
		t.Errorf("TLS Secret not mounted at /etc/sluice/tls")
	}
	if !strings.Contains(m.notes, "does not serve TLS yet") {
		t.Errorf("NOTES do not warn that TLS is not served:\n%s", m.notes)
	}
	if len(m.pdbs) != 1 || m.pdbs[0].Spec.MinAvailable == nil || m.pdbs[0].Spec.MinAvailable.String() != "50%" || m.pdbs[0].Spec.MaxUnavailable != nil {
		t.Errorf("PDB: %+v", m.pdbs[0].Spec)
	}
	// Restricting the admin port or egress keeps broker-to-broker admin
	// traffic open.
	if np := m.netpols[0]; len(np.Spec.PolicyTypes) != 2 || len(np.Spec.Ingress[0].From) != 1 ||
		len(np.Spec.Ingress[1].From) != 2 || np.Spec.Ingress[1].From[0].PodSelector == nil ||
		len(np.Spec.Egress) != 2 || np.Spec.Egress[0].To[0].PodSelector == nil {
		t.Errorf("NetworkPolicy: %+v", np.Spec)
	}
	if a := s.Spec.Template.Spec.Affinity.PodAntiAffinity; a == nil || len(a.RequiredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Errorf("hard anti-affinity: %+v", a)
	}
	if got := c.Args[len(c.Args)-1]; got != "--linger=5ms" {
		t.Errorf("last arg %q, want the extra arg", got)
	}
}

// Inconsistent values fail at render time, naming the value.
func TestBadValues(t *testing.T) {
	s3 := values(t, "spanner-s3.yaml")
	for _, tc := range []struct {
		name string
		vals map[string]any
		want string
	}{
		{"s3 without bucket", with(s3, "storage.bucket", ""), "storage.bucket is required when storage.use=s3"},
		{"gcs without bucket", with(values(t, "spanner-gcs.yaml"), "storage.bucket", ""), "storage.bucket is required when storage.use=gcs"},
		{"public address without port", with(map[string]any{}, "kafka.publicAddress.host", "kafka.example.com"), "kafka.publicAddress.port is required"},
		{"public port without host", with(map[string]any{}, "kafka.publicAddress.port", 9092), "kafka.publicAddress.host is required"},
		{"public host with a port", with(with(map[string]any{}, "kafka.publicAddress.host", "kafka.example.com:9092"), "kafka.publicAddress.port", 9092), "kafka.publicAddress.host \"kafka.example.com:9092\" must be a host name"},
		{"public port out of range", with(with(map[string]any{}, "kafka.publicAddress.host", "kafka.example.com"), "kafka.publicAddress.port", 70000), "/kafka/publicAddress/port"},
		{"zone port without host", with(values(t, "spanner-s3.yaml", zoneFile("us-east-1a")), "zonal.zones.us-east-1a.publicAddress.port", 9092), "zonal.zones.us-east-1a.publicAddress.host is required"},
		{"zonal mode without zones", with(s3, "zonal.enabled", true), "zonal.zones is empty"},
		{"zonal mode with embedded metadata", with(map[string]any{}, "zonal", map[string]any{"enabled": true, "zones": map[string]any{"us-east-1a": map[string]any{}}}), "zonal.enabled needs stateless brokers"},
		{"zonal mode and zone", with(values(t, "spanner-s3.yaml", zoneFile("us-east-1a")), "zone", "us-east-1a"), "zone=\"us-east-1a\" is for a single-zone release"},
		{"bad zone name", with(values(t, "spanner-s3.yaml"), "zonal", map[string]any{"enabled": true, "zones": map[string]any{"US East": map[string]any{}}}), "'US East' does not match pattern"},
		{"embedded with 3 replicas", with(map[string]any{}, "replicaCount", 3), "replicaCount=3: metadata.use=embedded"},
		{"file storage with 3 replicas", with(with(s3, "storage", map[string]any{"use": "file", "bucket": "", "region": "", "credentials": map[string]any{"secretName": ""}}), "replicaCount", 3), "replicaCount=3: metadata.use=spanner with storage.use=file"},
		{"spanner without database", with(s3, "metadata.spanner.database", ""), "metadata.spanner.database is required"},
		{"spanner database not a path", with(s3, "metadata.spanner.database", "spanner://projects/p/instances/i/databases/d"), "metadata.spanner.database \"spanner://"},
		{"region for gcs", with(values(t, "spanner-gcs.yaml"), "storage.region", "us-east-1"), "storage.region, storage.endpoint and storage.usePathStyle are for storage.use=s3"},
		{"unknown storage", with(s3, "storage.use", "minio"), "/storage/use"},
		{"misspelt value", with(s3, "storage.buckett", "x"), "buckett"},
		{"load balancer without public address", with(s3, "service.loadBalancer.enabled", true), "kafka.publicAddress.host and .port are required with service.loadBalancer.enabled"},
		{"zonal load balancer without public address", with(values(t, "spanner-s3.yaml", zoneFile("us-east-1b")), "service.loadBalancer.enabled", true), "zonal.zones.us-east-1b.publicAddress (or kafka.publicAddress) is required"},
		{"autoscaling with embedded", with(map[string]any{}, "autoscaling.enabled", true), "autoscaling.enabled needs stateless brokers"},
		{"grace period too short", with(s3, "terminationGracePeriodSeconds", 30), "terminationGracePeriodSeconds=30 must exceed"},
		{"service monitor without prometheus", with(s3, "serviceMonitor.enabled", true), "serviceMonitor.enabled needs observability.metrics=prometheus"},
		{"tls without secret", with(s3, "tls.enabled", true), "tls.secretName is required"},
		{"two google key files", with(with(values(t, "spanner-gcs.yaml"), "storage.credentials.secretName", "a"), "metadata.spanner.credentials.secretName", "b"), "storage.credentials and metadata.spanner.credentials must name the same Secret"},
		{"pdb with both", with(s3, "podDisruptionBudget.minAvailable", 1), "podDisruptionBudget: set maxUnavailable or minAvailable, not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.vals)
			if err == nil {
				t.Fatalf("rendered; want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\ndoes not contain %q", err, tc.want)
			}
		})
	}
}

// The example values files all render (the scenarios above cover them,
// this catches a new file nobody tested).
func TestEveryExampleRenders(t *testing.T) {
	var files []string
	err := filepath.WalkDir(examplesDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".yaml") {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) < 8 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		rel, _ := filepath.Rel(examplesDir, f)
		t.Run(rel, func(t *testing.T) {
			base := []string{}
			switch {
			case strings.HasPrefix(rel, "zonal"+string(filepath.Separator)):
				base = []string{"spanner-s3.yaml"}
			case rel == "external-lb.yaml":
				base = []string{"spanner-gcs.yaml"}
			}
			mustRender(t, values(t, append(base, rel)...))
		})
	}
}
