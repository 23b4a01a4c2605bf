#!/bin/bash
# Registries: ferry push / pull against private docker-registry instances
# (Debian's distribution 2.8, tests/lib/registry.sh) on 127.0.0.1, checked
# with skopeo and with the registry's own access log.
#
#  - modes http, https (--cert-dir), basic (TLS + htpasswd; --creds, and
#    ferry login / logout with a private DOCKER_CONFIG), token (Bearer tokens
#    from tests/servers/token-server.py)
#  - each: push fixtures/sample.tar (retagged with --registry) and the
#    multi-platform index of fixtures/dialects/oci-multi; skopeo sees the
#    manifest digests ferry reports, the source configs (image IDs) and the
#    layers' diff_ids; a re-push sends no blob (ferry's summary and the
#    registry's log); a second repository gets its blobs by cross-repository
#    mounts; every image pulls into every format and verifies;
#    --platform linux/arm64 pulls one platform
#  - faults through tests/servers/fault-proxy.py (http): a connection dropped in the
#    middle of an upload body, 500 answers to uploads: the push completes
#  - errors a user must understand: unreachable registry, wrong --creds,
#    unknown manifest, corrupted blob, untrusted TLS certificate
# shellcheck disable=SC2317 # functions run through tap_ok look unreachable
repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib-e2e.sh
. "$repo/tests/e2e/lib-e2e.sh"
# shellcheck source=tests/lib/registry.sh
. "$repo/tests/lib/registry.sh"
# shellcheck source=tests/lib/proxy.sh
. "$repo/tests/lib/proxy.sh"

MULTI=$FERRY_FIXTURES/dialects/oci-multi

# ferry must not touch the user's cache or docker config.

# ---- everything started here is stopped on any exit, by PID ------------------------
reg_dirs=()
cleanup_registry() {
	local d
	proxy_stop_all
	for d in "${reg_dirs[@]}"; do
		registry_stop "$d"
	done
}
prev_trap=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT$//")
# shellcheck disable=SC2064 # expand prev_trap now
trap "cleanup_registry; $prev_trap" EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! tap_ok "tools: docker-registry skopeo jq python3 openssl" \
	need_tool docker-registry skopeo jq python3 openssl; then
	tap_diag "$(cat "$TAP_OUT")"
	tap_done
fi

# ---- what the sources hold, from their files ---------------------------------------
# The multi-platform index in oci-multi and the facts of its two images.
MULTI_DIGEST=$(jq -r '.manifests[] | select(.annotations["io.containerd.image.name"] == "docker.io/example/multi:1.0") | .digest' \
	"$MULTI/index.json")
multi_blob() { echo "$MULTI/blobs/sha256/${1#sha256:}"; }
MULTI_FACTS=$(_oci_manifests "$MULTI" "$(multi_blob "$MULTI_DIGEST")" | while read -r m; do
	c=$(jq -r .config.digest "$(multi_blob "$m")")
	_facts_config "$c" "$(multi_blob "$c")"
done | LC_ALL=C sort -u)
ARM_MANIFEST=$(jq -r '.manifests[] | select(.platform.architecture == "arm64") | .digest' "$(multi_blob "$MULTI_DIGEST")")
ARM_CONFIG=$(jq -r .config.digest "$(multi_blob "$ARM_MANIFEST")")
# shellcheck disable=SC2016 # expanded by the inner bash
tap_ok "sources: oci-multi has a two-platform index with configs and diff_ids" \
	bash -c '[[ $1 == sha256:* && $2 == sha256:* ]] && [ "$(wc -l <<<"$3")" = 2 ]' _ \
	"$MULTI_DIGEST" "$ARM_CONFIG" "$MULTI_FACTS"
facts_sane "$MULTI_FACTS" || tap_diag "oci-multi facts: $MULTI_FACTS"

# "TAG FACTS" of the sample images (FACTS as image_facts prints them).
sample_want() {
	case $1 in
	app) echo "$ID_APP $L_BASE,$L_APP" ;;
	base) echo "$ID_BASE $L_BASE" ;;
	tool) echo "$ID_TOOL $L_BASE,$L_TOOL,$L_TOOLV" ;;
	esac
}
SAMPLE_REFS="example/app:13 example/base:1.0 example/tool:2.1"
short() { local r=${1#*/}; echo "${r%%:*}"; }	# example/app:13 -> app

# ---- the registry's access log ------------------------------------------------------
# docker-registry writes one combined-log line per request to DIR/registry.log:
#   127.0.0.1 - - [date] "PUT /v2/REPO/blobs/uploads/UUID?...&digest=... HTTP/1.1" 201 ...
log_lines() { wc -l <"$1/registry.log"; }
log_since() { tail -n "+$(($2 + 1))" "$1/registry.log" | grep -E '^[0-9.]+ - [^ ]+ \[' ; }

# log_sync DIR: make sure every request made so far is in the log: send one
# more (an unknown manifest) and wait, bounded, until it shows up.
sync_n=0
log_sync() {
	local dir=$1 i
	sync_n=$((sync_n + 1))
	"$FERRY" ls "${FO[@]}" "docker://$FERRY_REG_ADDR/log-sync/s:n$sync_n" >/dev/null 2>&1
	for ((i = 0; i < 100; i++)); do
		grep -q "/v2/log-sync/s/manifests/n$sync_n " "$dir/registry.log" && return 0
		sleep 0.05
	done
	tap_diag "log_sync: the registry did not log request n$sync_n"
	return 1
}

# Requests that send blob bytes or start an upload (a mount is not one).
count_uploads() {
	grep -E '"(POST|PATCH|PUT) /v2/[^" ]*/blobs/uploads/' | grep -vc 'mount='
}

# ---- per-mode options ---------------------------------------------------------------
# FO: ferry's registry options; SK: skopeo inspect's; SKC: skopeo copy's (source).
set_mode_opts() {
	FO=() SK=() SKC=()
	case $1 in
	http)
		SK=(--tls-verify=false) SKC=(--src-tls-verify=false) ;;
	https)
		FO=(--cert-dir "$FERRY_REG_CERT_DIR")
		SK=(--cert-dir "$FERRY_REG_CERT_DIR") SKC=(--src-cert-dir "$FERRY_REG_CERT_DIR") ;;
	basic)
		FO=(--cert-dir "$FERRY_REG_CERT_DIR" --creds "$FERRY_REG_USER:$FERRY_REG_PASS")
		SK=(--cert-dir "$FERRY_REG_CERT_DIR" --creds "$FERRY_REG_USER:$FERRY_REG_PASS")
		SKC=(--src-cert-dir "$FERRY_REG_CERT_DIR" --src-creds "$FERRY_REG_USER:$FERRY_REG_PASS") ;;
	token)
		FO=(--creds "$FERRY_REG_USER:$FERRY_REG_PASS")
		SK=(--tls-verify=false --creds "$FERRY_REG_USER:$FERRY_REG_PASS")
		SKC=(--src-tls-verify=false --src-creds "$FERRY_REG_USER:$FERRY_REG_PASS") ;;
	esac
}

