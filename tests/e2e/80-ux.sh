#!/bin/bash
# For the people who run ferry:
#  - help: `ferry help CMD` is exactly `ferry CMD --help`, for every command
#  - progress: --progress none / -q / --quiet print nothing; plain prints a
#    line per finished blob (short digest, size, what happened), a total line
#    at most every 5 s (a slow source with a 5.5 s pause gets exactly one),
#    no escapes; bar (through a pseudo-terminal) redraws live lines with ANSI
#    escapes, with bytes, rate and ETA, at most ~10 times a second (checked
#    on an image of 400 layers); auto is bar on a terminal, plain elsewhere;
#    progress never reaches stdout
#  - --json of ls, inspect, convert, push, verify: every document checked
#    against the documented schema (tests/e2e/json_check.py), its values
#    against what ferry ls and the files say; failures print
#    {"ok": false, "error", "code"} with the exit status as code
#  - shell completion: bash (loads, completes commands, options, values,
#    location prefixes and paths) and zsh (through a zpty)
#  - man pages: every page converts with scdoc and renders with man -l, one
#    per command, exit codes and JSON documented
#  - install: `meson install --destdir` installs the command, man pages and
#    completions (the library and its headers: 05-library.sh)
# shellcheck disable=SC2317 # functions run through tap_ok look unreachable
repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib-e2e.sh
. "$repo/tests/e2e/lib-e2e.sh"

BUILD=$(cd "$(dirname "$FERRY")" && pwd)
CHECK=$repo/tests/e2e/json_check.py

need_tool python3 jq || {
	tap_ok "python3 and jq are installed" false
	tap_done
}

# ---- helpers -------------------------------------------------------------------------

# A docker-save tarball (legacy layout: metadata first, so that a layer read
# from a pipe streams without being spooled): mkimage.py OUT TAG LAYERS SIZE.
cat >mkimage.py <<'EOF'
import hashlib, io, json, random, sys, tarfile
out, tag, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(tag)
layers = []
for i in range(n):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        data = rnd.randbytes(size)
        ti = tarfile.TarInfo(f"data/{i}.bin"); ti.size = len(data); ti.mtime = 0
        t.addfile(ti, io.BytesIO(data))
    layers.append(buf.getvalue())
ids = ["sha256:" + hashlib.sha256(l).hexdigest() for l in layers]
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                     "rootfs": {"type": "layers", "diff_ids": ids}}).encode()
chex = hashlib.sha256(config).hexdigest()
paths = [f"{i[7:]}/layer.tar" for i in ids]
manifest = json.dumps([{"Config": chex + ".json", "RepoTags": [tag], "Layers": paths}]).encode()
with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as t:
    def add(name, data):
        ti = tarfile.TarInfo(name); ti.size = len(data); ti.mtime = 0
        t.addfile(ti, io.BytesIO(data))
    add("manifest.json", manifest)
    add(chex + ".json", config)
    for p, l in zip(paths, layers):
        add(p, l)
EOF

# slowcat.py FILE CHUNK DELAY [PAUSE_AT PAUSE]: FILE to stdout, CHUNK bytes every
# DELAY seconds, with one pause of PAUSE seconds after PAUSE_AT bytes.
cat >slowcat.py <<'EOF'
import sys, time
data = open(sys.argv[1], "rb").read()
chunk, delay = int(sys.argv[2]), float(sys.argv[3])
pause_at = int(sys.argv[4]) if len(sys.argv) > 4 else -1
pause = float(sys.argv[5]) if len(sys.argv) > 5 else 0
out = sys.stdout.buffer
paused = False
for off in range(0, len(data), chunk):
    if not paused and 0 <= pause_at <= off:
        time.sleep(pause); paused = True
    out.write(data[off:off + chunk]); out.flush()
    time.sleep(delay)
EOF

