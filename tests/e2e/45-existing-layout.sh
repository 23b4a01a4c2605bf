#!/bin/bash
# Converting into an existing OCI layout adds to it: the index gets the new
# images next to the old ones, blobs already there are not rewritten.
# shellcheck source=tests/e2e/lib-e2e.sh
. "$(dirname "$0")/lib-e2e.sh"

# ident FILE: inode, size and mtime (ns) - changes if the file is rewritten.
ident() {
	stat -c '%i %s %.9Y' "$1" 2>&1
}

"$FERRY" convert -q "$SAMPLE" full/ >/dev/null 2>&1
tap_is "$(oci_refs full)" "1.0 13 2.1" "precondition: a full conversion for comparison"

tap_ok "first: example/base:1.0 into a new layout" \
	"$FERRY" convert -q --image example/base:1.0 "$SAMPLE" layout/
tap_is "$(oci_refs layout)" "1.0" "first: the layout holds base"
tap_is "$(blob_count layout)" 3 "first: 3 blobs (manifest, config, layer)"
base_layer=layout/blobs/sha256/${L_BASE#sha256:}
base_manifest=layout/blobs/sha256/$(oci_digest_of layout 1.0 | cut -d: -f2)
base_config=layout/blobs/sha256/${ID_BASE#sha256:}
id_layer=$(ident "$base_layer")
id_manifest=$(ident "$base_manifest")
id_config=$(ident "$base_config")
tap_like "$id_layer" '^[0-9]+ 7168 [0-9]' "first: the base layer blob is there (7168 bytes)"

# Second image into the existing directory (no trailing slash: it exists).
tap_ok "second: example/app:13 into the existing layout" \
	"$FERRY" convert -q --image example/app:13 "$SAMPLE" layout
tap_is "$(oci_refs layout)" "1.0 13" "second: index.json has both images"
tap_is "$(jq '.manifests | length' layout/index.json 2>/dev/null)" 2 "second: exactly 2 index entries"
tap_is "$(ferry_map layout digest)" "$(ferry_map full digest | grep -v example/tool)" \
	"second: same manifest digests as a conversion of both at once"
tap_is "$(blob_count layout)" 6 "second: 6 blobs (base layer shared, not duplicated)"
tap_is "$(ident "$base_layer")" "$id_layer" "second: the shared base layer blob was not rewritten"
tap_is "$(ident "$base_manifest")" "$id_manifest" "second: base's manifest blob was not rewritten"
tap_is "$(ident "$base_config")" "$id_config" "second: base's config blob was not rewritten"
id_layer=$(ident "$base_layer")	# (so a failure above does not repeat below)
tap_ok "second: ferry verify" "$FERRY" verify layout
check_oci_tools "second" layout 1.0 etc/example-release 'Example Base'
check_oci_tools "second" layout 13 app/app.conf 'workers = 2'

# Third, from another kind of source (an umoci-made image with a bare tag),
# written through the oci: prefix.
tap_ok "third: precondition: umoci builds a small image" make_image umoci-src extra "extra content"
tap_ok "third: the umoci image into the layout via oci:DIR" "$FERRY" convert -q umoci-src oci:layout
tap_is "$(oci_refs layout)" "1.0 13 extra" "third: index.json has all three"
tap_is "$(blob_count layout)" 9 "third: 9 blobs"
tap_is "$(ident "$base_layer")" "$id_layer" "third: the base layer blob was not rewritten"
check_oci_tools "third" layout extra extra/extra.txt '^extra content$'
tap_is "$(image_facts layout | grep -c .)" 3 "third: 3 images whose configs match their digests"

# The same images again: nothing new.
idx=$(jq -cS '.manifests | sort_by(.digest)' layout/index.json 2>/dev/null)
blobs=$(tree_sums layout/blobs)
tap_ok "again: the same two sample images once more" \
	"$FERRY" convert -q --image example/base:1.0 --image example/app:13 "$SAMPLE" layout
tap_is "$(jq '.manifests | length' layout/index.json 2>/dev/null)" 3 "again: still 3 index entries, no duplicates"
tap_is "$(oci_refs layout)" "1.0 13 extra" "again: same names"
tap_is "$(tree_sums layout/blobs)" "$blobs" "again: the same blobs, same content"
tap_is "$(jq -cS '.manifests | sort_by(.digest)' layout/index.json 2>/dev/null)" "$idx" \
	"again: index.json has the same entries"
tap_is "$(ident "$base_layer")" "$id_layer" "again: the base layer blob was not rewritten"

# Fourth: the last sample image; the index now holds everything.
tap_ok "fourth: example/tool:2.1" "$FERRY" convert -q --image example/tool:2.1 "$SAMPLE" layout
tap_is "$(oci_refs layout)" "1.0 13 2.1 extra" "fourth: 4 images"
tap_is "$(ferry_map layout digest | grep example/)" "$(ferry_map full digest)" \
	"fourth: the sample's three images as in a single conversion"
tap_is "$(blob_count layout)" 13 "fourth: 13 blobs (9 + manifest, config, 2 layers)"
tap_ok "fourth: ferry verify" "$FERRY" verify layout
tap_is "$(find layout -name '.*' | wc -l)" 0 "no temp files left in the layout"

# The same with an OCI layout as the source (layer digests known up front).
tap_ok "from OCI: base into a new layout" "$FERRY" convert -q --image example/base:1.0 full l2/
id2=$(ident "l2/blobs/sha256/${L_BASE#sha256:}")
tap_ok "from OCI: app into it" "$FERRY" convert -q --image example/app:13 full l2
tap_is "$(oci_refs l2)" "1.0 13" "from OCI: index.json has both"
tap_is "$(ident "l2/blobs/sha256/${L_BASE#sha256:}")" "$id2" "from OCI: the shared base layer blob was not rewritten"
tap_is "$(blob_count l2)" 6 "from OCI: 6 blobs"

tap_done
