{{/* The chart's name. */}}
{{- define "keystore-watch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name: the release name alone when it already contains the chart name. */}}
{{- define "keystore-watch.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "keystore-watch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "keystore-watch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "keystore-watch.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "keystore-watch.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: keystore-watch
{{- end -}}

{{- define "keystore-watch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "keystore-watch.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The container port: listen in the config is set to it. */}}
{{- define "keystore-watch.port" -}}9464{{- end -}}

{{/* The configuration the chart renders (config.inline with the keys the chart owns). */}}
{{- define "keystore-watch.config" -}}
{{- $cfg := deepCopy (.Values.config.inline | default dict) -}}
{{- $_ := set $cfg "listen" (printf "0.0.0.0:%s" (include "keystore-watch.port" .)) -}}
{{- if .Values.ha.enabled -}}
{{- $_ := unset $cfg "stateDir" -}}
{{- $state := dict "backend" "postgres" "url" "${DATABASE_URL}" "schema" .Values.ha.postgres.schema "leaseDuration" .Values.ha.leaseDuration "renewInterval" .Values.ha.renewInterval "peers" (list (printf "dns+http://%s:%s" (include "keystore-watch.suffixed" (list . "peers")) (include "keystore-watch.port" .))) -}}
{{- $_ := set $cfg "state" (merge $state (get $cfg "state" | default dict)) -}}
{{- $_ := set (get $cfg "state") "backend" "postgres" -}}
{{- else -}}
{{- $_ := set $cfg "stateDir" "/var/lib/keystore-watch" -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{- define "keystore-watch.usesOwnConfig" -}}
{{- if and (not .Values.config.existingConfigMap) (not .Values.config.existingSecret) -}}true{{- end -}}
{{- end -}}

{{/* The full name with a suffix, cut so the whole stays a 63-character DNS label. */}}
{{- define "keystore-watch.suffixed" -}}
{{- $root := index . 0 -}}{{- $suffix := index . 1 -}}
{{- printf "%s-%s" (include "keystore-watch.fullname" $root | trunc (int (sub 62 (len $suffix))) | trimSuffix "-") $suffix -}}
{{- end -}}
