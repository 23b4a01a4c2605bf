#!/bin/bash
# Volumes for media (--split) and the signed transfer manifest (issue 13
# sections 4 and 5): volumes are consecutive pieces of one archive (cat gives
# it back; sha256sum -c checks them; docker load and skopeo read the cat'ed
# file), every ferry command reads a set from NAME.001 or NAME, bad volumes
# are named, a signed manifest (Ed25519, P-256: keys by openssl) verifies
# and any change to a volume, the manifest or its signature is caught, runs
# are deterministic, and a failed or killed run leaves nothing.
# shellcheck source=tests/e2e/lib-e2e.sh
. "$(dirname "$0")/lib-e2e.sh"

need_tool umoci jq openssl sha256sum || { tap_skip "volumes" "umoci, jq, openssl or sha256sum missing"; tap_done; }
MIB=1048576
ORDER=$(cd "$(dirname "$0")" && pwd)/image_order.py

# peak RSS (KB) of "ferry ARGS...": judged under 64 MB, not under ASan.
rss_ok() {
	local name=$1 kb
	shift
	if [ -n "${ASAN_OPTIONS:-}" ]; then
		tap_skip "$name: peak RSS under 64 MB" "ASan build: its quarantine, not ferry, sets RSS"
		return
	fi
	/usr/bin/time -f '%M' -o rss "$FERRY" "$@" >/dev/null 2>&1 || { tap_is "failed" "ran" "$name: runs"; return; }
	kb=$(tail -n 1 rss)
	tap_is "$((kb < 65536))" 1 "$name: peak RSS under 64 MB ($kb KB)"
}

# ---- a source: one image with a 2.5 MB incompressible layer, and a small one ----
umoci init --layout lay >/dev/null 2>&1
umoci new --image lay:big >/dev/null 2>&1 && umoci unpack --rootless --image lay:big bb >/dev/null 2>&1 &&
	head -c 2500000 /dev/urandom >bb/rootfs/big.bin && umoci repack --image lay:big bb >/dev/null 2>&1 &&
	umoci config --image lay:big --os linux --architecture amd64 --config.cmd cat >/dev/null 2>&1
rm -rf bb
tap_ok "source: a second, small image" make_image lay small "small"
tap_ok "source: a whole docker-archive of it" "$FERRY" convert -q --repository example/vol lay/ docker-archive:whole.tar
tap_ok "source: a whole oci-archive of it" "$FERRY" convert -q lay/ oci-archive:whole-oci.tar

# ---- sizes ----
for bad in 1023k 1000000 0 12X 1.5G -1M "" 2000T; do
	tap_fails "--split '$bad' is refused" "$FERRY" convert -q --split "$bad" lay/ docker-archive:bad.tar
done
tap_like "$("$FERRY" convert -q --split 1023k lay/ docker-archive:bad.tar 2>&1)" "at least 1M" \
	"--split below 1M: the message says the minimum"
tap_is "$(ls bad.tar* 2>/dev/null | xargs)" "" "a refused --split writes nothing"
for good in dvd fat32 bd 1G 3MB; do
	rm -f g.tar*
	tap_ok "--split $good is taken" "$FERRY" convert -q --repository example/vol --split "$good" lay/ docker-archive:g.tar
	tap_is "$(ls g.tar.0* | xargs)" "g.tar.001" "--split $good: everything fits one volume"
done
tap_fails "--split on an OCI layout destination is refused" "$FERRY" convert -q --split 1M lay/ oci:lay2/
tap_fails "--split to stdout is refused" "$FERRY" convert -q --split 1M lay/ docker-archive:-

# ---- a docker-archive cut into 1M volumes ----
tap_ok "convert --split 1M" "$FERRY" convert -q --repository example/vol --split 1M lay/ docker-archive:set.tar
n=$(ls set.tar.0* | wc -l)
tap_is "$((n >= 3))" 1 "--split 1M: at least 3 volumes ($n)"
tap_is "$(stat -c %s set.tar.0* | awk -v m=$MIB '$1 > m' | wc -l)" 0 "every volume is at most 1M"
tap_ok "cat of the volumes is the whole archive, byte for byte" cmp <(cat set.tar.0*) whole.tar
tap_ok "sha256sum -c set.tar.sha256 (from its directory)" sha256sum -c --quiet set.tar.sha256
tap_is "$(cut -d' ' -f3 set.tar.sha256 | xargs)" "$(ls set.tar.0* | xargs)" "set.tar.sha256 lists every volume, in order"
# The transfer manifest says which blobs each volume holds: the layer (> 1M)
# spans volumes, every blob that fits a volume lies in exactly one.
big=$(jq -r '.blobs[] | select(.size > 1048576) | .digest' set.tar.transfer.json)
tap_like "$big" '^sha256:[0-9a-f]{64}$' "the big layer is listed in the transfer manifest"
tap_is "$(jq --arg d "$big" '[.volumes[] | select(.blobs | index($d))] | length' set.tar.transfer.json)" 3 \
	"a blob larger than a volume is split across volumes"