# pty_run.py ERR OUT SECONDS cmd...: run cmd with stderr on a pseudo-terminal
# (120 columns) and stdout to OUT; what the terminal got goes to ERR, the run
# time to SECONDS. Exits with cmd's status.
cat >pty_run.py <<'EOF'
import fcntl, os, pty, struct, subprocess, sys, termios, time
err, out, secs, cmd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
m, s = pty.openpty()
fcntl.ioctl(s, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
t0 = time.monotonic()
with open(out, "wb") as so:
    p = subprocess.Popen(cmd, stdout=so, stderr=s)
os.close(s)
buf = b""
while True:
    try:
        d = os.read(m, 65536)
    except OSError:
        break
    if not d:
        break
    buf += d
rc = p.wait()
open(secs, "w").write("%.3f\n" % (time.monotonic() - t0))
open(err, "wb").write(buf)
sys.exit(rc)
EOF

python3 mkimage.py big.tar example/big:1 1 $((8 << 20))
python3 mkimage.py many.tar example/many:1 400 1024
ESC=$'\033'

# json_ok KIND FILE NAME: FILE is a valid KIND document.
json_ok() {
	tap_ok "$3" python3 "$CHECK" "$1" "$2"
}

# ---- help --------------------------------------------------------------------------------
cmds=$("$FERRY" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && $1 != "help" {print $1}' | xargs)
tap_like "$cmds" '^ls convert verify tag untag prune inspect inventory push login logout batch serve$' "ferry --help lists every command, batch, prune, inventory and serve too"
for c in $cmds; do
	a=$("$FERRY" help "$c"; echo "rc=$?")
	b=$("$FERRY" "$c" --help; echo "rc=$?")
	tap_is "$a" "$b" "ferry help $c is ferry $c --help"
	tap_like "$a" "^Usage: ferry $c " "ferry help $c starts with its usage line"
done
tap_fails "ferry help nosuchcommand fails" "$FERRY" help nosuchcommand

# ---- progress ------------------------------------------------------------------------------
for q in "--progress none" -q --quiet "--progress=none"; do
	# shellcheck disable=SC2086
	"$FERRY" convert $q "$SAMPLE" "q$RANDOM/" >q.out 2>q.err
	tap_is "$?:$(cat q.out q.err)" "0:" "convert $q prints nothing at all"
done
"$FERRY" verify -q "$SAMPLE" >q.out 2>q.err
tap_is "$?:$(cat q.out q.err)" "0:" "verify -q prints nothing"

"$FERRY" convert --progress plain "$SAMPLE" plain/ >plain.out 2>plain.err
tap_is "$?" 0 "convert --progress plain"
tap_is "$(wc -c <plain.out)" 0 "plain: nothing on stdout"
tap_is "$(grep -c "$ESC" plain.err)" 0 "plain: no escape sequences"
re_blob='^sha256:[0-9a-f]{12} +[0-9.]+k?B +(written|existing|deduplicated)$'
# (A layer two images share may show up twice, the second time as deduplicated.)
tap_is "$(grep -E "$re_blob" plain.err | awk '$3 == "written" {print $1}' | sort | uniq -c | awk '{print $1}' | xargs)" \
	"1 1 1 1" "plain: one line per layer written (4 distinct layers in sample.tar)"
tap_is "$(grep -E "$re_blob" plain.err | awk '$3 != "written" && $3 != "deduplicated"' | wc -l)" 0 \
	"plain: a layer seen again in the same run can only be deduplicated"
tap_is "$(grep -E "$re_blob" plain.err | awk '{print $1}' | sort -u | xargs)" \
	"$(for l in $L_BASE $L_APP $L_TOOL $L_TOOLV; do echo "${l:0:19}"; done | sort | xargs)" \
	"plain: the lines name the layers by short digest"
tap_is "$(grep -cE '^image sha256:[0-9a-f]{64}  docker.io/example/' plain.err)" 3 "plain: a line per image written"
tap_like "$(tail -n 1 plain.err)" '^converted 3 images to plain/: ' "plain: the summary comes last"
tap_is "$(grep -c '^total:' plain.err)" 0 "plain: no total line in a run shorter than 5 s"
"$FERRY" convert --progress plain "$SAMPLE" plain/ 2>plain2.err >/dev/null
tap_is "$(grep -E "$re_blob" plain2.err | awk '{print $3}' | sort -u | xargs)" existing \
	"plain: converting again, every layer is existing"

"$FERRY" convert "$SAMPLE" auto/ >auto.out 2>auto.err
tap_is "$(grep -E "$re_blob" auto.err | awk '{print $1}' | sort -u | wc -l):$(grep -c "$ESC" auto.err)" "4:0" \
	"auto with stderr not a terminal is plain"

# The total line is time-based: a source that stalls 5.5 s mid-layer gets one.
python3 slowcat.py big.tar 262144 0.01 $((4 << 20)) 5.5 |
	"$FERRY" convert --progress plain - slow/ >slow.out 2>slow.err
tap_is "$?" 0 "plain: a slow source (one 5.5 s stall)"
tap_is "$(grep -c '^total: ' slow.err)" 1 "plain: exactly one total line in a ~6 s run (at most one per 5 s)"
tap_like "$(grep '^total: ' slow.err)" '^total: [0-9]+ blobs? done, .* read, .*/s, 0:0[5-9]$' \
	"plain: the total line says blobs, bytes, rate and time"

# Bar: through a pseudo-terminal, a slowly fed 8 MiB layer.
python3 slowcat.py big.tar 262144 0.05 | python3 pty_run.py bar.err bar.out bar.secs \
	"$FERRY" convert --progress bar - bar/
tap_is "$?" 0 "bar: convert through a pseudo-terminal"
tap_is "$(wc -c <bar.out)" 0 "bar: nothing on stdout"
tap_like "$(cat bar.err)" "${ESC}\[[0-9]+A" "bar: the live lines are redrawn in place (cursor up)"
tap_like "$(cat bar.err)" "${ESC}\[2K" "bar: ... and cleared before each redraw"
tap_like "$(tr -d '\r' <bar.err)" '  [^ ]+/layer\.tar  \[#+\.*\]  [0-9.]+MB / 8\.4MB  [0-9.]+[kM]B/s  ETA [0-9]+:[0-9]{2}' \
	"bar: a live line for the blob in flight: bar, bytes of total, rate, ETA"
tap_like "$(tr -d '\r' <bar.err)" 'total: [0-9]+ blobs? done, .*1 in flight' "bar: a total line under it"
tap_like "$(tr -d '\r' <bar.err)" 'sha256:[0-9a-f]{12} +8\.4MB  written' "bar: the finished blob stays as a plain line"
tap_like "$(tr -d '\r' <bar.err | tail -n 1)" '^converted 1 image to bar/: ' "bar: the summary comes last"

python3 pty_run.py auto-tty.err auto-tty.out auto-tty.secs "$FERRY" convert "$SAMPLE" auto-tty/
tap_like "$(cat auto-tty.err)" "${ESC}\[" "auto on a terminal is bar"
python3 pty_run.py none-tty.err none-tty.out none-tty.secs "$FERRY" convert -q "$SAMPLE" none-tty/
tap_is "$(wc -c <none-tty.err)" 0 "-q on a terminal prints nothing"

# Redraws are rate-limited: 400 layers make 800 events, the total line is drawn ~10 times a second.
python3 pty_run.py many.err many.out many.secs "$FERRY" convert --progress bar many.tar many/
tap_is "$?" 0 "bar: convert an image of 400 layers"
draws=$(grep -o 'total: ' many.err | wc -l)
secs=$(cat many.secs)
tap_ok "bar: at most ~10 redraws a second ($draws in ${secs}s)" \
	python3 -c "import sys; d, s = int(sys.argv[1]), float(sys.argv[2]); sys.exit(not (1 <= d <= 10 * s + 3))" "$draws" "$secs"
tap_is "$(tr -d '\r' <many.err | grep -cE 'sha256:[0-9a-f]{12} +[0-9.]+kB  written')" 400 "bar: every finished layer has its line"

tap_fails "--progress with a bad mode is a usage error" "$FERRY" convert --progress fancy "$SAMPLE" x/
tap_like "$(cat "$TAP_OUT")" 'auto, bar, plain or none' "... which names the modes"

# ---- --json --------------------------------------------------------------------------------
"$FERRY" convert -q --json "$SAMPLE" j-oci/ >j1.json 2>j1.err
tap_is "$?" 0 "convert --json"
json_ok convert j1.json "convert --json follows the schema"
tap_is "$(wc -c <j1.err)" 0 "convert -q --json: nothing on stderr"
tap_is "$(jq -r '[.images[].names[]] | sort | join(" ")' j1.json)" "$SAMPLE_NAMES" "convert --json: the images' names"
tap_is "$(jq -r '.images[] | "\(.names[0]) \(.digest)"' j1.json | sort)" "$(ferry_map j-oci digest)" \
	"convert --json: the digests are those ferry ls sees in the layout"
tap_is "$(jq -r '[.images[].mediaType] | unique | join(" ")' j1.json)" application/vnd.oci.image.manifest.v1+json \
	"convert --json: media types as written"
tap_is "$(jq -c '[.blobs[] | .action] - ["written", "deduplicated"]' j1.json)" "[]" \
	"convert --json: a first convert writes (or deduplicates) every blob"
tap_is "$(jq -r '[.blobs[] | select(.action == "written") | .digest] | sort | join(" ")' j1.json)" \
	"$(printf '%s\n' "$L_BASE" "$L_APP" "$L_TOOL" "$L_TOOLV" | sort | xargs)" "convert --json: the written layers"
tap_is "$(jq -r '.blobs[] | "\(.digest) \(.size)"' j1.json | sort -u | while read -r d s; do
	[ "$(stat -c %s "j-oci/blobs/sha256/${d#sha256:}")" = "$s" ] || echo "size of $d"; done)" "" \
	"convert --json: blob sizes are the files' sizes"
tap_is "$(jq -r '.source, .destination, .command, .ok, (.bytes_written > 0), (.seconds >= 0)' j1.json | xargs)" \
	"$SAMPLE j-oci/ convert true true true" "convert --json: source, destination, command, ok, counts"
"$FERRY" convert -q --json "$SAMPLE" j-oci/ >j2.json
json_ok convert j2.json "convert --json into an existing layout follows the schema"
tap_is "$(jq -r '[.blobs[].action] | unique | join(" ")' j2.json):$(jq .bytes_written j2.json)" "existing:0" \
	"convert --json again: every blob existing, nothing written"

for dst in j-da.tar j-oa.tar; do
	fmt=docker-archive
	[ "$dst" = j-oa.tar ] && fmt=oci-archive
	"$FERRY" convert -q --json --format "$fmt" "$SAMPLE" "$dst" >j.json
	json_ok convert j.json "convert --json to $fmt follows the schema"
	tap_is "$(jq -r '.images[] | "\(.names[0]) \(.digest)"' j.json | sort)" "$(ferry_map "$dst" digest)" \
		"convert --json to $fmt: digests as ferry ls sees them"
done
"$FERRY" convert -q --json - j-stdin/ <"$SAMPLE" >j.json
json_ok convert j.json "convert --json from stdin follows the schema"
"$FERRY" convert -q --json --tag example/app:13=example/renamed:1 --image example/app:13 "$SAMPLE" j-retag/ >j.json
tap_is "$(jq -r '[.images[].names[]] | join(" ")' j.json)" docker.io/example/renamed:1 \
	"convert --json: names after --tag, only the --image asked for"

"$FERRY" convert --json nonexistent.tar x/ >jf.json 2>jf.err
rc=$?
tap_is "$rc" 5 "convert --json of a missing source exits 5"
json_ok failure jf.json "... and prints the failure document"
tap_is "$(jq -r '"\(.command) \(.ok) \(.code)"' jf.json)" "convert false 5" "... with command, ok false and the exit status"
tap_is "$(jq -r .error jf.json)" "$(sed -n 's/^ferry: //p' jf.err)" "... and the message printed on stderr"
"$FERRY" convert --json --no-such-option a b >jf.json 2>/dev/null
tap_is "$?:$(jq -r '"\(.ok) \(.code)"' jf.json)" "2:false 2" "convert --json with a bad option: a failure document, code 2"
"$FERRY" convert --json "$SAMPLE" - >jf.json 2>/dev/null
tap_is "$?:$(jq -r .code jf.json)" "2:2" "convert --json to stdout (-) is refused: both would use stdout"

"$FERRY" verify --json j-oci >v.json 2>v.err
tap_is "$?" 0 "verify --json of a good layout"
json_ok verify v.json "verify --json follows the schema"
tap_is "$(jq -c '[.command, .location, .problems, .ok]' v.json)" '["verify","j-oci",[],true]' "verify --json: clean"
cp -r j-oci j-bad
printf X | dd of="j-bad/blobs/sha256/${L_APP#sha256:}" bs=1 seek=100 conv=notrunc status=none
"$FERRY" verify --json j-bad >v.json 2>v.err
tap_is "$?" 3 "verify --json of a damaged layout exits 3"
json_ok verify v.json "... and its document follows the schema"
tap_is "$(jq -r '"\(.ok) \(.code) \(.problems | length > 0)"' v.json)" "false 3 true" "... ok false, code 3, problems listed"
tap_is "$(jq -r '.problems[]' v.json | sed 's/^/ferry: /')" "$(grep -v 'problems\? found$' v.err)" \
	"... the same problems as on stderr"
"$FERRY" verify --json nonexistent >v.json 2>/dev/null
tap_is "$?:$(jq -r '"\(.ok) \(.code)"' v.json)" "5:false 5" "verify --json of a missing location: code 5"
json_ok verify v.json "... in the verify schema"

"$FERRY" ls --json j-oci >l.json
json_ok ls l.json "ls --json follows the schema"
"$FERRY" ls --json nonexistent >l.json 2>/dev/null
tap_is "$?" 5 "ls --json of a missing location exits 5"
json_ok failure l.json "... and prints the failure document"
"$FERRY" inspect --json j-oci example/app:13 >i.json
json_ok inspect i.json "inspect --json follows the schema"

# push --json, against a private registry.
# shellcheck source=tests/lib/registry.sh
. "$repo/tests/lib/registry.sh"
reg_dir=$TAP_TMP/registry
prev_trap=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT$//")
# shellcheck disable=SC2064 # expand prev_trap now
trap "registry_stop '$reg_dir' >/dev/null 2>&1; $prev_trap" EXIT
if need_tool docker-registry && registry_start http "$reg_dir" >reg.log 2>&1; then
	A=$FERRY_REG_ADDR
	"$FERRY" push -q --json --registry "$A" "$SAMPLE" >p1.json 2>p1.err
	tap_is "$?" 0 "push --json to a registry"
	json_ok push p1.json "push --json follows the schema"
	tap_is "$(jq -r '[.images[].names[]] | sort | join(" ")' p1.json)" \
		"$A/example/app:13 $A/example/base:1.0 $A/example/tool:2.1" "push --json: the names pushed"
	tap_is "$(jq -c '[.blobs[].action] - ["uploaded", "mounted", "existing", "deduplicated"]' p1.json)" "[]" \
		"push --json: a push's actions are uploaded, mounted, existing or deduplicated"
	tap_like "$(jq -r '[.blobs[].action] | unique | join(" ")' p1.json)" uploaded "push --json: layers were uploaded"
	tap_is "$(jq -r '.manifests | length > 2' p1.json)" true "push --json: the manifests pushed"
	for r in app:13 base:1.0 tool:2.1; do
		tap_is "$(jq -r --arg n "$A/example/$r" '.images[] | select(.names | index($n)) | .digest' p1.json)" \
			"$("$FERRY" ls --json "docker://$A/example/$r" 2>/dev/null | jq -r '.images[0].digest')" \
			"push --json: the digest of $r is what the registry serves"
	done
	"$FERRY" push -q --json --registry "$A" "$SAMPLE" >p2.json
	json_ok push p2.json "push --json again follows the schema"
	tap_is "$(jq -r '[.blobs[].action] | unique | join(" ")' p2.json)" existing "push --json again: every blob existing"
	"$FERRY" push -q --json --image example/app:13 "$SAMPLE" "docker://$A/mirror/app:13" >p3.json
	json_ok push p3.json "push --json to a second repository follows the schema"
	tap_like "$(jq -r '[.blobs[].action] | join(" ")' p3.json)" mounted "push --json to a second repository: blobs mounted"
	tap_is "$(jq -r '[.blobs[] | select(.action == "mounted" and .size == null) | .digest] - [.blobs[] | select(.action != "mounted") | .digest] | length' p3.json)" \
		"$(jq -r '[.blobs[] | select(.action == "mounted" and .size == null)] | length' p3.json)" \
		"push --json: a mounted blob has the size another event of the run gave it"
	"$FERRY" convert -q --json --image example/app:13 "$SAMPLE" "docker://$A/conv/app:13" >p4.json
	json_ok convert p4.json "convert --json to docker:// follows the schema"
	tap_is "$(jq -r '"\([.images[].names[]] | join(",")) \(([.blobs[].action] - ["uploaded", "mounted", "existing", "deduplicated"]) | length) \(.manifests | length > 0)"' p4.json)" \
		"$A/conv/app:13 0 true" "convert --json to docker://: names pushed, registry actions, manifests"
	python3 pty_run.py pbar.err pbar.out pbar.secs "$FERRY" push --progress bar --image example/tool:2.1 "$SAMPLE" \
		"docker://$A/other/tool:2.1"
	tap_like "$(tr -d '\r' <pbar.err)" 'mounted from [^ ]+ into other/tool' "push bar: mounted blobs are shown as such"
	"$FERRY" push --progress plain --image example/base:1.0 "$SAMPLE" "docker://$A/third/base:1" >/dev/null 2>pplain.err
	tap_like "$(cat pplain.err)" 'sha256:[0-9a-f]{12} +- +mounted from ' "push plain: a line per mounted blob"
	tap_like "$(cat pplain.err)" "pushed $A/third/base:1" "push plain: a line per manifest pushed"
	registry_stop "$reg_dir" >/dev/null 2>&1
else
	tap_skip "push --json" "no registry (docker-registry) here"
fi

# ---- shell completion ----------------------------------------------------------------------
BASHC=$repo/completion/ferry.bash
tap_is "$(bash -c '. "$1" && complete -p ferry' _ "$BASHC" 2>&1)" "complete -F _ferry ferry" \
	"bash: the completion loads and registers _ferry"
mkdir -p cdir/sub && touch cdir/app.tar cdir/sub/x.tar
# comp LINE: the candidates _ferry gives for LINE (cursor at the end), sorted, one line.
comp() {
	(cd cdir && bash -c '. "$1"; COMP_LINE=$2; COMP_POINT=${#2}; read -ra COMP_WORDS <<<"$2"
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); [[ $2 == *" " ]] && COMP_CWORD=${#COMP_WORDS[@]}
		_ferry; printf "%s\n" "${COMPREPLY[@]}"' _ "$BASHC" "$1" | LC_ALL=C sort | xargs)
}
tap_is "$(comp "ferry ")" "--help --version batch convert help inspect inventory login logout ls prune push serve tag untag verify" \
	"bash: commands"
tap_is "$(comp "ferry ver")" "verify" "bash: a command from its start"
tap_is "$(comp "ferry batch --")" "--force --help --jobs --json --progress --quiet --shard --state" "bash: batch's options"
tap_like "$(comp "ferry convert --")" '--add-tag .*--compress .*--format .*--json .*--progress .*--tls-verify' \
	"bash: convert's options, registry options too"
tap_like "$(comp "ferry convert --")" '--keep-zstd' "bash: convert's --keep-zstd"
tap_like "$(comp "ferry verify --")" '--strict' "bash: verify's --strict"
tap_like "$(comp "ferry convert --")" '--base .*--have' "bash: convert's --have and --base"
tap_is "$(comp "ferry inventory --")" "--cert-dir --creds --debug --help --insecure-registry --json --output --retries --stall-timeout --tls-verify --tls-verify=false" \
	"bash: inventory's options"
tap_is "$(comp "ferry convert --format ")" "docker-archive oci oci-archive" "bash: --format's values"
tap_is "$(comp "ferry verify --progress ")" "auto bar none plain" "bash: --progress's values"
tap_is "$(comp "ferry convert --progress=p")" "plain" "bash: --progress=VALUE"
tap_is "$(comp "ferry convert ")" "- app.tar docker-archive: docker:// oci-archive: oci: sub/" \
	"bash: a location: prefixes and paths"
tap_is "$(comp "ferry convert app.tar oci:s")" "sub/" "bash: a path after oci: (readline keeps the prefix)"
tap_is "$(comp "ferry ls docker-archive:sub/")" "sub/x.tar" "bash: files after docker-archive:"
tap_is "$(comp "ferry help con")" "convert" "bash: help COMMAND"
tap_like "$(comp "ferry serve --")" '--htpasswd .*--listen .*--prefix .*--tls-cert --tls-key' "bash: serve's options"
tap_is "$(comp "ferry serve ")" "app.tar docker-archive: oci-archive: oci: sub/" "bash: serve's locations (no registry, no stdin)"

if need_tool zsh; then
	tap_ok "zsh: _ferry parses" zsh -n "$repo/completion/_ferry"
	tap_is "$(zsh -fc 'fpath=("$1" $fpath); autoload -Uz compinit; compinit -u -d "$2/zcompdump"; print -r -- ${_comps[ferry]}' \
		_ "$repo/completion" "$TAP_TMP")" _ferry "zsh: compinit finds _ferry for ferry"
	cat >zcomp.zsh <<'EOF'
# zcomp.zsh COMPDIR TMP LINE...: type each LINE and a TAB into an interactive
# zsh, print what the command line became.
setopt extendedglob
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1='%% '; fpath=($1 \$fpath); autoload -Uz compinit; compinit -u -d $2/zcd; cd $2/cdir; print READY"
buf=
for i in {1..100}; do zpty -r -t z chunk && buf+=$chunk; [[ $buf == *READY*%* ]] && break; sleep 0.05; done
shift 2
for line in "$@"; do
	zpty -w -n z $'\C-u'"$line"$'\t'
	buf=
	for i in {1..40}; do zpty -r -t z chunk && buf+=$chunk; sleep 0.05; done
	print -r -- "${buf//$'\e'\[[0-9;?]#[A-Za-z]/}" | tr -d '\r\b' | tail -c 300 | tr '\n' ' '
	print
done
zpty -d z
EOF
	zout=$(timeout 60 zsh -f zcomp.zsh "$repo/completion" "$TAP_TMP" "ferry con" "ferry convert --form" \
		"ferry convert oci:s" "ferry batch --sh" 2>&1)
	tap_like "$(sed -n 1p <<<"$zout")" 'ferry convert' "zsh: completes a command"
	tap_like "$(sed -n 2p <<<"$zout")" 'ferry convert --format=' "zsh: completes an option"
	tap_like "$(sed -n 3p <<<"$zout")" 'ferry convert oci:sub/' "zsh: completes a path after oci:"
	tap_like "$(sed -n 4p <<<"$zout")" 'ferry batch --shard=' "zsh: completes batch's options"
else
	tap_skip "zsh completion" "zsh is not installed"
fi

# ---- man pages -----------------------------------------------------------------------------
if need_tool scdoc man; then
	mkdir -p man1
	for src in "$repo"/man/*.1.scd; do
		page=$(basename "$src" .scd)
		# shellcheck disable=SC2016 # expanded by the inner bash
		tap_ok "man: scdoc converts $page" bash -c 'scdoc <"$1" >"$2" 2>"$2.err"' _ "$src" "man1/$page"
		[ -s "man1/$page.err" ] && tap_diag "$(cat "man1/$page.err")"
		txt=$(MANWIDTH=100 MAN_KEEP_FORMATTING=0 man -l "man1/$page" 2>&1 | col -b)
		tap_like "$txt" "NAME[[:space:]]+${page%.1} - " "man: man -l renders $page with its NAME"
		tap_like "$txt" 'EXIT STATUS' "man: $page documents the exit status"
		# (.TH holds the date it was made.)
		[ -f "$BUILD/$page" ] && tap_is "$(grep -v '^\.TH ' "$BUILD/$page")" "$(grep -v '^\.TH ' "man1/$page")" \
			"man: the build made the same $page"
	done
	for c in $cmds; do
		tap_ok "man: ferry-$c(1) exists" test -f "$repo/man/ferry-$c.1.scd"
	done
	ferry1=$(MANWIDTH=200 man -l man1/ferry.1 2>/dev/null | col -b)
	for code in 0 1 2 3 4 5 6 130; do
		tap_like "$ferry1" "EXIT STATUS.*
       $code
" "man: ferry(1) documents exit code $code"
	done
	for k in '"bytes_read"' '"action"' '"problems"' '"digests"' '"manifests"' 'ok": false'; do
		tap_like "$ferry1" "JSON OUTPUT.*$k" "man: ferry(1) documents the JSON field $k"
	done
	for c in convert push verify batch ls; do
		tap_like "$(man -l "man1/ferry-$c.1" 2>/dev/null | col -b)" 'JSON OUTPUT' "man: ferry-$c(1) documents its JSON"
	done
else
	tap_skip "man pages" "scdoc or man missing"
fi

# ---- install ------------------------------------------------------------------------------
DEST=$TAP_TMP/destdir
if meson install -C "$BUILD" --no-rebuild --destdir "$DEST" >install.log 2>&1; then
	tap_ok "meson install --destdir" true
	pc=$(find "$DEST" -name libferry.pc | head -n 1)
	prefix=$(sed -n 's/^prefix=//p' "$pc")
	tap_ok "install: the ferry command" test -x "$DEST$prefix/bin/ferry"
	tap_ok "install: bash completion" test -f "$DEST$prefix/share/bash-completion/completions/ferry"
	tap_ok "install: zsh completion" test -f "$DEST$prefix/share/zsh/vendor-completions/_ferry"
	if [ -f "$BUILD/ferry.1" ]; then
		tap_is "$(find "$DEST" -path '*/man1/*.1' | wc -l)" "$(find "$repo/man" -name '*.1.scd' | wc -l)" \
			"install: every man page in man1/"
	else
		tap_skip "install: man pages" "this build was configured without scdoc"
	fi
else
	tap_ok "meson install --destdir" false
	tap_diag "$(tail -n 20 install.log)"
fi

tap_done
