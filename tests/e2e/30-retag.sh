#!/bin/bash
# Retagging while converting: --tag, --add-tag, --registry, --prefix,
# --image, --repository; invalid references are refused (exit 2).
# shellcheck disable=SC2016 # single-quoted scripts for bash -c, on purpose
# shellcheck source=tests/e2e/lib-e2e.sh
. "$(dirname "$0")/lib-e2e.sh"

# ---- --tag OLD=NEW ---------------------------------------------------------------
tap_ok "--tag: rename example/app:13 to example/app:14 (docker-archive)" \
	"$FERRY" convert -q --tag example/app:13=example/app:14 "$SAMPLE" tag.tar
tap_is "$(ferry_names tag.tar)" \
	"docker.io/example/app:14 docker.io/example/base:1.0 docker.io/example/tool:2.1" \
	"--tag: app:13 is now app:14, nothing else changed"
tap_is "$(tar xOf tag.tar manifest.json | jq -r '.[].RepoTags[]' | LC_ALL=C sort | xargs)" \
	"example/app:14 example/base:1.0 example/tool:2.1" "--tag: manifest.json RepoTags"
tap_is "$(ferry_field tag.tar docker.io/example/app:14 config)" "$ID_APP" "--tag: app:14 is the app image"
check_docker_load "--tag" tag.tar "example/app:14=$ID_APP" "example/base:1.0=$ID_BASE" "example/tool:2.1=$ID_TOOL"
tap_ok "--tag: into an OCI layout" "$FERRY" convert -q --tag example/app:13=example/app:14 "$SAMPLE" tag-oci/
tap_is "$(oci_refs tag-oci)" "1.0 14 2.1" "--tag: OCI ref.name 14 replaces 13"
tap_ok "--tag: skopeo inspect oci:14" skopeo inspect oci:tag-oci:14
tap_is "$(jq -r '.Labels["org.example.image"]' "$TAP_OUT" 2>/dev/null)" app "--tag: oci:14 is the app image"
tap_fails "--tag: skopeo finds no oci:13 any more" skopeo inspect oci:tag-oci:13

# ---- --add-tag OLD=NEW ---------------------------------------------------------------
tap_ok "--add-tag: example/base:1.0 also as example/base:latest" \
	"$FERRY" convert -q --add-tag example/base:1.0=example/base:latest "$SAMPLE" add.tar
tap_is "$(ferry_names add.tar)" \
	"docker.io/example/app:13 docker.io/example/base:1.0 docker.io/example/base:latest docker.io/example/tool:2.1" \
	"--add-tag: both names"
check_docker_load "--add-tag" add.tar "example/app:13=$ID_APP" "example/base:1.0=$ID_BASE" \
	"example/base:latest=$ID_BASE" "example/tool:2.1=$ID_TOOL"
tap_ok "--add-tag: into an OCI layout" "$FERRY" convert -q --add-tag example/base:1.0=example/base:latest "$SAMPLE" add-oci/
tap_is "$(oci_refs add-oci)" "1.0 13 2.1 latest" "--add-tag: OCI has ref.names 1.0 and latest"
tap_is "$(oci_digest_of add-oci latest)" "$(oci_digest_of add-oci 1.0)" "--add-tag: latest and 1.0 are the same manifest"
tap_is "$(blob_count add-oci)" 10 "--add-tag: no extra blobs"
check_oci_tools "--add-tag" add-oci latest etc/example-release 'Example Base'

# ---- --registry HOST:PORT -----------------------------------------------------------------
tap_ok "--registry localhost:5000" "$FERRY" convert -q --registry localhost:5000 "$SAMPLE" reg.tar
tap_is "$(ferry_names reg.tar)" \
	"localhost:5000/example/app:13 localhost:5000/example/base:1.0 localhost:5000/example/tool:2.1" \
	"--registry: docker.io/example/app:13 -> localhost:5000/example/app:13"
check_docker_load "--registry" reg.tar "localhost:5000/example/app:13=$ID_APP" \
	"localhost:5000/example/base:1.0=$ID_BASE" "localhost:5000/example/tool:2.1=$ID_TOOL"