# ls_field REF FIELD: FIELD of the one image ferry ls --json reports for docker://REF.
ls_field() {
	"$FERRY" ls --json "${FO[@]}" "docker://$1" 2>/dev/null | jq -r --arg f "$2" '.images[0][$f] // empty' 2>/dev/null
}

# check_pushed LABEL REF FACTS: ferry and skopeo agree on REF's manifest
# digest; skopeo copies it out with the source config and layer diff_ids.
check_pushed() {
	local label=$1 ref=$2 want=$3 d
	d=$(ls_field "$ref" digest)
	tap_like "$d" '^sha256:[0-9a-f]{64}$' "$label: ferry ls --json reports a digest for $ref"
	tap_is "$(ls_field "$ref" config)" "${want%% *}" "$label: ferry ls --json: $ref has the source's config (image ID)"
	tap_ok "$label: skopeo inspect docker://$ref" skopeo inspect "${SK[@]}" "docker://$ref"
	tap_is "$(jq -r .Digest "$TAP_OUT" 2>/dev/null)" "$d" "$label: skopeo sees the manifest digest ferry reports for $ref"
	rm -f "$TAP_TMP/sk.tar"
	tap_ok "$label: skopeo copy docker://$ref to a docker-archive" \
		skopeo copy -q "${SKC[@]}" "docker://$ref" "docker-archive:$TAP_TMP/sk.tar:skopeo/copy:1"
	tap_is "$(image_facts "$TAP_TMP/sk.tar")" "$want" \
		"$label: what skopeo pulled has the source config and layer diff_ids ($ref)"
}

# check_multi LABEL REF: the multi-platform index, as in oci-multi.
check_multi() {
	local label=$1 ref=$2
	tap_is "$(ls_field "$ref" digest)" "$MULTI_DIGEST" "$label: ferry ls --json: $ref has the source index digest"
	tap_ok "$label: skopeo inspect --raw docker://$ref" skopeo inspect --raw "${SK[@]}" "docker://$ref"
	tap_is "sha256:$(sha "$TAP_OUT")" "$MULTI_DIGEST" "$label: skopeo gets the index bytes ferry pushed"
	rm -rf "$TAP_TMP/sk-multi"
	tap_ok "$label: skopeo copy --all docker://$ref" \
		skopeo copy -q --all "${SKC[@]}" "docker://$ref" "oci:$TAP_TMP/sk-multi:x"
	tap_is "$(image_facts "$TAP_TMP/sk-multi")" "$MULTI_FACTS" \
		"$label: skopeo pulls both platforms with the source configs and diff_ids"
}

# pull_all LABEL REF FACTS: ferry pulls REF into each format; each verifies
# and holds FACTS (configs and diff_ids, read from the files). The writers do
# not depend on how the registry authenticates: every format in plain http
# mode, an OCI layout in the others.
pull_n=0
pull_all() {
	local label=$1 ref=$2 want=$3 fmt dst fmts=(oci)
	[ "$label" != http ] || fmts=(oci docker-archive oci-archive)
	for fmt in "${fmts[@]}"; do
		pull_n=$((pull_n + 1))
		case $fmt in
		oci) dst=$TAP_TMP/pull$pull_n/ ;;
		docker-archive) dst=$TAP_TMP/pull$pull_n.tar ;;
		oci-archive) dst=$TAP_TMP/pull$pull_n.oci.tar ;;
		esac
		tap_ok "$label: pull docker://$ref to $fmt" \
			"$FERRY" convert -q "${FO[@]}" --format "$fmt" "docker://$ref" "$dst"
		tap_ok "$label: ferry verify the $fmt pulled from $ref" "$FERRY" verify "$dst"
		tap_is "$(image_facts "${dst%/}")" "$want" "$label: $fmt from $ref keeps configs and diff_ids"
		tap_is "$(ferry_names "$dst")" "$ref" "$label: $fmt from $ref is named $ref"
	done
}

