#!/bin/bash
# Registry answers that must never pass silently, through
# tests/servers/fault-proxy.py in front of one plain-HTTP docker-registry:
#
#  - secrets in URLs: upload Locations carrying X-Amz-Signature (beside the
#    registry's own _state), blob GETs redirected to URLs carrying
#    X-Amz-Signature and _state.  push and pull still work, and --debug
#    shows those parameters as <redacted>, never their values.
#  - a final upload PUT answered 400 DIGEST_INVALID every time: the push
#    fails with an integrity or generic exit status, names the blob, and no
#    manifest is published.
# shellcheck disable=SC2317 # functions run through tap_ok look unreachable
repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib-e2e.sh
. "$repo/tests/e2e/lib-e2e.sh"
# shellcheck source=tests/lib/registry.sh
. "$repo/tests/lib/registry.sh"
# shellcheck source=tests/lib/proxy.sh
. "$repo/tests/lib/proxy.sh"


reg=$TAP_TMP/reg
cleanup_62() {
	proxy_stop_all
	registry_stop "$reg"
}
prev_trap=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT$//")
# shellcheck disable=SC2064 # expand prev_trap now
trap "cleanup_62; $prev_trap" EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! tap_ok "tools: docker-registry jq python3" need_tool docker-registry jq python3 ||
	! tap_ok "registry starts" registry_start http "$reg"; then
	tap_diag "$(cat "$TAP_OUT")"
	tap_done
fi

# ---- secrets in URLs -------------------------------------------------------------
SECRET=planted-secret-$RANDOM$RANDOM
# no_secret LABEL FILE: FILE has neither SECRET nor a _state value the
# registry sent (as the proxy logged them).
no_secret() {
	local label=$1 f=$2 states
	tap_is "$(grep -c -- "$SECRET" "$f")" 0 "$label: --debug does not print the planted secret"
	states=$(grep -oE '_state=[^& ]+' "$PROXY_LOG" | grep -vF -- "$SECRET" | cut -d= -f2- | sort -u)
	if [ -n "$states" ]; then
		tap_is "$(grep -cF -- "$states" "$f")" 0 "$label: --debug does not print the registry's _state values"
	fi
}

if tap_ok "secrets: proxy starts" proxy_start secrets secret-query --secret "$SECRET"; then
	tap_ok "secrets: push --debug through the proxy" \
		"$FERRY" push --debug --prefix "$PROXY_ADDR/secrets" "$SAMPLE"
	cp "$TAP_OUT" push-debug.log
	tap_like "$(grep -c '^FAULT secret-query .*Location' "$PROXY_LOG")" '^[1-9]' \
		"secrets: the proxy planted the secret in upload Locations"
	tap_like "$(grep -c "X-Amz-Signature=<redacted>" push-debug.log)" '^[1-9]' \
		"secrets: --debug shows X-Amz-Signature=<redacted>"
	tap_like "$(grep -c "_state=<redacted>" push-debug.log)" '^[1-9]' \
		"secrets: --debug shows _state=<redacted>"
	no_secret "secrets: push" push-debug.log

	tap_ok "secrets: pull --debug through the proxy (blob GETs redirected)" \
		"$FERRY" convert -q --debug "docker://$PROXY_ADDR/secrets/example/app:13" pulled/
	cp "$TAP_OUT" pull-debug.log
	tap_like "$(grep -c '^FAULT secret-query GET .* redirected' "$PROXY_LOG")" '^[1-9]' \
		"secrets: the proxy redirected blob GETs to URLs carrying the secret"
	no_secret "secrets: pull" pull-debug.log
	tap_ok "secrets: what was pulled verifies" "$FERRY" verify pulled
	tap_is "$(image_facts pulled)" "$ID_APP $L_BASE,$L_APP" "secrets: the pull has app:13's config and diff_ids"
	proxy_stop
fi

# ---- a final PUT refused every time ---------------------------------------------------
if tap_ok "refused PUT: proxy starts" proxy_start refused-put 400-put --times 0; then
	"$FERRY" push -q --prefix "$PROXY_ADDR/refused" "$SAMPLE" >refused.out 2>refused.err </dev/null
	rc=$?
	tap_like "$rc" '^[13]$' "refused PUT: the push fails with exit 1 or 3 (got $rc)"
	tap_like "$(grep -c '^FAULT 400-put' "$PROXY_LOG")" '^[1-9]' "refused PUT: the proxy refused final PUTs"
	if ! tap_like "$(head -n 1 refused.err)" '^ferry: .*blob sha256:[0-9a-f]{12}.*upload.*DIGEST_INVALID' \
		"refused PUT: the error names the blob and the registry's answer"; then
		tap_diag "stderr: $(head -c 800 refused.err)"
	fi
	tap_is "$(grep -c '^ferry: ' refused.err)" "$(wc -l <refused.err)" "refused PUT: every line of stderr is 'ferry: ...'"
	tap_is "$(grep -cE '^PUT /v2/[^ ]*/manifests/' "$PROXY_LOG")" 0 "refused PUT: no manifest was sent"
	proxy_stop
	for r in $SAMPLE_TAGS; do
		tap_fails "refused PUT: the registry has no refused/$r" \
			"$FERRY" ls "docker://$FERRY_REG_ADDR/refused/$r"
	done
fi

tap_done