tap_ok "--registry: into an OCI layout" "$FERRY" convert -q --registry localhost:5000 "$SAMPLE" reg-oci/
tap_is "$(jq -r '.manifests[].annotations["io.containerd.image.name"]' reg-oci/index.json 2>/dev/null | LC_ALL=C sort | xargs)" \
	"localhost:5000/example/app:13 localhost:5000/example/base:1.0 localhost:5000/example/tool:2.1" \
	"--registry: OCI io.containerd.image.name annotations"
tap_ok "--registry: the same without it, for comparison" "$FERRY" convert -q "$SAMPLE" plain-oci/
tap_is "$(ferry_map reg-oci digest | sed 's/^localhost:5000\//docker.io\//')" "$(ferry_map plain-oci digest)" \
	"--registry: manifests unchanged (same digests as without it)"
tap_ok "--tag then --registry together" \
	"$FERRY" convert -q --tag example/app:13=example/app:14 --registry localhost:5000 "$SAMPLE" tagreg.tar
tap_is "$(ferry_names tagreg.tar)" \
	"localhost:5000/example/app:14 localhost:5000/example/base:1.0 localhost:5000/example/tool:2.1" \
	"--tag then --registry: renamed and moved"

# ---- --prefix HOST/PATH -----------------------------------------------------------------
tap_ok "--prefix registry.example.com:5000/mirror" \
	"$FERRY" convert -q --prefix registry.example.com:5000/mirror "$SAMPLE" pfx.tar
tap_is "$(ferry_names pfx.tar)" \
	"registry.example.com:5000/mirror/example/app:13 registry.example.com:5000/mirror/example/base:1.0 registry.example.com:5000/mirror/example/tool:2.1" \
	"--prefix: every repository under the prefix"
check_docker_load "--prefix" pfx.tar "registry.example.com:5000/mirror/example/app:13=$ID_APP" \
	"registry.example.com:5000/mirror/example/base:1.0=$ID_BASE" \
	"registry.example.com:5000/mirror/example/tool:2.1=$ID_TOOL"
tap_ok "--prefix mirror.local/team (no port)" "$FERRY" convert -q --prefix mirror.local/team "$SAMPLE" pfx2-oci/
tap_is "$(ferry_names pfx2-oci)" \
	"mirror.local/team/example/app:13 mirror.local/team/example/base:1.0 mirror.local/team/example/tool:2.1" \
	"--prefix without port"
check_oci_tools "--prefix" pfx2-oci 2.1 opt/tool/VERSION '^2\.1$'

# ---- --image -----------------------------------------------------------------------------
tap_ok "--image example/app:13 --image docker.io/example/tool:2.1" \
	"$FERRY" convert -q --image example/app:13 --image docker.io/example/tool:2.1 "$SAMPLE" sel-oci/
tap_is "$(ferry_names sel-oci)" "docker.io/example/app:13 docker.io/example/tool:2.1" "--image: only the two selected"
tap_is "$(blob_count sel-oci)" 8 "--image: 8 blobs (2 manifests, 2 configs, 4 layers), no base config"
tap_ok "--image: base's config is not there" test ! -e "sel-oci/blobs/sha256/${ID_BASE#sha256:}"
tap_ok "--image by image ID (config digest)" "$FERRY" convert -q --image "$ID_BASE" "$SAMPLE" sel-id.tar
tap_is "$(ferry_names sel-id.tar)" "docker.io/example/base:1.0" "--image ID: only example/base:1.0"
check_docker_load "--image" sel-id.tar "example/base:1.0=$ID_BASE"
tap_fails "--image: an image that is not there fails" "$FERRY" convert -q --image example/nope:1 "$SAMPLE" sel-none.tar
tap_like "$(cat "$TAP_OUT")" 'example/nope:1' "--image: the error names the missing image"
tap_ok "--image: nothing written for a missing image" test ! -e sel-none.tar

