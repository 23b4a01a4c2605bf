#!/bin/bash
# Smoke test of the test harness itself: the tools the e2e tests rely on
# are there, the private dockerd answers, and fixtures/sample.tar is a
# docker-save tarball that real tools accept. Does not use ferry.
# shellcheck source=tests/lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"

sample=$FERRY_FIXTURES/sample.tar
tags="example/app:13 example/base:1.0 example/tool:2.1"

for tool in skopeo umoci docker jq; do
	if need_tool "$tool"; then
		tap_ok "$tool is installed" "$tool" --version
	else
		tap_ok "$tool is installed" false
	fi
done

tap_like "${DOCKER_HOST:-}" '^unix://' "DOCKER_HOST points at a private unix socket"
tap_ok "docker info answers on DOCKER_HOST" docker info
tap_ok "fixtures/sample.tar exists" test -s "$sample"

manifest=$(tar xOf "$sample" manifest.json 2>/dev/null)
tap_is "$(jq length <<<"$manifest" 2>/dev/null)" 3 "manifest.json lists 3 images"
tap_is "$(jq -r '.[].RepoTags[]' <<<"$manifest" 2>/dev/null | sort | xargs)" \
	"$tags" "manifest.json has the 3 expected tags"

# docker load must see exactly these tags; remove them first so a re-run
# against the same daemon still tests the load.
# shellcheck disable=SC2086 # one argument per tag
docker rmi -f $tags >/dev/null 2>&1
tap_ok "docker load accepts fixtures/sample.tar" docker load -i "$sample"
loaded=$(grep -o 'Loaded image: .*' "$TAP_OUT" | sed 's/Loaded image: //' | sort | xargs)
tap_is "$loaded" "$tags" "docker load reports the 3 tags"
# (Other tests may have left more example/ images in the shared daemon: check ours are there.)
pats=()
for t in $tags; do pats+=(-e "$t"); done
listed=$(docker images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null |
	grep -Fx "${pats[@]}" | sort | xargs)
tap_is "$listed" "$tags" "docker images lists the 3 tags"

tap_ok "skopeo inspects example/app:13 in the archive" \
	skopeo inspect "docker-archive:$sample:example/app:13"
tap_is "$(jq -r '.Layers | length' "$TAP_OUT" 2>/dev/null)" 2 \
	"skopeo sees 2 layers in example/app:13"
tap_is "$(jq -r '.Os + "/" + .Architecture' "$TAP_OUT" 2>/dev/null)" linux/amd64 \
	"example/app:13 is linux/amd64"
app_base=$(jq -r '.Layers[0]' "$TAP_OUT" 2>/dev/null)

tap_ok "skopeo inspects example/tool:2.1 in the archive" \
	skopeo inspect "docker-archive:$sample:example/tool:2.1"
tap_is "$(jq -r '.Layers | length' "$TAP_OUT" 2>/dev/null)" 3 \
	"skopeo sees 3 layers in example/tool:2.1"
tap_is "$(jq -r '.Layers[0]' "$TAP_OUT" 2>/dev/null)" "$app_base" \
	"example/app:13 and example/tool:2.1 share their base layer"

tap_done