# ---- one mode -----------------------------------------------------------------------
mode_suite() {
	local mode=$1 dir=$TAP_TMP/reg-$1 A n0 r t ref d
	reg_dirs+=("$dir")
	if ! tap_ok "$mode: registry starts" registry_start "$mode" "$dir"; then
		return 1
	fi
	A=$FERRY_REG_ADDR
	set_mode_opts "$mode"

	# -- push the sample, retagged onto this registry
	n0=$(log_lines "$dir")
	tap_ok "$mode: push sample.tar --registry $A" "$FERRY" push "${FO[@]}" --registry "$A" "$SAMPLE"
	tap_like "$(tail -n 1 "$TAP_OUT")" '^pushed 3 images .*: [1-9][0-9]* blobs written' \
		"$mode: the first push says it wrote blobs"
	if [ "$mode" = http ]; then
		log_sync "$dir"
		tap_is "$(log_since "$dir" "$n0" | grep -oE '"PUT /v2/[^" ]*/blobs/uploads/[^" ]*digest=sha256%3[Aa][0-9a-f]{64}' |
			grep -oE '[0-9a-f]{64}$' | LC_ALL=C sort | uniq -d | xargs)" "" \
			"$mode: the first push uploads each blob once (the rest is mounted)"
		# Each blob goes straight into the repository of the first image using
		# it: only a blob shared by several repositories is mounted, once per
		# extra repository.
		uses=$(for r in $SAMPLE_REFS; do
			skopeo inspect --raw --tls-verify=false "docker://$A/$r" | jq -r '.config.digest, .layers[].digest'
		done)
		tap_is "$(log_since "$dir" "$n0" | grep -cE '"POST /v2/[^" ]*/blobs/uploads/\?mount=sha256%3[Aa][0-9a-f]{64}&from=[^" ]+ HTTP/[0-9.]+" 201')" \
			"$(($(printf '%s\n' "$uses" | wc -l) - $(printf '%s\n' "$uses" | sort -u | wc -l)))" \
			"$mode: the first push mounts only blobs shared between repositories"
		# A small config nothing has seen at this registry is sent without asking first.
		cfgs=$(for r in $SAMPLE_REFS; do
			skopeo inspect --raw --tls-verify=false "docker://$A/$r" | jq -r '.config.digest'
		done)
		tap_is "$(log_since "$dir" "$n0" | grep -E '"HEAD /v2/[^" ]*/blobs/sha256:' |
			grep -cF "$(printf '%s\n' "$cfgs" | sed 's/^sha256://')")" 0 \
			"$mode: the first push sends the (small, unseen) configs without a HEAD first"
	fi
	for r in $SAMPLE_REFS; do
		check_pushed "$mode" "$A/$r" "$(sample_want "$(short "$r")")"
	done

	# -- push the multi-platform index under a name of our choosing
	tap_ok "$mode: push oci-multi's index to docker://$A/multi/app:1.0" \
		"$FERRY" push "${FO[@]}" --image docker.io/example/multi:1.0 "$MULTI" "docker://$A/multi/app:1.0"
	check_multi "$mode" "$A/multi/app:1.0"

	# -- the same archive again: nothing to send
	log_sync "$dir"
	n0=$(log_lines "$dir")
	tap_ok "$mode: push sample.tar again" "$FERRY" push "${FO[@]}" --registry "$A" "$SAMPLE"
	tap_like "$(tail -n 1 "$TAP_OUT")" '^pushed 3 images .*: 0 blobs written' "$mode: re-push: ferry says 0 blobs written"
	log_sync "$dir"
	tap_is "$(log_since "$dir" "$n0" | count_uploads)" 0 \
		"$mode: re-push: the registry got no upload request (POST/PATCH/PUT .../blobs/uploads/)"

	# -- a second repository: blobs are mounted, not sent
	n0=$(log_lines "$dir")
	tap_ok "$mode: push app:13 to a second repository, docker://$A/mirror/app:13" \
		"$FERRY" push --debug "${FO[@]}" --image example/app:13 "$SAMPLE" "docker://$A/mirror/app:13"
	tap_like "$(grep -E 'POST [^ ]*/v2/mirror/app/blobs/uploads/\?mount=' "$TAP_OUT" | head -n 1)" \
		'\?mount=sha256%3[Aa][0-9a-f]{64}&from=[^ ]+ -> 201' "$mode: --debug shows a cross-repository mount answered 201"
	log_sync "$dir"
	tap_like "$(log_since "$dir" "$n0" | grep -cE '"POST /v2/mirror/app/blobs/uploads/\?mount=sha256%3[Aa][0-9a-f]{64}&from=[^" ]+ HTTP/[0-9.]+" 201')" \
		'^[1-9]' "$mode: the registry logged mounts into mirror/app answered 201"
	tap_is "$(log_since "$dir" "$n0" | count_uploads)" 0 "$mode: mirror/app got no blob uploaded"
	tap_is "$(ls_field "$A/mirror/app:13" digest)" "$(ls_field "$A/example/app:13" digest)" \
		"$mode: mirror/app:13 is the same manifest as example/app:13"
	check_pushed "$mode" "$A/mirror/app:13" "$(sample_want app)"

	# -- pulls into every format
	for r in $SAMPLE_REFS; do
		pull_all "$mode" "$A/$r" "$(sample_want "$(short "$r")")"
	done
	pull_all "$mode" "$A/multi/app:1.0" "$MULTI_FACTS"
	t=$TAP_TMP/arm-$mode/
	tap_ok "$mode: pull --platform linux/arm64 of multi/app:1.0" \
		"$FERRY" convert -q "${FO[@]}" --platform linux/arm64 "docker://$A/multi/app:1.0" "$t"
	tap_is "$("$FERRY" ls --json "$t" 2>/dev/null | jq -c '[.images[].platforms[]]')" '["linux/arm64/v8"]' \
		"$mode: --platform linux/arm64 pulled that platform only"
	tap_is "$(image_facts "${t%/}" | cut -d' ' -f1)" "$ARM_CONFIG" "$mode: the arm64 pull has the source arm64 config"
	tap_ok "$mode: the arm64 pull verifies" "$FERRY" verify "$t"
	tap_ok "$mode: ferry verify docker://$A/multi/app:1.0 (straight from the registry)" \
		"$FERRY" verify "${FO[@]}" "docker://$A/multi/app:1.0"
	return 0
}

