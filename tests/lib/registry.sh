# shellcheck shell=bash
# A private docker registry (Debian's docker-registry, distribution 2.8) for
# tests, on 127.0.0.1 only.
#
#   . tests/lib/registry.sh
#   registry_start MODE DIR [PORT]  # config, data, certificates and logs under DIR;
#                                   # PORT: listen there (default: a free port)
#   registry_stop DIR         # stops what registry_start started there (by PID)
#
# MODE:
#   http         plain HTTP, no auth
#   https        TLS with a CA made for the occasion, no auth
#   mtls         TLS, and the registry requires a client certificate
#   basic        TLS + htpasswd Basic auth
#   basic-http   plain HTTP + htpasswd Basic auth (loopback only, as tests are)
#   token        plain HTTP + Bearer tokens from tests/servers/token-server.py
#   token-https  TLS + Bearer tokens (the token service itself is plain HTTP on 127.0.0.1)
#
# After registry_start these are exported (and written to DIR/env):
#   FERRY_REG_ADDR         127.0.0.1:PORT, what goes before /repo in a reference
#   FERRY_REG_CERT_DIR     for TLS modes: a docker-style cert dir (ca.crt, and
#                          client.cert + client.key for mtls); empty otherwise
#   FERRY_REG_USER, FERRY_REG_PASS           a user with pull+push (auth modes)
#   FERRY_REG_READER, FERRY_REG_READER_PASS  a pull-only user (token modes)
#   FERRY_REG_REFRESH_TOKEN                  an identity token for FERRY_REG_USER (token modes)
#   FERRY_REG_TOKEN_LOG    JSON lines, one per token request (token modes)
# Names avoid the REGISTRY_ prefix: docker-registry reads REGISTRY_* variables
# as configuration overrides (and it is started without any of them).

REGISTRY_START_TIMEOUT=${REGISTRY_START_TIMEOUT:-30}
_registry_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

_registry_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

_registry_wait_port() {
	local port=$1 pidfile=$2 i
	for ((i = 0; i < REGISTRY_START_TIMEOUT * 10; i++)); do
		if ! kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null; then
			return 1
		fi
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# A bcrypt htpasswd line (the only hash docker-registry accepts).  Cost 5
# (htpasswd's default): the registry checks it on every request, and cost 12
# (Python's default) takes a quarter of a second each time.
_registry_bcrypt() {
	if command -v htpasswd >/dev/null 2>&1; then
		htpasswd -nbB -C 5 "$1" "$2" | head -n 1
	else
		python3 -W ignore -c 'import crypt, sys
print(sys.argv[1] + ":" + crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=32)))' "$1" "$2"
	fi
}

# CA, server certificate for 127.0.0.1/localhost, client certificate.
_registry_certs() {
	local t=$1/tls
	mkdir -p "$t" || return 1
	(
		set -e
		cd "$t"
		openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
			-keyout ca.key -out ca.crt -days 2 -subj "/CN=ferry test CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
		openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
			-keyout server.key -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
		openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
			-out server.crt -days 2 -extfile server.ext 2>/dev/null
		openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
			-keyout client.key -out client.csr -subj "/CN=ferry test client" 2>/dev/null
		printf 'extendedKeyUsage=clientAuth\n' >client.ext
		openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
			-out client.crt -days 2 -extfile client.ext 2>/dev/null
	)
}

# Token signing key and self-signed certificate (RS256, sent in the x5c header).
_registry_token_keys() {
	local t=$1/token
	mkdir -p "$t" || return 1
	openssl req -x509 -new -nodes -newkey rsa:2048 -keyout "$t/key.pem" -out "$t/cert.pem" \
		-days 2 -subj "/CN=ferry test token issuer" 2>/dev/null
}

