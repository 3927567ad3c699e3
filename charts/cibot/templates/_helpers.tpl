{{/* Names and labels, as `helm create` makes them. */}}
{{- define "cibot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cibot.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "cibot.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "cibot.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "cibot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cibot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cibot.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "cibot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "cibot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cibot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name: the existing ServiceAccount to run as (serviceAccount.create is false)" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "cibot.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
What ci-bot does in each project namespace, and nothing more: exactly the permissions
`cibot check` verifies (NEEDED in src/cibot/entrypoints/check.py; a test keeps the two equal).
*/}}
{{- define "cibot.rules" -}}
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "create", "patch", "delete", "watch"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "create", "patch", "delete"]
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses"]
  verbs: ["get", "create", "patch", "delete"]
- apiGroups: ["getambassador.io"]
  resources: ["mappings"]
  verbs: ["get", "create", "patch", "delete"]
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["httproutes"]
  verbs: ["get", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["pods", "events"]
  verbs: ["list"]
{{- end }}

{{/* The project namespaces named in the config (a project's namespace defaults to its id). */}}
{{- define "cibot.projectNamespaces" -}}
{{- $namespaces := list }}
{{- range .Values.config.projects }}
{{- $namespaces = append $namespaces (.namespace | default .id) }}
{{- end }}
{{- $namespaces | uniq | sortAlpha | toJson }}
{{- end }}

{{/*
Secrets never come from values. The chart sets the Slack tokens and signing secret and the
webhook secret from the Secret itself (and slack.mode from the value of that name); further secret keys may only refer to the environment
(${NAME}, a key of the Secret).
*/}}
{{- define "cibot.refuseSecretsInValues" -}}
{{- $config := .Values.config }}
{{- $ref := "^\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}$" }}
{{- $found := list }}
{{- range $key := list "bot_token" "signing_secret" "app_token" }}
{{- if hasKey ($config.slack | default dict) $key }}{{ $found = append $found (printf "config.slack.%s" $key) }}{{ end }}
{{- end }}
{{- $webhooks := $config.webhooks | default dict }}
{{- if hasKey $webhooks "secret" }}{{ $found = append $found "config.webhooks.secret" }}{{ end }}
{{- range $webhooks.previous_secrets }}
{{- if not (regexMatch $ref (toString .)) }}{{ $found = append $found "config.webhooks.previous_secrets" }}{{ end }}
{{- end }}
{{- range $i, $project := $config.projects }}
{{- if and (hasKey $project "webhook_secret") (not (regexMatch $ref (toString $project.webhook_secret))) }}
{{- $found = append $found (printf "config.projects[%d].webhook_secret" $i) }}
{{- end }}
{{- range $project.previous_webhook_secrets }}
{{- if not (regexMatch $ref (toString .)) }}{{ $found = append $found (printf "config.projects[%d].previous_webhook_secrets" $i) }}{{ end }}
{{- end }}
{{- end }}
{{- if hasKey ($config.slack | default dict) "mode" }}{{ $found = append $found "config.slack.mode (set slack.mode)" }}{{ end }}
{{- if hasKey $config "database" }}{{ $found = append $found "config.database (set database.kind; a PostgreSQL URL goes in the Secret)" }}{{ end }}
{{- if hasKey $config "kubernetes" }}{{ $found = append $found "config.kubernetes (ci-bot uses the chart's ServiceAccount)" }}{{ end }}
{{- if $found }}
{{- fail (printf "not in values: %s. Secrets go in the Secret named by existingSecret; the config refers to its keys as ${NAME}" (join ", " ($found | uniq))) }}
{{- end }}
{{- end }}

{{/* cibot.yaml: the user's config, with what the chart manages laid over it. */}}
{{- define "cibot.config" -}}
{{- include "cibot.refuseSecretsInValues" . }}
{{- $url := "sqlite:////var/lib/cibot/cibot.db" }}
{{- if eq .Values.database.kind "postgresql" }}
{{- $url = printf "${%s}" .Values.database.urlSecretKey }}
{{- end }}
{{- $slack := dict "mode" "http" "bot_token" "${SLACK_BOT_TOKEN}" "signing_secret" "${SLACK_SIGNING_SECRET}" }}
{{- if eq (include "cibot.slackMode" .) "socket" }}
{{- $slack = dict "mode" "socket" "bot_token" "${SLACK_BOT_TOKEN}" "app_token" "${SLACK_APP_TOKEN}" }}
{{- end }}
{{- $managed := dict
    "server" (dict "host" "0.0.0.0" "port" (int .Values.containerPort))
    "database" (dict "url" $url)
    "kubernetes" (dict "kubeconfig" nil "context" nil)
    "slack" $slack
    "webhooks" (dict "secret" "${CIBOT_WEBHOOK_SECRET}") }}
{{- $config := mustMergeOverwrite (deepCopy .Values.config) $managed }}
{{- toYaml $config }}
{{- end }}

{{/* http or socket: how Slack reaches ci-bot (values: slack.mode). */}}
{{- define "cibot.slackMode" -}}
{{- (.Values.slack | default dict).mode | default "http" }}
{{- end }}

{{/* Fail early on what cannot work. */}}
{{- define "cibot.validate" -}}
{{- if not (has .Values.database.kind (list "sqlite" "postgresql")) }}
{{- fail (printf "database.kind: %q is neither sqlite nor postgresql" .Values.database.kind) }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (eq .Values.database.kind "sqlite") }}
{{- fail (printf "replicaCount: %d replicas need database.kind postgresql; SQLite is one process's database" (int .Values.replicaCount)) }}
{{- end }}
{{- if not .Values.existingSecret }}
{{- fail "existingSecret: the name of the Secret holding SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET (slack.mode socket: SLACK_APP_TOKEN) and CIBOT_WEBHOOK_SECRET is required" }}
{{- end }}
{{- end }}

{{/* What both containers share: the config, the Secret's keys as environment, the mounts,
a restricted security context (read-only root, no privileges, no capabilities). */}}
{{- define "cibot.containerCommon" -}}
env:
  - name: CIBOT_CONFIG
    value: /etc/cibot/cibot.yaml
envFrom:
  - secretRef:
      name: {{ .Values.existingSecret }}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  runAsNonRoot: true
  capabilities:
    drop: ["ALL"]
volumeMounts:
  - name: config
    mountPath: /etc/cibot
    readOnly: true
  - name: tmp
    mountPath: /tmp
  {{- if eq .Values.database.kind "sqlite" }}
  - name: data
    mountPath: /var/lib/cibot
  {{- end }}
{{- end }}
