#!/bin/bash
# ferry batch: job files, parallel jobs, failures, resuming, shards.
#  - a job file with comments, blank lines, quoting and continuation lines
#    runs every job; outputs verify; the state file records each job once,
#    with the digests ferry ls sees; --json follows the documented schema
#  - a rerun skips every job; --force runs them again; a job listed twice
#    runs once
#  - --jobs 4: jobs run at the same time (two finish while three others wait
#    for a layout another process has locked), jobs into one layout take
#    turns and all land in it
#  - a failing job does not stop the others; the summary and --json name it;
#    the exit status is 1; only successes are recorded; a rerun retries it
#  - kill -9 of the batch mid-way: the running job stops too (and leaves no
#    temporary files), the rerun does the rest, every job is recorded exactly
#    once; SIGTERM: exit 130, the same
#  - shards: 3 shards (run at the same time, sharing a state file) run every
#    job exactly once, each the jobs whose index mod 3 is its own
#  - a job file from stdin has no state file unless --state; malformed job
#    files and options are usage errors naming the line
#  - progress: plain lines per job, -q prints nothing, bar through a pty
# shellcheck disable=SC2317 # functions run through tap_ok look unreachable
repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib-e2e.sh
. "$repo/tests/e2e/lib-e2e.sh"

CHECK=$repo/tests/e2e/json_check.py

need_tool python3 jq flock || {
	tap_ok "python3, jq and flock are installed" false
	tap_done
}

# Everything started in the background is stopped on exit, by PID.
bg_pids=()
cleanup_bg() {
	local p
	for p in "${bg_pids[@]}"; do
		kill -9 "$p" 2>/dev/null
	done
}
prev_trap=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT$//")
# shellcheck disable=SC2064 # expand prev_trap now
trap "cleanup_bg; $prev_trap" EXIT

# state_keys FILE: the keys a state file records, sorted (duplicates kept).
state_keys() {
	jq -r .key "$1" 2>/dev/null | LC_ALL=C sort
}