# ---- mode specifics ------------------------------------------------------------------
login_stdin() {	# PASSWORD ferry-login-args...
	local pw=$1
	shift
	printf '%s' "$pw" | "$FERRY" login --password-stdin "$@"
}
stored_auth() {	# ADDR: "user:password" stored for ADDR in $DOCKER_CONFIG/config.json
	jq -r --arg a "$1" '.auths[$a].auth // empty' "$DOCKER_CONFIG/config.json" 2>/dev/null | base64 -d 2>/dev/null
}

basic_login() {
	local A=$FERRY_REG_ADDR C=$FERRY_REG_CERT_DIR U=$FERRY_REG_USER P=$FERRY_REG_PASS bad
	bad=wrong-pw-$RANDOM$RANDOM
	tap_fails "basic: without credentials, ferry ls is refused" \
		"$FERRY" ls --cert-dir "$C" "docker://$A/example/app:13"
	tap_like "$(cat "$TAP_OUT")" '^ferry: .*(requires authentication|no credentials)' \
		"basic: ... and says credentials are needed"
	tap_ok "basic: ferry login -u --password-stdin" login_stdin "$P" -u "$U" --cert-dir "$C" "$A"
	tap_is "$(stored_auth "$A")" "$U:$P" "basic: login stored the credentials in \$DOCKER_CONFIG/config.json"
	tap_is "$(stat -c %a "$DOCKER_CONFIG/config.json" 2>&1)" 600 "basic: config.json has mode 0600"
	tap_ok "basic: ferry ls with the stored login (no --creds)" \
		"$FERRY" ls --cert-dir "$C" "docker://$A/example/app:13"
	tap_ok "basic: push with the stored login (no --creds)" \
		"$FERRY" push --cert-dir "$C" --registry "$A" "$SAMPLE"
	tap_like "$(tail -n 1 "$TAP_OUT")" ': 0 blobs written' "basic: ... which sends nothing new"
	tap_fails "basic: ferry login with a wrong password fails" login_stdin "$bad" -u "$U" --cert-dir "$C" "$A"
	tap_is "$(grep -cF -- "$bad" "$TAP_OUT")" 0 "basic: the failed login does not print the password"
	tap_is "$(grep -c -- '--creds' "$TAP_OUT")" 0 \
		"basic: the failed login does not blame --creds (it was not used)" ||
		tap_diag "$(cat "$TAP_OUT")"
	tap_is "$(stored_auth "$A")" "$U:$P" "basic: a failed login keeps the stored credentials"
	tap_ok "basic: ferry logout" "$FERRY" logout "$A"
	tap_is "$(jq -c --arg a "$A" '.auths[$a] // empty' "$DOCKER_CONFIG/config.json" 2>&1)" "" \
		"basic: logout removed the credentials"
	tap_fails "basic: after logout, ferry ls is refused again" \
		"$FERRY" ls --cert-dir "$C" "docker://$A/example/app:13"
}

token_checks() {
	local A=$FERRY_REG_ADDR
	tap_like "$(grep -c '"account": "ferry"' "$FERRY_REG_TOKEN_LOG")" '^[1-9]' \
		"token: the token service issued tokens to the user"
	tap_like "$(grep -E '"account": "ferry"' "$FERRY_REG_TOKEN_LOG" | grep -c '"actions": \["pull", "push"\]')" '^[1-9]' \
		"token: ... with pull,push for the pushes"
	# A push's connections (the main one and its upload workers) share their
	# tokens: each scope set is asked for once, however many connections
	# use it.  (Each connection asking for its own sent 11 or 12 requests
	# for these 5 scope sets.)
	local before
	before=$(wc -l <"$FERRY_REG_TOKEN_LOG")
	tap_ok "token: push to a fresh prefix, with an empty blob cache" \
		env XDG_CACHE_HOME="$TAP_TMP/token-cache" "$FERRY" push -q "${FO[@]}" --prefix "$A/shared-tokens" "$SAMPLE"
	tap_is "$(tail -n +"$((before + 1))" "$FERRY_REG_TOKEN_LOG" |
		jq -r '.scopes | sort | join(" ")' 2>/dev/null | sort | uniq -c | awk '$1 > 1' | wc -l)" 0 \
		"token: ... each scope set was asked for once" ||
		tap_diag "$(tail -n +"$((before + 1))" "$FERRY_REG_TOKEN_LOG" | jq -c .scopes 2>&1)"
	tap_like "$(tail -n +"$((before + 1))" "$FERRY_REG_TOKEN_LOG" | wc -l)" '^[3-9]$' \
		"token: ... a handful of token requests, one per repository and mount"
	tap_fails "token: a pull-only user cannot push" "$FERRY" push \
		--creds "$FERRY_REG_READER:$FERRY_REG_READER_PASS" --prefix "$A/ro" "$SAMPLE"
	tap_like "$(cat "$TAP_OUT")" '^ferry: .*(credentials|denied|access)' "token: ... and says the credentials do not allow it"
	tap_ok "token: a pull-only user can pull" "$FERRY" ls \
		--creds "$FERRY_REG_READER:$FERRY_REG_READER_PASS" "docker://$A/example/app:13"
}