registry_start() {
	local mode=${1:?registry_start: MODE missing} dir=${2:?registry_start: DIR missing} want_port=${3:-}
	local port tport tls=false auth='' scheme=http var
	local -a unset_env=()

	if ! command -v docker-registry >/dev/null 2>&1; then
		echo "registry_start: docker-registry not found (apt-get install docker-registry)" >&2
		return 1
	fi
	case $mode in
	http) ;;
	https | mtls) tls=true ;;
	basic) tls=true auth=htpasswd ;;
	basic-http) auth=htpasswd ;;
	token) auth=token ;;
	token-https) tls=true auth=token ;;
	*)
		echo "registry_start: unknown mode '$mode'" >&2
		return 1
		;;
	esac
	mkdir -p "$dir" || return 1
	dir=$(cd "$dir" && pwd) || return 1
	if [ -e "$dir/registry.pid" ] && kill -0 "$(cat "$dir/registry.pid")" 2>/dev/null; then
		echo "registry_start: a registry already runs in $dir" >&2
		return 1
	fi
	mkdir -p "$dir/data" || return 1
	if [ -n "$want_port" ]; then
		port=$want_port
	else
		port=$(_registry_free_port) || return 1
	fi

	FERRY_REG_ADDR=127.0.0.1:$port
	FERRY_REG_CERT_DIR=
	FERRY_REG_USER=
	FERRY_REG_PASS=
	FERRY_REG_READER=
	FERRY_REG_READER_PASS=
	FERRY_REG_REFRESH_TOKEN=
	FERRY_REG_TOKEN_LOG=

	{
		echo "version: 0.1"
		echo "log:"
		echo "  level: info"
		echo "storage:"
		echo "  filesystem:"
		echo "    rootdirectory: $dir/data"
		echo "  delete:"
		echo "    enabled: true"
		echo "http:"
		echo "  addr: 127.0.0.1:$port"
		echo "  secret: ferry-test-secret"
	} >"$dir/config.yml"

	if $tls; then
		_registry_certs "$dir" || {
			echo "registry_start: cannot make certificates (openssl)" >&2
			return 1
		}
		scheme=https
		{
			echo "  tls:"
			echo "    certificate: $dir/tls/server.crt"
			echo "    key: $dir/tls/server.key"
			if [ "$mode" = mtls ]; then
				echo "    clientcas:"
				echo "      - $dir/tls/ca.crt"
			fi
		} >>"$dir/config.yml"
		FERRY_REG_CERT_DIR=$dir/certs.d
		mkdir -p "$FERRY_REG_CERT_DIR"
		cp "$dir/tls/ca.crt" "$FERRY_REG_CERT_DIR/ca.crt"
		if [ "$mode" = mtls ]; then
			cp "$dir/tls/client.crt" "$FERRY_REG_CERT_DIR/client.cert"
			cp "$dir/tls/client.key" "$FERRY_REG_CERT_DIR/client.key"
		fi
	fi

	case $auth in
	htpasswd)
		FERRY_REG_USER=ferry
		FERRY_REG_PASS=ferry-pw-$RANDOM$RANDOM
		_registry_bcrypt "$FERRY_REG_USER" "$FERRY_REG_PASS" >"$dir/htpasswd" || {
			echo "registry_start: cannot make a bcrypt hash (install apache2-utils)" >&2
			return 1
		}
		{
			echo "auth:"
			echo "  htpasswd:"
			echo "    realm: ferry-test"
			echo "    path: $dir/htpasswd"
		} >>"$dir/config.yml"
		;;
	token)
		_registry_token_keys "$dir" || {
			echo "registry_start: cannot make the token key (openssl)" >&2
			return 1
		}
		tport=$(_registry_free_port) || return 1
		FERRY_REG_USER=ferry
		FERRY_REG_PASS=ferry-pw-$RANDOM$RANDOM
		FERRY_REG_READER=reader
		FERRY_REG_READER_PASS=reader-pw-$RANDOM
		FERRY_REG_REFRESH_TOKEN=refresh-$RANDOM$RANDOM$RANDOM
		FERRY_REG_TOKEN_LOG=$dir/token.log
		: >"$FERRY_REG_TOKEN_LOG"
		{
			echo "$FERRY_REG_USER:$FERRY_REG_PASS:pull,push,delete"
			echo "$FERRY_REG_READER:$FERRY_REG_READER_PASS:pull"
			echo "refresh:$FERRY_REG_REFRESH_TOKEN:$FERRY_REG_USER"
			echo "anonymous::"
		} >"$dir/token-users"
		python3 "$_registry_lib_dir/../servers/token-server.py" --port "$tport" \
			--key "$dir/token/key.pem" --cert "$dir/token/cert.pem" \
			--issuer ferry-test-issuer --service ferry-test-registry \
			--users "$dir/token-users" --log "$FERRY_REG_TOKEN_LOG" \
			--verbose \
			</dev/null >"$dir/token-server.log" 2>&1 &
		echo $! >"$dir/token.pid"
		if ! _registry_wait_port "$tport" "$dir/token.pid"; then
			echo "registry_start: the token server did not start; its log:" >&2
			tail -n 20 "$dir/token-server.log" >&2
			registry_stop "$dir"
			return 1
		fi
		{
			echo "auth:"
			echo "  token:"
			echo "    realm: http://127.0.0.1:$tport/token"
			echo "    service: ferry-test-registry"
			echo "    issuer: ferry-test-issuer"
			echo "    rootcertbundle: $dir/token/cert.pem"
		} >>"$dir/config.yml"
		;;
	esac

	# docker-registry reads REGISTRY_* as configuration: start it without any.
	for var in $(compgen -e); do
		case $var in REGISTRY_*) unset_env+=(-u "$var") ;; esac
	done
	env "${unset_env[@]}" docker-registry serve "$dir/config.yml" </dev/null >"$dir/registry.log" 2>&1 &
	echo $! >"$dir/registry.pid"
	if ! _registry_wait_port "$port" "$dir/registry.pid"; then
		echo "registry_start: docker-registry did not start; its log:" >&2
		tail -n 20 "$dir/registry.log" >&2
		registry_stop "$dir"
		return 1
	fi
	export FERRY_REG_ADDR FERRY_REG_CERT_DIR FERRY_REG_USER FERRY_REG_PASS FERRY_REG_READER \
		FERRY_REG_READER_PASS FERRY_REG_REFRESH_TOKEN FERRY_REG_TOKEN_LOG
	{
		for var in FERRY_REG_ADDR FERRY_REG_CERT_DIR FERRY_REG_USER FERRY_REG_PASS FERRY_REG_READER \
			FERRY_REG_READER_PASS FERRY_REG_REFRESH_TOKEN FERRY_REG_TOKEN_LOG; do
			printf 'export %s=%q\n' "$var" "${!var}"
		done
		echo "FERRY_REG_URL=$scheme://127.0.0.1:$port"
	} >"$dir/env"
}

registry_stop() {
	local dir=${1:?registry_stop: DIR missing} f pid i
	for f in registry.pid token.pid; do
		[ -f "$dir/$f" ] || continue
		pid=$(cat "$dir/$f")
		rm -f "$dir/$f"
		if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
			continue
		fi
		# (each step may fail harmlessly: keep going under set -e too)
		kill "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	return 0
}