# wait_lines FILE N: wait (up to 60 s) until FILE has at least N lines.
wait_lines() {
	local i
	for ((i = 0; i < 600; i++)); do
		[ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# wait_gone PID: wait (up to 20 s) until PID has exited.
wait_gone() {
	local i
	for ((i = 0; i < 200; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

cp "$SAMPLE" "sample copy.tar"
# ferry creates a destination, not its parents.
mkdir -p out par fail k shard in

# ---- a job file, run and run again ------------------------------------------------------------
cat >jobs.txt <<'EOF'
# the sample in every format

convert sample.tar out/oci/            # a bare path, by its name
convert "sample copy.tar" 'out/with space/'
convert --format oci-archive \
	sample.tar out/oa.tar
convert sample.tar docker-archive:out/da.tar --tag example/app:13=example/app:14
   convert sample.tar out/app-only/ --image example/app:13	# only one image
EOF
cp "$SAMPLE" sample.tar
mkdir -p out
"$FERRY" batch --json jobs.txt >b1.json 2>b1.err
tap_is "$?" 0 "batch: every job of the file"
tap_ok "batch --json follows the schema" python3 "$CHECK" batch b1.json
tap_is "$(jq -r '[.jobs[].status] | join(" ")' b1.json)" "done done done done done" "batch: 5 jobs done"
tap_is "$(jq -r '[.jobs[].line] | join(" ")' b1.json)" "3 4 5 7 8" "batch: jobs know their lines (comments, blanks, a continuation)"
tap_is "$(jq -r '.done, .skipped, .failed, .ok, .state' b1.json | xargs)" "5 0 0 true jobs.txt.state" \
	"batch --json: counts, ok and the state file"
tap_is "$(jq -r '.jobs[1].job' b1.json)" "convert \"sample copy.tar\" 'out/with space/'" "batch: a job as written"
for d in out/oci "out/with space" out/oa.tar out/da.tar out/app-only; do
	tap_ok "batch: ferry verify $d" "$FERRY" verify "$d"
done
tap_is "$(ferry_names "out/with space")" "$SAMPLE_NAMES" "batch: quoting: the path with a space"
tap_is "$(ferry_names out/da.tar)" "docker.io/example/app:14 docker.io/example/base:1.0 docker.io/example/tool:2.1" \
	"batch: options after the locations (--tag) are the job's"
tap_is "$(ferry_names out/app-only)" docker.io/example/app:13 "batch: options after a tab and a comment"
tap_is "$(wc -l <jobs.txt.state)" 5 "state: one line per job"
tap_is "$(state_keys jobs.txt.state)" "$(jq -r '.jobs[].key' b1.json | LC_ALL=C sort)" "state: the jobs' keys"
tap_is "$(jq -r 'select(.line == 3) | .digests | sort | join(" ")' jobs.txt.state)" \
	"$(ferry_map out/oci digest | cut -d' ' -f2 | sort | xargs)" "state: a job's digests are its images' digests"
tap_is "$(jq -r '.jobs[0].result.command, (.jobs[0].result.images | length)' b1.json | xargs)" "convert 3" \
	"batch --json: each job's own convert document"
tap_like "$(tail -n 1 b1.err)" '^batch jobs.txt: 5 jobs: 5 done, 0 skipped, 0 failed, in ' "batch: the summary"

"$FERRY" batch --json jobs.txt >b2.json 2>b2.err
tap_is "$?" 0 "batch again"
tap_ok "batch again: --json follows the schema" python3 "$CHECK" batch b2.json
tap_is "$(jq -r '[.jobs[] | "\(.status)/\(.skipped)"] | unique | join(" ")' b2.json)" "skipped/done before" \
	"batch again: every job skipped as done before"
tap_is "$(jq -r '.jobs[0].digests | sort | join(" ")' b2.json)" "$(jq -r '.jobs[0].digests | sort | join(" ")' b1.json)" \
	"batch again: a skipped job still reports its digests (from the state file)"
tap_is "$(wc -l <jobs.txt.state)" 5 "batch again: nothing recorded"
"$FERRY" batch --force --json jobs.txt >b3.json 2>/dev/null
tap_is "$?:$(jq -r '.done' b3.json):$(wc -l <jobs.txt.state)" "0:5:10" "--force runs and records every job again"
tap_is "$(state_keys jobs.txt.state | uniq | wc -l)" 5 "--force: still 5 distinct jobs in the state file"

# Same words, other quoting and spacing: the same job. A job listed twice runs once.
cat >dup.txt <<'EOF'
convert sample.tar out/dup/
convert   'sample.tar'   "out/dup/"
EOF
"$FERRY" batch --json dup.txt >d.json 2>/dev/null
tap_is "$(jq -r '[.jobs[] | "\(.status) \(.skipped)"] | join(", ")' d.json)" "done null, skipped duplicate of line 1" \
	"a job listed twice (quoted differently) runs once"

# ---- parallel jobs, and jobs sharing a layout --------------------------------------------------
"$FERRY" convert -q --image example/base:1.0 "$SAMPLE" shared/
cat >par.txt <<'EOF'
convert sample.tar shared/ --image example/app:13
convert sample.tar par/a/
convert sample.tar shared/ --image example/tool:2.1
convert sample.tar par/b/
convert sample.tar shared/ --tag example/base:1.0=example/base:2.0 --image example/base:1.0
EOF
exec 9<shared
flock -x 9
"$FERRY" batch --jobs 4 --json par.txt >par.json 2>par.err 9<&- &
pid=$!
bg_pids+=("$pid")
tap_ok "--jobs 4: two jobs finish while three wait for a locked layout" wait_lines par.txt.state 2
tap_is "$(jq -r .line par.txt.state | sort | xargs)" "2 4" "--jobs 4: the jobs that finished are the free ones"
tap_ok "--jobs 4: the batch is still running (waiting for the lock)" kill -0 "$pid"
flock -u 9
exec 9<&-
wait "$pid"
tap_is "$?" 0 "--jobs 4: every job done once the layout is unlocked"
tap_ok "--jobs 4: --json follows the schema" python3 "$CHECK" batch par.json
tap_is "$(ferry_names shared)" "docker.io/example/app:13 docker.io/example/base:1.0 docker.io/example/base:2.0 docker.io/example/tool:2.1" \
	"--jobs 4: the jobs sharing a layout all landed in it"
tap_ok "--jobs 4: the shared layout verifies" "$FERRY" verify shared
tap_is "$(ferry_temp_files shared)" "" "--jobs 4: no temporary files in the shared layout"

# ---- failures ------------------------------------------------------------------------------------
cat >fail.txt <<'EOF'
convert sample.tar fail/one/
convert missing.tar fail/two/
convert sample.tar fail/three/ --no-such-option
convert sample.tar fail/four/
EOF
"$FERRY" batch --json fail.txt >f.json 2>f.err
tap_is "$?" 1 "a failing job makes the batch exit 1"
tap_ok "failures: --json follows the schema" python3 "$CHECK" batch f.json
tap_is "$(jq -r '[.jobs[] | "\(.status):\(.code)"] | join(" ")' f.json)" "done:0 failed:5 failed:2 done:0" \
	"failures: the other jobs ran; each failure has its exit status"
tap_is "$(jq -r '.jobs[1].error' f.json)" "missing.tar does not exist" "failures: the job's own error message"
tap_is "$(jq -r '"\(.ok) \(.code) \(.failed)"' f.json)" "false 1 2" "failures: ok false, code 1, 2 failed"
tap_like "$(cat f.err)" 'batch: 2 of 4 jobs failed' "failures: the summary says how many failed"
tap_like "$(cat f.err)" '  line 2: convert missing.tar fail/two/: missing.tar does not exist \(exit 5\)' \
	"failures: the summary lists each failed job with its line, error and exit status"
tap_like "$(cat f.err)" '  line 3: convert sample.tar fail/three/ --no-such-option: .*no-such-option \(exit 2\)' \
	"failures: ... the bad option too"
tap_is "$(jq -r .line fail.txt.state | xargs)" "1 4" "failures: only the jobs that worked are recorded"
tap_ok "failures: the jobs that worked have their output" "$FERRY" verify fail/four
tap_is "$(ferry_temp_files fail)" "" "failures: no temporary files left"
cp "$SAMPLE" missing.tar
"$FERRY" batch --json fail.txt >f2.json 2>/dev/null
tap_is "$(jq -r '[.jobs[].status] | join(" ")' f2.json)" "skipped done failed skipped" \
	"failures: a rerun retries the failed jobs only"

# ---- kill -9 in the middle, and resume -----------------------------------------------------------
"$FERRY" convert -q --image example/base:1.0 "$SAMPLE" kl/
cat >kill.txt <<'EOF'
convert sample.tar k/1/
convert sample.tar k/2/
convert sample.tar kl/ --image example/app:13
convert sample.tar k/4/
convert sample.tar k/5/
convert sample.tar k/6/
EOF
exec 9<kl
flock -x 9
"$FERRY" batch -q kill.txt >/dev/null 2>kill1.err 9<&- &
pid=$!
bg_pids+=("$pid")
tap_ok "kill -9: the batch gets to job 3 (which waits for a locked layout)" wait_lines kill.txt.state 2
sleep 0.3
child=$(pgrep -P "$pid" | head -n 1)
tap_like "$child" '^[0-9]+$' "kill -9: job 3 is running"
{
	kill -9 "$pid"
	wait "$pid"
} 2>/dev/null
tap_ok "kill -9: the running job stops too" wait_gone "$child"
tap_is "$(jq -r .line kill.txt.state | xargs)" "1 2" "kill -9: the state file has the two jobs that finished"
flock -u 9
exec 9<&-
tap_is "$(ferry_temp_files kl)" "" "kill -9: the stopped job left no temporary files"
"$FERRY" batch --json kill.txt >k2.json 2>k2.err
tap_is "$?" 0 "kill -9: the rerun"
tap_is "$(jq -r '[.jobs[].status] | join(" ")' k2.json)" "skipped skipped done done done done" \
	"kill -9: the rerun skips the 2 jobs done and runs the other 4"
tap_is "$(wc -l <kill.txt.state):$(state_keys kill.txt.state | uniq | wc -l)" "6:6" \
	"kill -9: every job recorded exactly once"
tap_is "$(jq -r .line kill.txt.state | xargs)" "1 2 3 4 5 6" "kill -9: the state file lists jobs 1 to 6"
for d in k/1 k/2 kl k/4 k/5 k/6; do
	tap_ok "kill -9: $d verifies" "$FERRY" verify "$d"
done
tap_is "$(ferry_names kl)" "docker.io/example/app:13 docker.io/example/base:1.0" "kill -9: job 3's image is in the layout"

# SIGTERM: the batch stops its jobs, says so, exits 130.
rm -rf k kill.txt.state
mkdir k
exec 9<kl
flock -x 9
"$FERRY" batch --json kill.txt >t.json 2>t.err 9<&- &
pid=$!
bg_pids+=("$pid")
wait_lines kill.txt.state 2
sleep 0.3
child=$(pgrep -P "$pid" | head -n 1)
kill -TERM "$pid"
wait "$pid"
tap_is "$?" 130 "SIGTERM: the batch exits 130"
flock -u 9
exec 9<&-
tap_ok "SIGTERM: its running job is gone" wait_gone "${child:-0}"
tap_ok "SIGTERM: --json follows the schema" python3 "$CHECK" batch t.json
tap_is "$(jq -r '[.jobs[].status] | join(" ")' t.json)" "done done failed not run not run not run" \
	"SIGTERM: the jobs done, the one stopped, the rest not run"
tap_like "$(cat t.err)" 'batch: interrupted; run it again' "SIGTERM: the batch says what happened"
tap_is "$(jq -r .line kill.txt.state | xargs)" "1 2" "SIGTERM: only the finished jobs are recorded"

# ---- shards ----------------------------------------------------------------------------------------
{
	echo "# seven jobs"
	for i in 0 1 2 3 4 5 6; do
		echo "convert sample.tar shard/$i/ --image example/base:1.0"
		[ "$i" = 3 ] && echo "" && echo "# a comment in the middle"
	done
} >shard.txt
for s in 0 1 2; do
	"$FERRY" batch -q --json --shard "$s/3" --jobs 2 shard.txt >"shard$s.json" 2>"shard$s.err" &
	pids[s]=$!
	bg_pids+=("${pids[s]}")
done
rcs=
for s in 0 1 2; do
	wait "${pids[s]}"
	rcs+="$? "
done
tap_is "$rcs" "0 0 0 " "shards: 3 shards run at the same time"
for s in 0 1 2; do
	tap_ok "shard $s/3: --json follows the schema" python3 "$CHECK" batch "shard$s.json"
	tap_is "$(jq -r '[.jobs[].index % 3] | unique | map(tostring) | join(" ")' "shard$s.json"):$(jq -r .shard "shard$s.json")" "$s:$s/3" \
		"shard $s/3: only the jobs whose index mod 3 is $s"
done
tap_is "$(jq -r '.jobs[] | select(.status == "done") | .index' shard*.json | sort -n | xargs)" "0 1 2 3 4 5 6" \
	"shards: together they ran every job exactly once"
tap_is "$(wc -l <shard.txt.state):$(state_keys shard.txt.state | uniq | wc -l)" "7:7" \
	"shards: the shared state file has each job once (appends under a lock)"
tap_is "$(for i in 0 1 2 3 4 5 6; do [ -f "shard/$i/index.json" ] && echo "$i"; done | xargs)" "0 1 2 3 4 5 6" \
	"shards: every output is there"
tap_is "$(jq -r 'select(.job | test("shard/4/")) | .line' shard.txt.state)" 8 \
	"shards: index 4 is line 8 (comments and blank lines do not count)"
rm -rf shard shard.txt.state
mkdir shard
# shellcheck disable=SC2016 # expanded by the inner bash
tap_ok "shards the GNU parallel way (xargs -P 3, as in README.md)" \
	bash -c 'printf "%s\n" 0 1 2 | xargs -P 3 -I{} "$FERRY" batch -q --shard {}/3 shard.txt'
tap_is "$(state_keys shard.txt.state | uniq | wc -l):$(wc -l <shard.txt.state)" "7:7" "... every job once"

# ---- stdin, --state, bad input -------------------------------------------------------------------
printf 'convert sample.tar in/a/\nconvert sample.tar in/b/\n' >stdin.txt
"$FERRY" batch -q --json - <stdin.txt >s.json
tap_is "$?:$(jq -r '.state, .jobfile, .done' s.json | xargs)" "0:null - 2" "a job file from stdin: no state file"
tap_is "$(find . -maxdepth 1 -name '*.state' -newer stdin.txt | wc -l)" 0 "... and none was written"
"$FERRY" batch -q --json --state my.state - <stdin.txt >s.json
tap_is "$(jq -r '.state, .done' s.json | xargs):$(wc -l <my.state)" "my.state 2:2" "stdin with --state FILE records"
"$FERRY" batch -q --json --state my.state - <stdin.txt >s.json
tap_is "$(jq -r .skipped s.json)" 2 "... and a rerun skips"

printf 'convert sample.tar x/\n\nconvert "unclosed x/\n' >bad1.txt
"$FERRY" batch --json bad1.txt >bad.json 2>bad.err
tap_is "$?" 2 "a job file with an unterminated quote: exit 2"
tap_like "$(cat bad.err)" 'bad1.txt:3: unterminated double quote' "... the message names the line"
tap_ok "... --json prints the failure document" python3 "$CHECK" failure bad.json
tap_is "$(find . -maxdepth 1 -name 'x' | wc -l)" 0 "... and nothing ran"
printf 'convert sample.tar x/\nverify x/\n' >bad2.txt
tap_fails "a job file with another command fails" "$FERRY" batch bad2.txt
tap_like "$(cat "$TAP_OUT")" 'bad2.txt:2: "verify" is not a job command' "... naming the line and the command"
tap_fails "a missing job file fails" "$FERRY" batch nonexistent.txt
tap_like "$(cat "$TAP_OUT")" 'job file nonexistent.txt does not exist' "... saying so"
"$FERRY" batch nonexistent.txt >/dev/null 2>&1
tap_is "$?" 5 "... with exit status 5 (not found)"
for bad in "--shard 3/3" "--shard 1" "--shard -1/2" "--jobs 0" "--jobs x" "--progress loud"; do
	# shellcheck disable=SC2086
	"$FERRY" batch $bad jobs.txt >/dev/null 2>&1
	tap_is "$?" 2 "batch $bad is a usage error"
done
tap_is "$("$FERRY" batch -q --json /dev/null | jq -r '"\(.ok) \(.jobs | length)"')" "true 0" "an empty job file is an empty batch"

# ---- progress ----------------------------------------------------------------------------------------
rm -f jobs.txt.state
"$FERRY" batch --progress plain jobs.txt >p.out 2>p.err
tap_is "$(wc -c <p.out)" 0 "batch progress: nothing on stdout"
tap_is "$(grep -cE '^\[[1-5]/5\] done    line [0-9]+: convert .* \([0-9.]+s\)$' p.err)" 5 "batch plain: a line per finished job"
"$FERRY" batch -q --force jobs.txt >q.out 2>q.err
tap_is "$?:$(cat q.out q.err)" "0:" "batch -q: nothing printed when all is well"
"$FERRY" batch -q fail.txt >/dev/null 2>q.err
tap_like "$(cat q.err)" 'FAILED  line 3: .*exit 2' "batch -q: failures are still printed"
cat >pty_run.py <<'EOF'
import os, pty, subprocess, sys
m, s = pty.openpty()
p = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=s)
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
open(sys.argv[1], "wb").write(buf)
sys.exit(p.wait())
EOF
python3 pty_run.py bar.err "$FERRY" batch --force --jobs 2 jobs.txt
tap_is "$?" 0 "batch bar: through a pseudo-terminal"
tap_like "$(tr -d '\r' <bar.err)" $'\033\\[2K  line [0-9]+: convert .*  running [0-9]:[0-9]{2}' "batch bar: a live line per job running"
tap_like "$(tr -d '\r' <bar.err)" 'jobs: [0-9]+ of 5 done, 0 failed, [0-9]+ running, [0-9]+ waiting' "batch bar: a total line"

tap_done