# --debug traces never show a secret.
no_secrets_in_debug() {	# MODE
	local mode=$1 A=$FERRY_REG_ADDR b64
	b64=$(printf '%s' "$FERRY_REG_USER:$FERRY_REG_PASS" | base64)
	tap_ok "$mode: push --debug" "$FERRY" push --debug "${FO[@]}" --prefix "$A/debug" "$SAMPLE"
	tap_is "$(grep -ciE -e "$FERRY_REG_PASS" -e "$b64" -e 'authorization:' -e 'bearer [a-z0-9_-]{20}' "$TAP_OUT")" 0 \
		"$mode: --debug output has no password, Basic credentials or token"
}

# ---- fault proxy -------------------------------------------------------------------
# fault_push NAME FAULT CHUNK [PROXY-ARGS...]: push the sample through a proxy
# injecting FAULT (CHUNK: FERRY_UPLOAD_CHUNK_TEST, "" for ferry's default);
# the push completes and every image verifies.  With FAULT_LANES set, what is
# pushed is tool:2.1 from an OCI layout of gzip layers, every blob streamed:
# its three layers go up two at a time (lanes), each on its own connection.
fault_push() {
	local name=$1 fault=$2 chunk=$3 r pushed src=$SAMPLE refs=$SAMPLE_REFS extra=()
	shift 3
	if [ -n "${FAULT_LANES:-}" ]; then
		src=oci:$TAP_TMP/fault-oci-gz refs=example/tool:2.1 extra=(--image example/tool:2.1)
		[ -d "$TAP_TMP/fault-oci-gz" ] ||
			"$FERRY" convert -q --compress gzip "$SAMPLE" "$TAP_TMP/fault-oci-gz/" || tap_diag "cannot make the gzip layout"
	fi
	if ! tap_ok "fault $name: proxy starts" proxy_start "$name" "$fault" "$@"; then
		return 1
	fi
	tap_ok "fault $name: push through the proxy completes" \
		env XDG_CACHE_HOME="$TAP_TMP/cache-$name" FERRY_UPLOAD_CHUNK_TEST="$chunk" \
		${FAULT_LANES:+FERRY_PUSH_SMALL_TEST=0} \
		"$FERRY" push "${extra[@]}" --prefix "$PROXY_ADDR/fault-$name" "$src"
	pushed=$?
	tap_like "$(grep '^FAULT' "$PROXY_LOG" 2>/dev/null | head -n 1)" "^FAULT $fault " "fault $name: the proxy injected it"
	proxy_stop
	for r in $refs; do
		if [ "$pushed" != 0 ]; then
			tap_skip "fault $name: $r verifies" "the push failed"
			tap_skip "fault $name: $r pulls with the source config and diff_ids" "the push failed"
			continue
		fi
		tap_ok "fault $name: ferry verify docker://.../fault-$name/$r" \
			"$FERRY" verify "docker://$FERRY_REG_ADDR/fault-$name/$r"
		rm -rf "$TAP_TMP/fault-pull"
		"$FERRY" convert -q "docker://$FERRY_REG_ADDR/fault-$name/$r" "$TAP_TMP/fault-pull/" >/dev/null 2>&1
		tap_is "$(image_facts "$TAP_TMP/fault-pull")" "$(sample_want "$(short "$r")")" \
			"fault $name: $r pulls with the source config and diff_ids"
	done
}

# ---- errors ----------------------------------------------------------------------------
# expect_error LABEL RC_REGEX MSG_REGEX cmd...: fails with an exit status
# matching RC_REGEX, prints exactly one "ferry: " line matching MSG_REGEX,
# and writes nothing into $TAP_TMP/errout (the commands' destination dir).
err_n=0
expect_error() {
	local label=$1 rcre=$2 re=$3 rc
	shift 3
	err_n=$((err_n + 1))
	ERR_DIR=$TAP_TMP/err$err_n
	rm -rf "$ERR_DIR"
	mkdir -p "$ERR_DIR"
	"$@" >"$ERR_DIR.out" 2>"$ERR_DIR.err" </dev/null
	rc=$?
	tap_like "$rc" "$rcre" "$label: exit status $rc (wanted /$rcre/)"
	tap_is "$(wc -l <"$ERR_DIR.err")" 1 "$label: one line on stderr" ||
		tap_diag "stderr: $(head -c 800 "$ERR_DIR.err")"
	tap_like "$(head -n 1 "$ERR_DIR.err")" "^ferry: .*$re" "$label: the message says /$re/"
	tap_is "$(ls -A "$ERR_DIR")" "" "$label: nothing written"
}

