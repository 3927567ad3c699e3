#!/bin/sh
# Tell ci-bot that an image was built: a signed POST /build-complete, with curl and openssl.
#
# The signature is the Standard Webhooks one ci-bot checks: base64 HMAC-SHA256 of
# "<webhook-id>.<timestamp>.<body>", keyed with the secret (a whsec_ secret is base64 after
# the prefix, any other is used as it is). One webhook id for all of curl's retries, so
# ci-bot records the build once.
#
# Environment:
#   CIBOT_URL             ci-bot's base URL (https://cibot.example.com)
#   CIBOT_WEBHOOK_SECRET  the project's signing secret
#   CIBOT_PROJECT CIBOT_IMAGE CIBOT_TYPE (branch|tag) CIBOT_TARGET (the branch or tag)
#   optional: CIBOT_COMMIT CIBOT_AUTHOR CIBOT_BUILD_NUMBER CIBOT_CI_URL
#             CIBOT_RETRIES (default 5: retries of 5xx, 429 and connection errors)
# Exit status, as `cibot notify`: 0 accepted, 1 refused (the reason on stderr), 2 bad input,
# 3 ci-bot could not be reached. Under GitHub Actions the build id becomes the step's output.
set -eu

cibot_fail() { echo "cibot-notify: $2" >&2; exit "$1"; }

cibot_json() {  # "key":"value" for a field, escaped for JSON; control characters refused
  case "$2" in *[[:cntrl:]]*) cibot_fail 2 "$1 contains a control character" ;; esac
  printf '"%s":"%s"' "$1" "$(printf '%s' "$2" | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

for cibot_var in CIBOT_URL CIBOT_WEBHOOK_SECRET CIBOT_PROJECT CIBOT_IMAGE CIBOT_TYPE CIBOT_TARGET; do
  eval "cibot_value=\${$cibot_var:-}"
  [ -n "$cibot_value" ] || cibot_fail 2 "$cibot_var is not set"
done

cibot_body="{$(cibot_json project "$CIBOT_PROJECT"),$(cibot_json image "$CIBOT_IMAGE")"
cibot_body="$cibot_body,$(cibot_json type "$CIBOT_TYPE"),$(cibot_json target "$CIBOT_TARGET")"
[ -z "${CIBOT_COMMIT:-}" ] || cibot_body="$cibot_body,$(cibot_json commit "$CIBOT_COMMIT")"
[ -z "${CIBOT_AUTHOR:-}" ] || cibot_body="$cibot_body,$(cibot_json author "$CIBOT_AUTHOR")"
[ -z "${CIBOT_CI_URL:-}" ] || cibot_body="$cibot_body,$(cibot_json ci_url "$CIBOT_CI_URL")"
if [ -n "${CIBOT_BUILD_NUMBER:-}" ]; then
  case "$CIBOT_BUILD_NUMBER" in *[!0-9]*) cibot_fail 2 "CIBOT_BUILD_NUMBER is not a number" ;; esac
  cibot_body="$cibot_body,\"build_number\":$CIBOT_BUILD_NUMBER"
fi
cibot_body="$cibot_body}"

cibot_id="msg_$(date +%s)$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
cibot_ts="$(date +%s)"
case "$CIBOT_WEBHOOK_SECRET" in
  whsec_*)
    cibot_key="${CIBOT_WEBHOOK_SECRET#whsec_}"
    while [ $((${#cibot_key} % 4)) -ne 0 ]; do cibot_key="$cibot_key="; done
    cibot_key="hexkey:$(printf '%s' "$cibot_key" | base64 -d | od -An -v -tx1 | tr -d ' \n')" ;;
  *)
    cibot_key="hexkey:$(printf '%s' "$CIBOT_WEBHOOK_SECRET" | od -An -v -tx1 | tr -d ' \n')" ;;
esac
cibot_sig="$(printf '%s' "$cibot_id.$cibot_ts.$cibot_body" \
  | openssl dgst -sha256 -mac HMAC -macopt "$cibot_key" -binary | base64)"

case "${CIBOT_RETRIES:-5}" in *[!0-9]*) cibot_fail 2 "CIBOT_RETRIES is not a number" ;; esac
cibot_answer="$(mktemp)"
trap 'rm -f "$cibot_answer"' EXIT
cibot_status="$(curl -sS -o "$cibot_answer" -w '%{http_code}' --max-time 30 \
  --retry "${CIBOT_RETRIES:-5}" --retry-connrefused --retry-max-time 240 \
  -H 'content-type: application/json' -H "webhook-id: $cibot_id" \
  -H "webhook-timestamp: $cibot_ts" -H "webhook-signature: v1,$cibot_sig" \
  --data-binary "$cibot_body" "${CIBOT_URL%/}/build-complete")" || cibot_fail 3 "cannot reach $CIBOT_URL"

case "$cibot_status" in
  2??)
    cibot_build="$(sed -n 's/.*"build_id" *: *"\([^"]*\)".*/\1/p' "$cibot_answer")"
    echo "accepted: build $cibot_build"
    [ -z "${GITHUB_OUTPUT:-}" ] || echo "build-id=$cibot_build" >>"$GITHUB_OUTPUT" ;;
  4??) cibot_fail 1 "refused: $cibot_status: $(cat "$cibot_answer")" ;;
  *) cibot_fail 3 "gave up: $cibot_status: $(cat "$cibot_answer")" ;;
esac
