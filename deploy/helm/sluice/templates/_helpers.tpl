{{/*
Names. The full name is cut to 40 characters so that "<fullname>-<zone>"
stays within the 52 a StatefulSet name may have.
*/}}
{{- define "sluice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sluice.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The headless service that gives each pod its DNS name. */}}
{{- define "sluice.headlessName" -}}
{{- printf "%s-headless" (include "sluice.fullname" .) }}
{{- end }}

{{- define "sluice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sluice.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sluice.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{- define "sluice.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "sluice.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The selector of one group of brokers (one StatefulSet): in zonal mode the
zone label keeps the StatefulSets' selectors apart.
Call with (dict "root" $ "group" $g).
*/}}
{{- define "sluice.groupSelectorLabels" -}}
{{ include "sluice.selectorLabels" .root }}
{{- if .root.Values.zonal.enabled }}
sluice/zone: {{ .group.zone }}
{{- end }}
{{- end }}

{{/* Brokers keep local state (embedded metadata or file objects). */}}
{{- define "sluice.stateful" -}}
{{- or (eq .Values.metadata.use "embedded") (eq .Values.storage.use "file") }}
{{- end }}

{{/*
The groups of brokers, as JSON {"groups": [...]}: one per zone in zonal
mode, else one. Each has name, zone, replicas, ordinalStart (the first
--node-id), publicHost and publicPort (empty: in-cluster names).
*/}}
{{- define "sluice.groups" -}}
{{- $full := include "sluice.fullname" . }}
{{- $groups := list }}
{{- if .Values.zonal.enabled }}
{{- range $i, $zone := keys (.Values.zonal.zones | default dict) | sortAlpha }}
{{- $z := get $.Values.zonal.zones $zone | default dict }}
{{- $pa := $z.publicAddress | default dict }}
{{- $host := $pa.host | default $.Values.kafka.publicAddress.host | default "" }}
{{- $port := $.Values.kafka.publicAddress.port }}
{{- if $pa.host }}{{ $port = $pa.port }}{{ end }}
{{- $replicas := $.Values.replicaCount }}
{{- if hasKey $z "replicas" }}{{ $replicas = $z.replicas }}{{ end }}
{{- $start := mul $i 100 }}
{{- if hasKey $z "nodeIdStart" }}{{ $start = $z.nodeIdStart }}{{ end }}
{{- $groups = append $groups (dict "name" (printf "%s-%s" $full $zone) "zone" $zone "replicas" (int $replicas) "ordinalStart" (int $start) "publicHost" $host "publicPort" (int ($port | default 0))) }}
{{- end }}
{{- else }}
{{- $groups = append $groups (dict "name" $full "zone" (.Values.zone | default "") "replicas" (int .Values.replicaCount) "ordinalStart" 0 "publicHost" (.Values.kafka.publicAddress.host | default "") "publicPort" (int (.Values.kafka.publicAddress.port | default 0))) }}
{{- end }}
{{- dict "groups" $groups | toJson }}
{{- end }}

{{/* The --objects URL; empty for storage.use=file (the default under --data-dir). */}}
{{- define "sluice.objectsURL" -}}
{{- $s := .Values.storage }}
{{- if ne $s.use "file" }}
{{- $params := list }}
{{- if eq $s.use "s3" }}
{{- with $s.region }}{{ $params = append $params (printf "region=%s" (urlquery .)) }}{{ end }}
{{- with $s.endpoint }}{{ $params = append $params (printf "endpoint=%s" (urlquery .)) }}{{ end }}
{{- if $s.usePathStyle }}{{ $params = append $params "use_path_style=true" }}{{ end }}
{{- end }}
{{- with $s.prefix }}{{ $params = append $params (printf "prefix=%s" (urlquery .)) }}{{ end }}
{{- range $k := keys ($s.params | default dict) | sortAlpha }}
{{- $params = append $params (printf "%s=%s" (urlquery $k) (urlquery (toString (get $s.params $k)))) }}
{{- end }}
{{- $scheme := get (dict "s3" "s3" "gcs" "gs" "azure" "azblob") $s.use }}
{{- printf "%s://%s" $scheme $s.bucket }}
{{- if $params }}?{{ join "&" $params }}{{ end }}
{{- end }}
{{- end }}

{{/* Where GOOGLE_APPLICATION_CREDENTIALS comes from: dict with secretName and key, or empty. */}}
{{- define "sluice.googleCredentials" -}}
{{- $c := dict }}
{{- if and (eq .Values.metadata.use "spanner") .Values.metadata.spanner.credentials.secretName }}
{{- $c = .Values.metadata.spanner.credentials }}
{{- else if and (eq .Values.storage.use "gcs") .Values.storage.credentials.secretName }}
{{- $c = .Values.storage.credentials }}
{{- end }}
{{- toJson $c }}
{{- end }}