# ============================================================================================
for mode in http https basic token; do
	mode_suite "$mode" || continue
	case $mode in
	basic)
		no_secrets_in_debug basic
		basic_login
		BASIC_ADDR=$FERRY_REG_ADDR BASIC_CERT=$FERRY_REG_CERT_DIR BASIC_USER=$FERRY_REG_USER
		;;
	https)
		HTTPS_ADDR=$FERRY_REG_ADDR
		tap_ok "https: --tls-verify=false reads without the CA" \
			"$FERRY" ls --tls-verify=false "docker://$FERRY_REG_ADDR/example/app:13"
		;;
	token)
		no_secrets_in_debug token
		token_checks
		TOKEN_ADDR=$FERRY_REG_ADDR TOKEN_USER=$FERRY_REG_USER
		;;
	http)
		HTTP_DIR=$TAP_TMP/reg-http HTTP_ENV=$TAP_TMP/reg-http/env
		# DEST docker://HOST:PORT moves every name to that registry (push --help).
		tap_ok "http: push sample.tar docker://$FERRY_REG_ADDR (a registry as DEST)" \
			"$FERRY" push "$SAMPLE" "docker://$FERRY_REG_ADDR"
		tap_like "$(cat "$TAP_OUT")" "$FERRY_REG_ADDR/example/app:13" "http: ... pushed example/app:13 there"
		# --prefix: every repository moved under mirror2/, blobs mounted.
		tap_ok "http: push --prefix $FERRY_REG_ADDR/mirror2" \
			"$FERRY" push --debug --prefix "$FERRY_REG_ADDR/mirror2" "$SAMPLE"
		tap_like "$(grep -cE 'POST [^ ]*/v2/mirror2/example/[a-z]+/blobs/uploads/\?mount=[^ ]* -> 201' "$TAP_OUT")" '^[1-9]' \
			"http: --prefix push mounts its blobs"
		check_pushed http "$FERRY_REG_ADDR/mirror2/example/tool:2.1" "$(sample_want tool)"
		;;
	esac
done

# ---- faults, on the http registry ------------------------------------------------------
if [ -n "${HTTP_ENV:-}" ]; then
	# shellcheck disable=SC1090
	. "$HTTP_ENV"
	set_mode_opts http
	fault_push drop-put drop-upload "" --min-body 200
	fault_push drop-patch drop-upload 128 --min-body 100
	fault_push 500-put 500-upload ""
	fault_push 500-patch 500-upload 128
	fault_push 500-post 500-post ""
	FAULT_LANES=1
	fault_push lanes-drop-patch drop-upload 128 --min-body 100
	fault_push lanes-500-patch 500-upload 128
	fault_push lanes-500-put 500-upload ""
	fault_push lanes-500-post 500-post ""
	unset FAULT_LANES

	# ---- errors ----
	port=$(_registry_free_port)
	expect_error "unreachable registry: pull" '^[1-9]' "127\.0\.0\.1:$port.*(connect|reach)" \
		"$FERRY" convert -q "docker://127.0.0.1:$port/example/app:13" "$TAP_TMP/err$((err_n + 1))/out/"
	expect_error "unreachable registry: push" '^[1-9]' "127\.0\.0\.1:$port.*(connect|reach)" \
		"$FERRY" push -q --retries 1 --registry "127.0.0.1:$port" "$SAMPLE"
	# --retries 1: two tries, each over https then http; not one round per blob.
	"$FERRY" push --debug --retries 1 --registry "127.0.0.1:$port" "$SAMPLE" >"$TAP_TMP/unreach.log" 2>&1
	tap_like "$(grep -cE "GET https?://127\.0\.0\.1:$port/v2/ " "$TAP_TMP/unreach.log")" '^[1-4]$' \
		"unreachable registry: push --retries 1 gives up after at most 4 connection attempts"

	expect_error "unknown tag: pull" '^5$' '(MANIFEST_UNKNOWN|not found|unknown)' \
		"$FERRY" convert -q "docker://$FERRY_REG_ADDR/example/app:nope" "$TAP_TMP/err$((err_n + 1))/out/"
	tap_like "$(cat "$ERR_DIR.err")" 'nope' "unknown tag: the message names the tag"
	expect_error "unknown repository: pull" '^5$' '(MANIFEST_UNKNOWN|NAME_UNKNOWN|not found|unknown)' \
		"$FERRY" convert -q "docker://$FERRY_REG_ADDR/no/such:1" "$TAP_TMP/err$((err_n + 1))/out.tar"

	# A corrupted config, then a corrupted layer, on every try.
	if tap_ok "corrupt: proxy starts" proxy_start corrupt-config corrupt-blob --times 0 --path-re "${ID_APP#sha256:}"; then
		expect_error "corrupt config blob: pull" '^3$' 'digest' \
			"$FERRY" convert -q "docker://$PROXY_ADDR/example/app:13" "$TAP_TMP/err$((err_n + 1))/out/"
		tap_like "$(grep '^FAULT' "$PROXY_LOG" | head -n 1)" '^FAULT corrupt-blob' "corrupt config blob: the proxy corrupted it"
		proxy_stop
	fi
	layer=$("$FERRY" inspect --raw "docker://$FERRY_REG_ADDR/example/app:13" 2>/dev/null | jq -r '.layers[-1].digest')
	tap_like "$layer" '^sha256:[0-9a-f]{64}$' "corrupt: ferry inspect --raw gives the last layer of example/app:13"
	if tap_ok "corrupt: proxy starts" proxy_start corrupt-layer corrupt-blob --times 0 --path-re "${layer#sha256:}"; then
		# (the gzip stream breaks before its digest can be checked: still the
		# user must learn which blob is bad, with the integrity exit status)
		expect_error "corrupt layer blob: pull to a docker-archive" '^3$' "(digest|${layer:7:12})" \
			"$FERRY" convert -q "docker://$PROXY_ADDR/example/app:13" "$TAP_TMP/err$((err_n + 1))/out.tar"
		tap_like "$(grep '^FAULT' "$PROXY_LOG" | head -n 1)" '^FAULT corrupt-blob' "corrupt layer blob: the proxy corrupted it"
		tap_fails "corrupt layer blob: ferry verify docker:// finds it" \
			"$FERRY" verify "docker://$PROXY_ADDR/example/app:13"
		tap_like "$(cat "$TAP_OUT")" "^ferry: .*${layer:7:12}" "corrupt layer blob: verify names the layer"
		proxy_stop
	fi
