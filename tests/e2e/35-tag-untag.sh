#!/bin/bash
# ferry tag / ferry untag in place on a docker-archive (the fixture's legacy
# layout and ferry's own), an OCI layout and an oci-archive.
# shellcheck source=tests/e2e/lib-e2e.sh
. "$(dirname "$0")/lib-e2e.sh"

APP=docker.io/example/app:13
BASE=docker.io/example/base:1.0
TOOL=docker.io/example/tool:2.1

cp "$SAMPLE" legacy.tar
"$FERRY" convert -q "$SAMPLE" da.tar >/dev/null 2>&1
"$FERRY" convert -q "$SAMPLE" oci/ >/dev/null 2>&1
"$FERRY" convert -q --format oci-archive "$SAMPLE" oa.tar >/dev/null 2>&1
app_digest=$(ferry_field oci "$APP" digest)
tap_like "$app_digest" '^sha256:[0-9a-f]{64}$' "precondition: app's manifest digest is known"

# fingerprint LOC: a checksum of everything in LOC.
fingerprint() {
	if [ -d "$1" ]; then tree_sums "$1" | sha; else sha "$1"; fi
}

for loc in legacy.tar da.tar oci oa.tar; do
	l="[$loc]"
	tap_ok "$l tag example/app:13 as example/app:stable and localhost:5000/app:x" \
		"$FERRY" tag "$loc" example/app:13 example/app:stable localhost:5000/app:x
	tap_is "$(ferry_names "$loc")" \
		"$APP docker.io/example/app:stable $BASE $TOOL localhost:5000/app:x" "$l tag: names added"
	tap_is "$(ferry_field "$loc" docker.io/example/app:stable config)" "$ID_APP" "$l tag: stable is the app image"
	tap_is "$(ferry_field "$loc" localhost:5000/app:x digest)" "$(ferry_field "$loc" "$APP" digest)" \
		"$l tag: the new name has app:13's manifest"
	tap_is "$(image_facts "$loc")" "$SAMPLE_FACTS" "$l tag: images unchanged"
	tap_ok "$l tag: ferry verify" "$FERRY" verify "$loc"
	tap_is "$(ferry_temp_files .)" "" "$l tag: no temp files left"

	before=$(fingerprint "$loc")
	"$FERRY" tag "$loc" example/app:13 'example/app:Not Valid' >err.txt 2>&1
	tap_is "$?" 2 "$l tag to an invalid reference: exit 2"
	tap_like "$(cat err.txt)" 'example/app:Not Valid' "$l tag to an invalid reference: message names it"
	tap_is "$(fingerprint "$loc")" "$before" "$l tag to an invalid reference: nothing changed"
	"$FERRY" tag "$loc" example/nope:1 example/nope:2 >err.txt 2>&1
	tap_is "$?" 5 "$l tag of a missing image: exit 5"
	tap_like "$(cat err.txt)" 'example/nope:1' "$l tag of a missing image: message names it"
	tap_is "$(fingerprint "$loc")" "$before" "$l tag of a missing image: nothing changed"
	"$FERRY" untag "$loc" example/nope:1 >err.txt 2>&1
	tap_is "$?" 5 "$l untag of a missing name: exit 5"
	tap_is "$(fingerprint "$loc")" "$before" "$l untag of a missing name: nothing changed"

	tap_ok "$l untag example/app:13" "$FERRY" untag "$loc" example/app:13
	tap_is "$(ferry_names "$loc")" \
		"docker.io/example/app:stable $BASE $TOOL localhost:5000/app:x" "$l untag: app:13 gone, the rest kept"
	tap_ok "$l untag the only name of example/base:1.0" "$FERRY" untag "$loc" docker.io/example/base:1.0
	tap_is "$(ferry_names "$loc")" "docker.io/example/app:stable $TOOL localhost:5000/app:x" \
		"$l untag: base is gone"
	tap_is "$("$FERRY" ls --json "$loc" 2>/dev/null | jq '.images | length')" 2 "$l untag: 2 images left"
	tap_ok "$l untag: ferry verify" "$FERRY" verify "$loc"
	tap_is "$(ferry_temp_files .)" "" "$l untag: no temp files left"
done

# What the tools see after the edits.
tap_is "$(oci_refs oci)" "2.1 stable x" "[oci] ref.names after tag and untag"
check_oci_tools "[oci]" oci stable app/app.conf 'workers = 2'
tap_is "$(oci_digest_of oci stable)" "$app_digest" "[oci] stable is app's manifest"
tap_ok "[oci] skopeo inspect oci:x" skopeo inspect oci:oci:x
tap_is "$(jq -r .Digest "$TAP_OUT" 2>/dev/null)" "$app_digest" "[oci] skopeo: x is app's manifest"
tap_fails "[oci] skopeo finds no oci:13 any more" skopeo inspect oci:oci:13
tap_fails "[oci] skopeo finds no oci:1.0 any more" skopeo inspect oci:oci:1.0
tap_ok "[oci-archive] skopeo inspect oci-archive:stable" skopeo inspect oci-archive:oa.tar:stable
tap_is "$(jq -r .Digest "$TAP_OUT" 2>/dev/null)" "$app_digest" "[oci-archive] skopeo: stable is app's manifest"
tap_fails "[oci-archive] skopeo finds no oci-archive:13 any more" skopeo inspect oci-archive:oa.tar:13
for loc in legacy.tar da.tar; do
	check_docker_load "[$loc]" "$loc" "example/app:stable=$ID_APP" "localhost:5000/app:x=$ID_APP" \
		"example/tool:2.1=$ID_TOOL"
	tap_ok "[$loc] skopeo inspect docker-archive:...:example/app:stable" \
		skopeo inspect "docker-archive:$loc:example/app:stable"
done

# Refused in place: a whole-compressed archive, stdin, an invalid REF.
gzip -c "$SAMPLE" >sample.tar.gz
before=$(sha sample.tar.gz)
"$FERRY" tag sample.tar.gz example/app:13 example/app:gz >err.txt 2>&1
tap_is "$?" 2 "tag on a gzip-compressed archive: refused with exit 2"
tap_like "$(cat err.txt)" 'sample\.tar\.gz' "tag on a gzip-compressed archive: message names the file"
tap_is "$(sha sample.tar.gz)" "$before" "tag on a gzip-compressed archive: file unchanged"
tap_is "$("$FERRY" tag - example/app:13 example/app:x <"$SAMPLE" >/dev/null 2>&1; echo $?)" 2 \
	"tag on stdin: refused with exit 2"
"$FERRY" untag da.tar 'BAD REF' >err.txt 2>&1
tap_is "$?" 2 "untag of an invalid reference: exit 2"
tap_like "$(cat err.txt)" 'BAD REF' "untag of an invalid reference: message names it"
tap_is "$("$FERRY" tag da.tar example/app:stable >/dev/null 2>&1; echo $?)" 2 "tag without NEWREF: exit 2"
tap_is "$("$FERRY" untag da.tar >/dev/null 2>&1; echo $?)" 2 "untag without REF: exit 2"

# An image that skopeo named only by a bare tag: ferry ls shows it as ":TAG";
# that same name must work for tag and untag.
skopeo copy -q "docker-archive:$SAMPLE:example/app:13" oci:bare:app13 >/dev/null 2>&1
shown=$(ferry_names bare)
tap_is "$shown" ":app13" "bare tag: ferry ls shows :app13"
tap_ok "bare tag: ferry tag accepts the name ferry ls shows" "$FERRY" tag bare "$shown" example/bare:1
tap_is "$(oci_refs bare)" "1 app13" "bare tag: the image got the new name"

tap_done
