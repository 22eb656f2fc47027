{{/*
Checks across values that values.schema.json cannot express. Each message
starts with the value to change. Included by statefulset.yaml, so a bad
combination fails `helm install`, `helm upgrade` and `helm template`.
*/}}
{{- define "sluice.validate" -}}
{{- $v := .Values }}
{{- $stateful := eq (include "sluice.stateful" .) "true" }}

{{- /* Public address. */}}
{{- $pa := $v.kafka.publicAddress }}
{{- if and $pa.host (not $pa.port) }}
{{- fail (printf "kafka.publicAddress.port is required when kafka.publicAddress.host is set (%q): the brokers advertise host:port" $pa.host) }}
{{- end }}
{{- if and $pa.port (not $pa.host) }}
{{- fail "kafka.publicAddress.host is required when kafka.publicAddress.port is set (leave both empty for in-cluster names)" }}
{{- end }}
{{- if and $pa.host (contains ":" $pa.host) }}
{{- fail (printf "kafka.publicAddress.host %q must be a host name or IP without a port; put the port in kafka.publicAddress.port" $pa.host) }}
{{- end }}

{{- /* Metadata and storage. */}}
{{- if and (eq $v.metadata.use "spanner") (not $v.metadata.spanner.database) }}
{{- fail "metadata.spanner.database is required when metadata.use=spanner (projects/P/instances/I/databases/D)" }}
{{- end }}
{{- if and (eq $v.metadata.use "spanner") (not (regexMatch "^projects/[^/?]+/instances/[^/?]+/databases/[^/?]+$" $v.metadata.spanner.database)) }}
{{- fail (printf "metadata.spanner.database %q: want projects/P/instances/I/databases/D" $v.metadata.spanner.database) }}
{{- end }}
{{- if and (ne $v.storage.use "file") (not $v.storage.bucket) }}
{{- fail (printf "storage.bucket is required when storage.use=%s (the %s)" $v.storage.use (ternary "container" "bucket" (eq $v.storage.use "azure"))) }}
{{- end }}
{{- if and (ne $v.storage.use "s3") (or $v.storage.region $v.storage.endpoint $v.storage.usePathStyle) }}
{{- fail (printf "storage.region, storage.endpoint and storage.usePathStyle are for storage.use=s3, not %s (use storage.params for other URL parameters)" $v.storage.use) }}
{{- end }}
{{- $mc := $v.metadata.spanner.credentials }}
{{- $sc := $v.storage.credentials }}
{{- if and (eq $v.metadata.use "spanner") (eq $v.storage.use "gcs") $mc.secretName $sc.secretName (or (ne $mc.secretName $sc.secretName) (ne $mc.key $sc.key)) }}
{{- fail "storage.credentials and metadata.spanner.credentials must name the same Secret and key with storage.use=gcs: GOOGLE_APPLICATION_CREDENTIALS names one key file" }}
{{- end }}

{{- /* How many brokers. */}}
{{- if and $stateful (gt (int $v.replicaCount) 1) }}
{{- fail (printf "replicaCount=%d: metadata.use=%s with storage.use=%s keeps state on one pod's volume, so it runs one broker; set replicaCount: 1, or use metadata.use=spanner with storage.use=s3, gcs or azure" (int $v.replicaCount) $v.metadata.use $v.storage.use) }}
{{- end }}
{{- if and $stateful $v.autoscaling.enabled }}
{{- fail (printf "autoscaling.enabled needs stateless brokers: metadata.use=spanner with storage.use=s3, gcs or azure (not %s and %s)" $v.metadata.use $v.storage.use) }}
{{- end }}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}

{{- /* Zones. */}}
{{- if $v.zonal.enabled }}
{{- if not $v.zonal.zones }}
{{- fail "zonal.zones is empty: zonal mode (zonal.enabled=true) needs at least one zone, e.g. zonal.zones.us-east-1a: {} (one values file per zone, see examples/zonal)" }}
{{- end }}
{{- if $stateful }}
{{- fail (printf "zonal.enabled needs stateless brokers shared across zones: metadata.use=spanner with storage.use=s3, gcs or azure (not %s and %s)" $v.metadata.use $v.storage.use) }}
{{- end }}
{{- if $v.zone }}
{{- fail (printf "zone=%q is for a single-zone release; in zonal mode name the zones under zonal.zones" $v.zone) }}
{{- end }}
{{- range $zone, $z := $v.zonal.zones }}
{{- $zpa := ($z | default dict).publicAddress | default dict }}
{{- if and $zpa.host (not $zpa.port) }}
{{- fail (printf "zonal.zones.%s.publicAddress.port is required when zonal.zones.%s.publicAddress.host is set" $zone $zone) }}
{{- end }}
{{- if and $zpa.port (not $zpa.host) }}
{{- fail (printf "zonal.zones.%s.publicAddress.host is required when zonal.zones.%s.publicAddress.port is set" $zone $zone) }}
{{- end }}
{{- if and $zpa.host (contains ":" $zpa.host) }}
{{- fail (printf "zonal.zones.%s.publicAddress.host %q must be a host name or IP without a port" $zone $zpa.host) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $g := (include "sluice.groups" . | fromJson).groups }}
{{- if gt (len $g.name) 52 }}
{{- fail (printf "the StatefulSet name %q is longer than 52 characters: shorten the release name, fullnameOverride or the zone name" $g.name) }}
{{- end }}
{{- if and $v.service.loadBalancer.enabled (not $g.publicHost) }}
{{- if $v.zonal.enabled }}
{{- fail (printf "zonal.zones.%s.publicAddress (or kafka.publicAddress) is required with service.loadBalancer.enabled: the brokers must advertise the load balancer's host and port" $g.zone) }}
{{- else }}
{{- fail "kafka.publicAddress.host and .port are required with service.loadBalancer.enabled: the brokers must advertise the load balancer's host and port (a DNS name or a reserved static IP)" }}
{{- end }}
{{- end }}
{{- end }}

{{- /* Shutdown. */}}
{{- $drain := add (int $v.broker.shutdownTimeoutSeconds) (int $v.preStopSleepSeconds) }}
{{- if le (int $v.terminationGracePeriodSeconds) (int $drain) }}
{{- fail (printf "terminationGracePeriodSeconds=%d must exceed preStopSleepSeconds + broker.shutdownTimeoutSeconds (%d), or produces in flight are cut off" (int $v.terminationGracePeriodSeconds) (int $drain)) }}
{{- end }}

{{- /* Telemetry and TLS. */}}
{{- if and $v.serviceMonitor.enabled (ne $v.observability.metrics "prometheus") }}
{{- fail (printf "serviceMonitor.enabled needs observability.metrics=prometheus (it is %q)" $v.observability.metrics) }}
{{- end }}
{{- if and $v.tls.enabled (not $v.tls.secretName) }}
{{- fail "tls.secretName is required when tls.enabled (a kubernetes.io/tls Secret)" }}
{{- end }}
{{- if and $v.podDisruptionBudget.enabled (not (kindIs "invalid" $v.podDisruptionBudget.maxUnavailable)) (not (kindIs "invalid" $v.podDisruptionBudget.minAvailable)) }}
{{- fail "podDisruptionBudget: set maxUnavailable or minAvailable, not both" }}
{{- end }}
{{- end }}