tap_is "$(jq '[.blobs[] | select(.size < 1048576) | .digest] as $s | [.volumes[].blobs[] | select(. as $b | $s | index($b))] | length' set.tar.transfer.json)" \
	"$(jq '[.blobs[] | select(.size < 1048576)] | length' set.tar.transfer.json)" \
	"every blob that fits a volume lies in exactly one volume (cuts fall between entries)"
tap_is "$(jq -r '[.volumes[] | .sha256 + "  " + .name] | .[]' set.tar.transfer.json)" "$(cat set.tar.sha256)" \
	"the transfer manifest's volumes and set.tar.sha256 agree"
tap_is "$(jq -c .expects set.tar.transfer.json)" "[]" "a full archive expects nothing from the far side"

# ---- every command reads the set, from NAME.001 and from NAME ----
for name in set.tar.001 set.tar; do
	tap_is "$("$FERRY" ls "$name" 2>/dev/null | tail -n +2 | awk '{print $1}' | LC_ALL=C sort | xargs)" \
		"docker.io/example/vol:big docker.io/example/vol:small" "ferry ls $name"
	tap_ok "ferry verify $name" "$FERRY" verify -q "$name"
	tap_ok "ferry inspect $name" "$FERRY" inspect "$name" example/vol:big
	rm -rf back
	tap_ok "ferry convert $name -> OCI layout" "$FERRY" convert -q "$name" back/
	tap_is "$(image_facts back)" "$(image_facts lay)" "$name -> OCI: the same images (configs, diff_ids)"
done
rss_ok "convert of a volume set" convert -q set.tar back2/
rss_ok "verify of a volume set" verify -q set.tar.001

# ---- ferry serve of a set: the big layer spans volumes, and is served whole ----
serve_pid=
prev_trap=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT$//")
# shellcheck disable=SC2064 # expand prev_trap now
trap "[ -n \"\$serve_pid\" ] && kill \"\$serve_pid\" 2>/dev/null; $prev_trap" EXIT
mkdir srv.run
(cd srv.run && exec "$FERRY" serve --json --listen 127.0.0.1:0 "$TAP_TMP/set.tar.001") >srv.out 2>srv.err &
serve_pid=$!
port=
for _ in $(seq 1 100); do
	port=$(head -n 1 srv.out 2>/dev/null | jq -r '.url // empty' 2>/dev/null | sed 's/.*://')
	[ -n "$port" ] && break
	kill -0 "$serve_pid" 2>/dev/null || break
	sleep 0.1