fi

if [ -n "${BASIC_ADDR:-}" ]; then
	bad=bad-pw-$RANDOM$RANDOM
	expect_error "wrong --creds: pull" '^[1-9]' '--creds' \
		"$FERRY" convert -q --cert-dir "$BASIC_CERT" --creds "$BASIC_USER:$bad" \
		"docker://$BASIC_ADDR/example/app:13" "$TAP_TMP/err$((err_n + 1))/out/"
	tap_is "$(grep -cF -- "$bad" "$ERR_DIR.err")" 0 "wrong --creds: pull: the password is not printed"
	expect_error "wrong --creds: push" '^[1-9]' '--creds' \
		"$FERRY" push -q --cert-dir "$BASIC_CERT" --creds "$BASIC_USER:$bad" --prefix "$BASIC_ADDR/x" "$SAMPLE"
	tap_is "$(grep -cF -- "$bad" "$ERR_DIR.err")" 0 "wrong --creds: push: the password is not printed"
fi
if [ -n "${TOKEN_ADDR:-}" ]; then
	bad=bad-pw-$RANDOM$RANDOM
	expect_error "wrong --creds, token registry: pull" '^[1-9]' '--creds' \
		"$FERRY" convert -q --creds "$TOKEN_USER:$bad" \
		"docker://$TOKEN_ADDR/example/app:13" "$TAP_TMP/err$((err_n + 1))/out/"
	tap_is "$(grep -cF -- "$bad" "$ERR_DIR.err")" 0 "wrong --creds, token registry: the password is not printed"
fi
if [ -n "${HTTPS_ADDR:-}" ]; then
	expect_error "https without --cert-dir: pull" '^[1-9]' '(certificate|TLS)' \
		"$FERRY" convert -q "docker://$HTTPS_ADDR/example/app:13" "$TAP_TMP/err$((err_n + 1))/out/"
	expect_error "https without --cert-dir: push" '^[1-9]' '(certificate|TLS)' \
		"$FERRY" push -q --registry "$HTTPS_ADDR" "$SAMPLE"
fi

