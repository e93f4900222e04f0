{{- define "berth.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "berth.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "berth.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "berth.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "berth.selectorLabels" -}}
app.kubernetes.io/name: {{ include "berth.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "berth.labels" -}}
{{ include "berth.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: berth
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "berth.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "berth.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "berth.secretKeySecret" -}}
{{- default (printf "%s-secret-key" (include "berth.fullname" .)) .Values.secretKey.existingSecret -}}
{{- end -}}

{{- define "berth.adminSecret" -}}
{{- default (printf "%s-admin" (include "berth.fullname" .)) .Values.admin.existingSecret -}}
{{- end -}}

{{/* The chart refuses what cannot work, before anything is created. */}}
{{- define "berth.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.database.existingSecret) -}}
{{- fail (printf "replicaCount is %d, but more than one replica needs PostgreSQL: set database.existingSecret to a Secret holding the database URL (SQLite serves one replica only)" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and .Values.ingress.enabled .Values.ingress.tls.enabled (not .Values.ingress.tls.secretName) -}}
{{- fail "ingress.tls.enabled needs ingress.tls.secretName: the TLS Secret for ingress.host" -}}
{{- end -}}
{{- end -}}

{{- define "berth.namespaces" -}}
{{- .Values.kubernetes.namespaces | default list | toJson -}}
{{- end -}}
