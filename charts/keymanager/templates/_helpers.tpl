{{/*
keymanager.name is the chart name, or nameOverride: the app.kubernetes.io/name label.
*/}}
{{- define "keymanager.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
keymanager.fullname prefixes every object: the release name when it already holds the chart name (release
"keymanager" gives keymanager-operator, the names config/ uses), else <release>-<chart>. Object names append
"-operator" and friends, so the prefix leaves room for them within 63 characters.
*/}}
{{- define "keymanager.fullname" -}}
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

{{/*
keymanager.operatorName names the operator's Deployment, ClusterRole, bindings and ServiceAccount.
*/}}
{{- define "keymanager.operatorName" -}}
{{- printf "%s-operator" (include "keymanager.fullname" .) }}
{{- end }}

{{/*
keymanager.serviceAccountName is the ServiceAccount the operator runs as.
*/}}
{{- define "keymanager.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "keymanager.operatorName" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
keymanager.selectorLabels select the operator pods; they never change between releases (a Deployment's
selector is immutable).
*/}}
{{- define "keymanager.selectorLabels" -}}
app.kubernetes.io/name: {{ include "keymanager.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/*
keymanager.labels go on every object of the release.
*/}}
{{- define "keymanager.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "keymanager.selectorLabels" . }}
app.kubernetes.io/version: {{ include "keymanager.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/part-of: keymanager
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
keymanager.imageTag is image.tag, or the chart's appVersion.
*/}}
{{- define "keymanager.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{/*
keymanager.image is the operator's image reference.
*/}}
{{- define "keymanager.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "keymanager.imageTag" .) }}
{{- end }}

{{/*
keymanager.leaderElectionNamespace is where the Lease, and so the leader-election Role, live.
*/}}
{{- define "keymanager.leaderElectionNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace }}
{{- end }}

{{/*
keymanager.serviceMonitorAPI is true when the cluster (or helm template --api-versions) serves the Prometheus
Operator's ServiceMonitor.
*/}}
{{- define "keymanager.serviceMonitorAPI" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor" }}true{{- end }}
{{- end }}