# ---- a registry emptied since the last push: the blob-info cache is stale ---------------
if [ -n "${HTTP_ENV:-}" ]; then
	# shellcheck disable=SC1090
	. "$HTTP_ENV"
	set_mode_opts http
	port=${FERRY_REG_ADDR##*:}
	registry_stop "$HTTP_DIR"
	reg_dirs+=("$TAP_TMP/reg-http2")
	if tap_ok "stale cache: a new, empty registry on the same port" registry_start http "$TAP_TMP/reg-http2" "$port"; then
		tap_ok "stale cache: push sample.tar again" "$FERRY" push --registry "$FERRY_REG_ADDR" "$SAMPLE"
		tap_like "$(tail -n 1 "$TAP_OUT")" ': [1-9][0-9]* blobs written' "stale cache: the blobs were sent again"
		for r in $SAMPLE_REFS; do
			check_pushed "stale cache" "$FERRY_REG_ADDR/$r" "$(sample_want "$(short "$r")")"
		done
	fi
fi

# ---- one push, two registries -----------------------------------------------------------
# Names in two registries in one run: every blob goes to both (small ones by
# the worker connections, or, with FERRY_PUSH_SMALL_TEST=0, every blob
# streamed to both at once), and each registry gets the names that are its own.
if command -v docker-registry >/dev/null 2>&1; then
	set_mode_opts http
	reg_dirs+=("$TAP_TMP/reg-two-a" "$TAP_TMP/reg-two-b")
	if tap_ok "two registries: the first starts" registry_start http "$TAP_TMP/reg-two-a" &&
		TWO_A=$FERRY_REG_ADDR &&
		tap_ok "two registries: the second starts" registry_start http "$TAP_TMP/reg-two-b"; then
		TWO_B=$FERRY_REG_ADDR
		for small in default 0; do
			two=$TAP_TMP/two-$small.tar
			cp "$SAMPLE" "$two"
			tap_ok "two registries ($small): name app:13 in both, tool:2.1 in the second" \
				"$FERRY" tag "$two" example/app:13 "$TWO_A/a$small/app:13" "$TWO_B/b$small/app:13"
			tap_ok "two registries ($small): ... and tool:2.1 in the second" \
				"$FERRY" tag "$two" example/tool:2.1 "$TWO_B/b$small/tool:2.1"
			tap_ok "two registries ($small): ... and untag the rest" \
				"$FERRY" untag "$two" example/app:13 example/tool:2.1 example/base:1.0
			if [ "$small" = default ]; then
				tap_ok "two registries ($small): one push" "$FERRY" push -q "$two"
			else
				tap_ok "two registries ($small): one push" env FERRY_PUSH_SMALL_TEST=0 "$FERRY" push -q "$two"
			fi
			check_pushed "two registries ($small)" "$TWO_A/a$small/app:13" "$(sample_want app)"
			check_pushed "two registries ($small)" "$TWO_B/b$small/app:13" "$(sample_want app)"
			check_pushed "two registries ($small)" "$TWO_B/b$small/tool:2.1" "$(sample_want tool)"
			tap_fails "two registries ($small): tool:2.1 is not in the first" \
				skopeo inspect "${SK[@]}" "docker://$TWO_A/b$small/tool:2.1"
		done

		# Many names at once: published by several workers side by side, each
		# repository getting its blobs (mounted from where this run put them).
		many=$TAP_TMP/many.tar
		cp "$SAMPLE" "$many"
		names=()
		for i in $(seq -w 1 12); do
			names+=("$TWO_A/many/r$i:app" "$TWO_A/many/r$i:tool" "$TWO_A/many/r$i:base")
		done
		refs_of() { local tag=$1 n; for n in "${names[@]}"; do [ "${n##*:}" = "$tag" ] && echo "$n"; done; }
		# shellcheck disable=SC2046 # one argument per name
		tap_ok "many names: tag app:13 into 12 repositories" "$FERRY" tag "$many" example/app:13 $(refs_of app)
		# shellcheck disable=SC2046
		tap_ok "many names: tool:2.1 likewise" "$FERRY" tag "$many" example/tool:2.1 $(refs_of tool)
		# shellcheck disable=SC2046
		tap_ok "many names: base:1.0 likewise" "$FERRY" tag "$many" example/base:1.0 $(refs_of base)
		tap_ok "many names: the docker.io names go" \
			"$FERRY" untag "$many" example/app:13 example/tool:2.1 example/base:1.0
		tap_ok "many names: one push of 36 names" "$FERRY" push -q --json "$many"
		cp "$TAP_OUT" "$TAP_TMP/many.json"
		tap_is "$(jq -r '.manifests | length' "$TAP_TMP/many.json")" 36 "many names: every name pushed"
		want_app=$(ls_field "$TWO_A/adefault/app:13" digest)
		want_tool=$(ls_field "$TWO_B/bdefault/tool:2.1" digest)
		want_base=$(ls_field "$TWO_A/many/r01:base" digest)
		tap_like "$want_base" '^sha256:' "many names: r01:base has a digest"
		bad=
		for n in "${names[@]}"; do
			case ${n##*:} in app) want=$want_app ;; tool) want=$want_tool ;; base) want=$want_base ;; esac
			[ "$(ls_field "$n" digest)" = "$want" ] || bad="$bad $n"
		done
		tap_is "$bad" "" "many names: each of the 36 serves the manifest of its image"
		tap_is "$(printf '%s\n' "$want_app" "$want_tool" "$want_base" | sort -u | wc -l)" 3 \
			"many names: ... and the three images differ"
		tap_ok "many names: ferry verify one of them" "$FERRY" verify "docker://$TWO_A/many/r07:tool"

		# Layers pushed as they are (gzip already) go up two at a time, each
		# on a connection of its own: a big one streamed while small ones are
		# queued, or (FERRY_PUSH_SMALL_TEST=0) two streamed at once.  The
		# registry must end up with what one lane pushes, byte for byte.
		python3 "$repo/tests/e2e/lanes_inputs.py" oci "$TAP_TMP/lanes-oci" "$TAP_TMP/lanes-big" ||
			tap_diag "lanes: cannot make the input layout"
		src_layers=$(jq -r '.layers[].digest' "$TAP_TMP/lanes-oci/blobs/sha256/$(jq -r '.manifests[0].digest' \
			"$TAP_TMP/lanes-oci/index.json" | cut -d: -f2)" | xargs)
		for how in one two streamed; do
			case $how in
			one) env=(FERRY_LANES_TEST=1) ;;
			two) env=() ;;
			streamed) env=(FERRY_PUSH_SMALL_TEST=0) ;;
			esac
			ref=$TWO_A/lanes/$how:1
			tap_ok "lanes push ($how): push the layout" \
				env "${env[@]}" XDG_CACHE_HOME="$TAP_TMP/lanes-cache-$how" "$FERRY" push -q "oci:$TAP_TMP/lanes-oci" "docker://$ref"
			tap_is "$(ls_field "$ref" digest)" "$(jq -r '.manifests[0].digest' "$TAP_TMP/lanes-oci/index.json")" \
				"lanes push ($how): the registry serves the layout's manifest"
			tap_ok "lanes push ($how): skopeo inspect" skopeo inspect "${SK[@]}" "docker://$ref"
			tap_is "$(jq -r '.Layers | join(" ")' "$TAP_OUT" 2>/dev/null)" "$src_layers" \
				"lanes push ($how): skopeo sees the source's layers, in order"
			rm -rf "$TAP_TMP/lanes-back-$how"
			tap_ok "lanes push ($how): ferry pulls it back, verified" \
				"$FERRY" convert -q "docker://$ref" "$TAP_TMP/lanes-back-$how/"
			tap_is "$(tree_sums "$TAP_TMP/lanes-back-$how/blobs")" "$(tree_sums "$TAP_TMP/lanes-oci/blobs")" \
				"lanes push ($how): every blob came back as it went"
		done
	fi
fi

tap_done
