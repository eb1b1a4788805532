{{/* The chart's name, or nameOverride. */}}
{{- define "elr.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The objects' name: the release's, with the chart's unless it holds it already. */}}
{{- define "elr.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "elr.selectorLabels" -}}
app.kubernetes.io/name: {{ include "elr.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "elr.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "elr.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The Secret holding the admin key: the user's, or the chart's. */}}
{{- define "elr.adminSecret" -}}
{{- default (printf "%s-admin" (include "elr.fullname" .)) .Values.adminKey.existingSecret }}
{{- end }}

{{/* Whether the replicas share a store: Redis and Postgres both given. */}}
{{- define "elr.shared" -}}
{{- if and .Values.redis.existingSecret .Values.postgres.existingSecret }}true{{ end }}
{{- end }}

{{/*
  Refuses what would split the gateways' state: more than one replica (or an autoscaler) needs Redis for the limits
  and Postgres for keys, spend and the request log; a replica on its own SQLite file would make keys the others never
  see and count budgets apart.
*/}}
{{- define "elr.checkScaleOut" -}}
{{- $several := or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled }}
{{- if and $several (not (include "elr.shared" .)) }}
{{- $missing := list }}
{{- if not .Values.redis.existingSecret }}{{ $missing = append $missing "redis.existingSecret" }}{{ end }}
{{- if not .Values.postgres.existingSecret }}{{ $missing = append $missing "postgres.existingSecret" }}{{ end }}
{{- fail (printf "effect-llm-router: more than one replica (replicaCount %d%s) needs a shared Redis and Postgres, and %s %s not set. Each replica would otherwise keep its own SQLite file and its own limits: a key made on one would be unknown to the others, and every budget and rate limit counted apart on each. Give both (docs/deploy.md), or run one replica." (int .Values.replicaCount) (ternary ", autoscaling enabled" "" .Values.autoscaling.enabled) (join " and " $missing) (ternary "is" "are" (eq (len $missing) 1))) }}
{{- end }}
{{- end }}

{{/* provider.json: the user's configuration, with the chart's store and admin key. */}}
{{- define "elr.providerJson" -}}
{{- $config := deepCopy .Values.config }}
{{- $gateway := default dict (get $config "gateway") }}
{{- $admin := dict "name" .Values.adminKey.name "key" "env:EFFECT_LLM_ROUTER_ADMIN_KEY" }}
{{- $_ := set $gateway "admin_keys" (prepend (default list (get $gateway "admin_keys")) $admin) }}
{{- $_ := set $config "gateway" $gateway }}
{{- if include "elr.shared" . }}
{{- $store := default dict (get $config "store") }}
{{- $_ := set $store "redis" "env:REDIS_URL" }}
{{- $_ := set $store "sql" "env:DATABASE_URL" }}
{{- if not (hasKey $store "instances") }}
{{- $_ := set $store "instances" (ternary .Values.autoscaling.maxReplicas .Values.replicaCount .Values.autoscaling.enabled) }}
{{- end }}
{{- $_ := set $config "store" $store }}
{{- end }}
{{- toPrettyJson $config }}
{{- end }}

{{/* The SQLite volume's claim: one replica without Postgres keeps its database on it. */}}
{{- define "elr.claim" -}}
{{- if and .Values.persistence.enabled (not .Values.postgres.existingSecret) }}
{{- default (include "elr.fullname" .) .Values.persistence.existingClaim }}
{{- end }}
{{- end }}