done
tap_like "$port" '^[0-9]+$' "ferry serve of a set starts"
layer_file=lay/blobs/sha256/${big#sha256:}
tap_ok "serve: a blob spanning volumes is served whole" \
	cmp <(curl -sf "http://127.0.0.1:$port/v2/example/vol/blobs/$big") "$layer_file"
tap_ok "serve: a range of it across a cut" \
	cmp <(curl -sf -r 1048000-1048999 "http://127.0.0.1:$port/v2/example/vol/blobs/$big") \
	<(tail -c +1048001 "$layer_file" | head -c 1000)
if need_tool skopeo; then
	tap_ok "serve: skopeo copies the image from the served set" \
		skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$port/example/vol:big" oci:srv-pull:big
fi
kill "$serve_pid" 2>/dev/null
wait "$serve_pid" 2>/dev/null
serve_pid=

# ---- ferry push of a set into a private docker-registry ----
if need_tool docker-registry skopeo; then
	# shellcheck source=tests/lib/registry.sh
	. "$_tap_repo/tests/lib/registry.sh"
	export XDG_CACHE_HOME=$TAP_TMP/cache DOCKER_CONFIG=$TAP_TMP/docker-config
	mkdir -p "$DOCKER_CONFIG"
	prev_trap=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT$//")
	# shellcheck disable=SC2064 # expand prev_trap now
	trap "registry_stop '$TAP_TMP/reg'; $prev_trap" EXIT
	if tap_ok "registry starts" registry_start http "$TAP_TMP/reg"; then
		tap_ok "ferry push of a set (from its base name)" \
			"$FERRY" push -q --tls-verify=false --registry "$FERRY_REG_ADDR" set.tar
		tap_is "$(skopeo inspect --tls-verify=false "docker://$FERRY_REG_ADDR/example/vol:big" | jq -r .Digest)" \
			"$(jq -r '.images[] | select(.names[0] | endswith("vol:big")) | .digest' set.tar.transfer.json)" \
			"push: the registry has the image under the digest the transfer manifest lists"
		rm -rf pulled
		tap_ok "push: ferry pulls it back and it verifies" \
			"$FERRY" convert -q --tls-verify=false "docker://$FERRY_REG_ADDR/example/vol:big" pulled/
		tap_ok "push: the pulled image verifies" "$FERRY" verify -q pulled/
	fi
else
	tap_skip "ferry push of a set" "docker-registry or skopeo missing"
fi

# ---- plain tools ----
cat set.tar.0* >cat.tar
if need_tool docker && docker info >/dev/null 2>&1; then
	id_big=sha256:$(tar xOf whole.tar manifest.json | jq -r '.[] | select(.RepoTags[0] == "example/vol:big") | .Config' | sed 's|.*/||')
	id_small=sha256:$(tar xOf whole.tar manifest.json | jq -r '.[] | select(.RepoTags[0] == "example/vol:small") | .Config' | sed 's|.*/||')
	check_docker_load "cat of a docker-archive set" cat.tar "example/vol:big=$id_big" "example/vol:small=$id_small"
else
	tap_skip "cat of a docker-archive set: docker load" "no docker daemon"
fi
tap_ok "oci-archive --split 1M" "$FERRY" convert -q --split 1M lay/ oci-archive:oset.tar
tap_ok "cat of an oci-archive set is the whole oci-archive" cmp <(cat oset.tar.0*) whole-oci.tar
cat oset.tar.0* >ocat.tar
if need_tool skopeo; then
	tap_ok "skopeo reads the cat'ed oci-archive" skopeo copy -q oci-archive:ocat.tar:big oci:sk:big
	tap_is "$(image_facts sk)" "$(image_facts lay | grep -F "$(image_facts sk | cut -d' ' -f1)")" \
		"skopeo: the image it read is the source's"
else
	tap_skip "skopeo reads the cat'ed oci-archive" "skopeo missing"
fi

# ---- image by image: each image's layers, config and manifest before the next image's blobs ----
make_image three one "1" && make_image three two "2"
b=$(mktemp -d "$TAP_TMP/.plus.XXXXXX") && rmdir "$b"
{ umoci unpack --rootless --image three:one "$b" && echo 3 >"$b/rootfs/plus.txt" &&
	umoci repack --image three:plus "$b"; } >/dev/null 2>&1
rm -rf "$b"
tap_is "$(jq '.manifests | length' three/index.json)" 3 "source: three images, one sharing the first's layer"
tap_ok "oci-archive of them" "$FERRY" convert -q three/ oci-archive:three-oci.tar
tap_ok "the oci-archive holds them image by image (a shared layer with its first image)" \
	python3 "$ORDER" three-oci.tar
tap_ok "docker-archive of them, from that oci-archive" "$FERRY" convert -q --repository example/three \
	three-oci.tar docker-archive:three.tar
tap_ok "the docker-archive holds them image by image" python3 "$ORDER" three.tar
tap_ok "the archive cut into volumes above holds its images image by image" \
	python3 "$ORDER" whole-oci.tar

# ---- bad volumes are named ----
cp set.tar.002 keep.002
mv set.tar.002 gone.002
tap_like "$("$FERRY" ls set.tar 2>&1)" "volume 2 of $n, set.tar.002, is missing \(it holds blob.*$big" \
	"a missing volume is named, with the blobs it held"
out=$("$FERRY" verify set.tar.001 2>&1)
tap_like "$out" "set.tar.002, is missing" "verify names the missing volume"
mv gone.002 set.tar.002
head -c 1000 keep.002 >set.tar.002
tap_like "$("$FERRY" convert -q set.tar short/ 2>&1)" "set.tar.002, is short: 1000 bytes" "a short volume is named"
tap_fails "a short volume: convert fails" "$FERRY" convert -q set.tar short/
tap_is "$(ls -d short 2>/dev/null)" "" "a short volume: nothing written"
cp keep.002 set.tar.002
printf 'X' | dd of=set.tar.002 bs=1 seek=4242 conv=notrunc status=none
cp set.tar.003 keep.003
printf 'X' | dd of=set.tar.003 bs=1 seek=100 conv=notrunc status=none
out=$("$FERRY" verify set.tar 2>&1)
tap_like "$out" "set.tar.002, is corrupt" "verify names a corrupt volume"
tap_like "$out" "set.tar.003, is corrupt" "verify names every corrupt volume"
tap_fails "verify of a corrupt set fails" "$FERRY" verify -q set.tar
tap_fails "sha256sum -c agrees: the set is bad" sha256sum -c --quiet set.tar.sha256
cp keep.003 set.tar.003
# A byte changed inside the big layer, which spans the first three volumes.
out=$("$FERRY" convert -q set.tar corrupt/ 2>&1)
tap_like "$out" "${big#sha256:}: content hashes to .*volumes set.tar.001 to set.tar.003" \
	"convert of a corrupt volume names the blob and the volumes its bytes lie in"
tap_is "$(ls -d corrupt 2>/dev/null)" "" "a corrupt volume: nothing written"
cp keep.002 set.tar.002
cp keep.003 set.tar.003
tap_ok "restored volumes read again" "$FERRY" verify -q set.tar
cp set.tar.001 v1 && cp set.tar.002 set.tar.001 && cp v1 set.tar.002
out=$("$FERRY" verify set.tar 2>&1)
tap_like "$out" "set.tar.001, is corrupt or out of place" "swapped volumes: the first is named"
tap_like "$out" "set.tar.002, is corrupt or out of place" "swapped volumes: the second is named"
tap_fails "swapped volumes: ls fails" "$FERRY" ls set.tar
cp set.tar.002 set.tar.001 && cp keep.002 set.tar.002
tap_ok "set restored" sha256sum -c --quiet set.tar.sha256
mv set.tar.003 renamed.003
tap_like "$("$FERRY" verify set.tar 2>&1)" "set.tar.003, is missing" "a renamed volume is missing under its name"
mv renamed.003 set.tar.003
printf 'zz  set.tar.001\n' >hostile.sha256
mkdir h && cp set.tar.0* h/ && cp hostile.sha256 h/set.tar.sha256
tap_like "$("$FERRY" ls h/set.tar 2>&1)" "set.tar.sha256: line 1" "a hostile .sha256 is refused, naming its line"

# ---- signed transfer manifests ----
openssl genpkey -algorithm ED25519 -out ed.pem 2>/dev/null
openssl pkey -in ed.pem -pubout -out ed.pub
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem 2>/dev/null
openssl pkey -in ec.pem -pubout -out ec.pub
for k in ed ec; do
	rm -f s-$k.tar*
	tap_ok "$k: convert --split --sign-key" "$FERRY" convert -q --split 1M --sign-key $k.pem lay/ docker-archive:s-$k.tar
	tap_ok "$k: signature file written" test -s s-$k.tar.transfer.sig
	tap_ok "$k: verify --key (from NAME.001)" "$FERRY" verify -q --key $k.pub s-$k.tar.001
	tap_like "$("$FERRY" verify --key $k.pub s-$k.tar 2>&1)" "transfer manifest signed by $k.pub" \
		"$k: verify --key names the signing key"
done
tap_fails "a wrong key fails" "$FERRY" verify -q --key ec.pub s-ed.tar
tap_like "$("$FERRY" verify --key ec.pub s-ed.tar 2>&1)" "does not verify with ec.pub" "a wrong key: the message says so"
tap_ok "one of several keys verifies" "$FERRY" verify -q --key ec.pub --key ed.pub s-ed.tar
cp s-ed.tar.002 k2
printf 'X' | dd of=s-ed.tar.002 bs=1 seek=77 conv=notrunc status=none
tap_like "$("$FERRY" verify --key ed.pub s-ed.tar 2>&1)" "s-ed.tar.002, is corrupt" "signed: a changed volume is named"
tap_fails "signed: a changed volume fails verify --key" "$FERRY" verify -q --key ed.pub s-ed.tar
cp k2 s-ed.tar.002
cp s-ed.tar.transfer.json tj
sed -i 's/"ferryTransfer":1/"ferryTransfer":1 /' s-ed.tar.transfer.json
tap_like "$("$FERRY" verify --key ed.pub s-ed.tar 2>&1)" "transfer manifest was changed" "signed: a changed manifest fails"
cp tj s-ed.tar.transfer.json
cp s-ed.tar.transfer.sig ts
sig=$(cat ts)
printf '%s\n' "$(echo "$sig" | tr 'A-Za-z' 'B-ZAb-za' )" >s-ed.tar.transfer.sig
tap_fails "signed: a changed signature fails" "$FERRY" verify -q --key ed.pub s-ed.tar
cp ts s-ed.tar.transfer.sig
tap_ok "signed: restored, it verifies" "$FERRY" verify -q --key ed.pub s-ed.tar
tap_ok "a single archive signed with P-256" "$FERRY" convert -q --sign-key ec.pem lay/ oci-archive:one.tar
tap_ok "a single signed archive verifies" "$FERRY" verify -q --key ec.pub one.tar
tap_is "$(jq -r '.volumes[0].sha256' one.tar.transfer.json)" "$(sha one.tar)" "its manifest lists the archive's sha256"
printf 'X' | dd of=one.tar bs=1 seek=2000 conv=notrunc status=none
tap_like "$("$FERRY" verify --key ec.pub one.tar 2>&1)" "one.tar has changed since its transfer manifest was signed" \
	"a single signed archive changed: named"
tap_fails "an unsigned archive checked with --key fails" "$FERRY" verify -q --key ec.pub whole.tar
rm s-ec.tar.transfer.sig
tap_like "$("$FERRY" verify --key ec.pub s-ec.tar 2>&1)" "not signed" "a set without its signature fails with --key"

# ---- deterministic ----
mkdir d1 d2
"$FERRY" convert -q --split 1M --sign-key ed.pem lay/ docker-archive:d1/x.tar
"$FERRY" convert -q --split 1M --sign-key ed.pem lay/ docker-archive:d2/x.tar
tap_ok "two runs give the same bytes (volumes, sums, manifest, Ed25519 signature)" diff -r d1 d2

# ---- a failed or killed run leaves nothing ----
mkdir bad && tar xf whole.tar -C bad
layer=blobs/sha256/${big#sha256:}
printf 'X' | dd of="bad/$layer" bs=1 seek=1500000 conv=notrunc status=none
(cd bad && tar cf ../bad-src.tar manifest.json index.json oci-layout blobs 2>/dev/null || tar cf ../bad-src.tar ./*)
mkdir f
tap_fails "a run that fails (a corrupt layer)" "$FERRY" convert -q --split 1M bad-src.tar docker-archive:f/x.tar
tap_is "$(ls -A f | xargs)" "" "a failed run leaves no volume, no .sha256, no temporary file"
mkdir k ord && tar xf whole.tar -C ord
# The archive with manifest.json first and the big layer last, fed through a
# FIFO that stalls inside that layer: the run writes the other blobs into a
# volume, then waits for more.
(cd ord && tar cf ../ordered.tar manifest.json $(ls | grep -v '^manifest.json$' | grep -v '^blobs$') \
	$(find blobs -type f ! -name "${big#sha256:}") "blobs/sha256/${big#sha256:}")
mkfifo fifo
{ head -c 2000000 ordered.tar; exec sleep 300; } >fifo &
feeder=$!
"$FERRY" convert -q --split 1M fifo docker-archive:k/x.tar 2>/dev/null &
run=$!
for _ in $(seq 1 300); do
	[ -n "$(ls -A k)" ] && [ "$(find k -name '.x.tar.00*' -size +0 | wc -l)" -gt 0 ] && break
	sleep 0.1
done
tap_like "$(ls -A k | xargs)" "x.tar.001.ferry-" "killed run: it was writing a volume under a temporary name"
kill -9 "$run"
wait "$run" 2>/dev/null
kill "$feeder" 2>/dev/null
tap_is "$(ls k | xargs)" "" "kill -9 while writing volumes: no volume, no .sha256 left"
tap_ok "the next run succeeds there" "$FERRY" convert -q --split 1M lay/ docker-archive:k/x.tar
tap_is "$(ferry_temp_files k)" "" "the next run swept the killed run's temporary files"

tap_done