# ---- --repository for bare tags (skopeo oci:DIR:TAG) ------------------------------------------
skopeo copy -q "docker-archive:$SAMPLE:example/app:13" oci:bare:app13 >/dev/null 2>&1
skopeo copy -q "docker-archive:$SAMPLE:example/tool:2.1" oci:bare:tool21 >/dev/null 2>&1
bare_facts=$(image_facts bare)
cfg_app=$(grep -F ",$L_APP" <<<"$bare_facts" | cut -d' ' -f1)
cfg_tool=$(grep -F ",$L_TOOLV" <<<"$bare_facts" | cut -d' ' -f1)
tap_is "$(oci_refs bare)" "app13 tool21" "--repository: precondition: skopeo wrote bare tags"
tap_ok "--repository example/mirror: bare-tag OCI -> docker-archive" \
	"$FERRY" convert -q --repository example/mirror bare repo.tar
tap_is "$(tar xOf repo.tar manifest.json | jq -r '.[].RepoTags[]' | LC_ALL=C sort | xargs)" \
	"example/mirror:app13 example/mirror:tool21" "--repository: RepoTags repository:tag"
check_docker_load "--repository" repo.tar "example/mirror:app13=$cfg_app" "example/mirror:tool21=$cfg_tool"

"$FERRY" convert --repository example/mirror bare repo-err.tar >repo.out 2>repo.err
tap_is "$(grep -ci warning repo.err)" 0 "--repository: no warning when every image gets a name"

"$FERRY" convert bare norepo.tar >norepo.out 2>norepo.err
rc=$?
tap_is "$rc" 0 "no --repository: bare-tag OCI -> docker-archive still succeeds"
tap_like "$(cat norepo.err)" 'warning.*app13' "no --repository: a warning on stderr names app13"
tap_like "$(cat norepo.err)" 'warning.*tool21' "no --repository: a warning on stderr names tool21"
tap_like "$(cat norepo.err)" '--repository' "no --repository: the warning suggests --repository"
tap_is "$(grep -ci warning norepo.out)" 0 "no --repository: the warning is not on stdout"
tap_is "$(tar xOf norepo.tar manifest.json 2>/dev/null | jq -r '[.[].RepoTags // [] | length] | join(" ")')" "0 0" \
	"no --repository: both images written untagged (empty RepoTags)"
tap_ok "no --repository: daemon emptied" docker_reset
tap_ok "no --repository: docker load accepts it" docker load -i norepo.tar
tap_is "$(docker_id "$cfg_app")" "$cfg_app" "no --repository: docker has the app image by ID"
tap_is "$(docker_id "$cfg_tool")" "$cfg_tool" "no --repository: docker has the tool image by ID"
tap_is "$(docker_tags)" "" "no --repository: docker has no tags"

# ---- invalid references: exit 2, message names them ------------------------------------------
bad_n=0
bad_conv() {	# bad_conv LABEL BAD-STRING OPTIONS...
	local label=$1 bad=$2 out rc
	shift 2
	bad_n=$((bad_n + 1))
	out=bad-$bad_n.tar
	"$FERRY" convert -q "$@" "$SAMPLE" "$out" >bad.out 2>&1
	rc=$?
	tap_is "$rc" 2 "$label: exit status 2"
	tap_like "$(cat bad.out)" "$(printf '%s' "$bad" | sed 's/[][\.*^$(){}+?|]/\\&/g')" "$label: the message names '$bad'"
	tap_ok "$label: nothing written" test ! -e "$out"
}
bad_conv "--tag to an uppercase name" "example/App:14" --tag "example/app:13=example/App:14"
bad_conv "--tag with a space" "bad ref" --tag "example/app:13=bad ref"
bad_conv "--add-tag to a bad tag" "example/app:not@tag" --add-tag "example/app:13=example/app:not@tag"
bad_conv "--tag from a bad name" "example/App:13" --tag "example/App:13=example/app:14"
bad_conv "--image with a bad name" "EXAMPLE" --image "EXAMPLE"
bad_conv "--registry with a bad host" "bad host" --registry "bad host"
bad_conv "--prefix with a bad path" "Bad/Prefix" --prefix "Bad/Prefix"
bad_conv "--tag without =" "example/app:13" --tag "example/app:13"

tap_done
