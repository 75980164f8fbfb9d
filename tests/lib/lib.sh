# Helpers for the scenarios in tests/scenarios (bash, sourced): TAP output,
# the root check, wait_for, a private lab in a private work folder, and the
# cleanup on exit that takes the lab down and shows the engines' logs when a
# check failed. CTest sets LIFELINE_BIN and LIFELINE_SOURCE_DIR.
#
#   source "$(dirname "$0")/../lib/lib.sh"
#   need_root
#   plan 3
#   ok "the lab comes up" lab up
#   is "$(sample_ask GET)" "primary 0" "the primary serves, empty"
#   wait_for "sample_ask GET" 10 || ...

set -u

LIFELINE_SOURCE_DIR=${LIFELINE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LIFELINE_BIN=${LIFELINE_BIN:-$LIFELINE_SOURCE_DIR/build/bin}
PUBLIC_IP=192.0.2.10
SAMPLE_PORT=8080

_tap_n=0
_tap_failed=0
_tap_plan=

# ---- TAP -------------------------------------------------------------

plan() {
	_tap_plan=$1
	echo "1..$1"
}

# diag TEXT...: comment lines, one per line of TEXT.
diag() {
	printf '%s\n' "$*" | sed 's/^/# /'
}

pass() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $*"
}

fail() {
	_tap_n=$((_tap_n + 1))
	_tap_failed=$((_tap_failed + 1))
	echo "not ok $_tap_n - $*"
}

# ok DESC CMD...: passes when CMD exits 0; its output is shown only on failure.
ok() {
	local desc=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then
		pass "$desc"
	else
		fail "$desc"
		diag "\`$*\` exited $rc"
		[ -n "$out" ] && diag "$out"
	fi
	return $rc
}

# not_ok DESC CMD...: passes when CMD fails.
not_ok() {
	local desc=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -ne 0 ]; then
		pass "$desc"
		return 0
	fi
	fail "$desc"
	diag "\`$*\` succeeded, expected a failure"
	[ -n "$out" ] && diag "$out"
	return 1
}

# is GOT WANT DESC
is() {
	if [ "$1" = "$2" ]; then
		pass "$3"
		return 0
	fi
	fail "$3"
	diag "got:      '$1'" "expected: '$2'"
	return 1
}

# like GOT ERE DESC
like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		pass "$3"
		return 0
	fi
	fail "$3"
	diag "got:      '$1'" "expected to match: $2"
	return 1
}

skip_all() {
	echo "1..0 # SKIP $*"
	_tap_plan=
	exit 77
}

# need_root: skip the scenario (exit 77) unless root with working netns and
# FUSE (every lab node's lifeline-repl captures the protected folder with it).
need_root() {
	local probe=ll-probe-$$
	[ "$(id -u)" -eq 0 ] || skip_all "needs root (network namespaces, mounts)"
	ip netns add "$probe" >/dev/null 2>&1 || skip_all "ip netns add does not work here"
	ip netns del "$probe" >/dev/null 2>&1
	{ [ -c /dev/fuse ] && [ -r /dev/fuse ] && [ -w /dev/fuse ]; } ||
		skip_all "needs FUSE (/dev/fuse): the lab's lifeline-repl captures through it"
	[ -x "$LIFELINE_BIN/lifeline" ] || skip_all "no $LIFELINE_BIN/lifeline: build first"
}

# ---- waiting ---------------------------------------------------------

_now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# wait_for "CONDITION CMD" TIMEOUT_S: evaluate CONDITION every 50 ms until
# it succeeds (return 0) or TIMEOUT_S seconds passed (return 1).
wait_for() {
	local cond=$1 deadline
	deadline=$(($(_now_ms) + $2 * 1000))
	while :; do
		eval "$cond" >/dev/null 2>&1 && return 0
		[ "$(_now_ms)" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

# ---- the lab ---------------------------------------------------------

WORK=$(mktemp -d /tmp/lifeline-test.XXXXXX) || exit 1
LAB_DIR=$WORK/lab

# lab SUBCOMMAND...: this scenario's own lab.
lab() {
	"$LIFELINE_BIN/lifeline" lab --dir "$LAB_DIR" "$@"
}

# sample_ask REQUEST... [--timeout MS]: one request to the sample app on the
# public IP, from the client; prints the answer line.
sample_ask() {
	lab exec client -- lifeline-sample ask "$PUBLIC_IP:$SAMPLE_PORT" "$@"
}

# watch_start [ARGS...]: start `lab watch --out $WORK/watch.log` (the
# never-two-active checker) in the background; its summary goes to
# $WORK/watch.summary, its PID to WATCH_PID. Stop it with watch_stop.
watch_start() {
	WATCH_LOG=$WORK/watch.log
	: >"$WATCH_LOG"
	# the program itself, not the lab function: $! must be its PID
	"$LIFELINE_BIN/lifeline" lab --dir "$LAB_DIR" watch --out "$WATCH_LOG" "$@" \
	    >"$WORK/watch.summary" 2>&1 &
	WATCH_PID=$!
}

# watch_stop: SIGTERM the watch, wait for it (SIGKILL after 5 s), show its
# summary as TAP comments; returns its exit status (0: never two answers).
watch_stop() {
	local rc
	[ -n "${WATCH_PID:-}" ] || { diag "watch_stop: no watch running"; return 2; }
	kill -TERM "$WATCH_PID" 2>/dev/null
	# a child that exited stays a zombie until `wait`: "Z" counts as gone
	wait_for "! sed 's/.*) //' /proc/$WATCH_PID/stat | grep -q '^[^Z]'" 5 ||
		kill -KILL "$WATCH_PID" 2>/dev/null
	wait "$WATCH_PID"
	rc=$?
	WATCH_PID=
	diag "$(cat "$WORK/watch.summary")"
	return $rc
}

# watch_verdict DESC: stop the watch (in this shell: `wait` must see its
# child) and pass when it saw one node at a time throughout.
watch_verdict() {
	watch_stop
	is "$?" "0" "$1"
}

# status_of NODE: that node's `lifeline status --json`.
status_of() {
	lab exec "$1" -- lifeline status --json
}

# role_of NODE: "ROLE EPOCH" as the node itself reports it.
role_of() {
	status_of "$1" | jq -r '.role + " " + (.epoch | tostring)'
}

# peer_field NODE PEER JQ: a field of PEER's entry in NODE's status.
peer_field() {
	status_of "$1" | jq -r --arg p "$2" ".nodes[] | select(.identity == \$p) | $3"
}

# peer_in_sync NODE PEER: NODE hears PEER, in sync (exit status).
peer_in_sync() {
	[ "$(peer_field "$1" "$2" .in_sync)" = true ]
}

# stays_passive NODE SECONDS: NODE reports itself passive at every look
# (every 100 ms) for SECONDS; fails at the first look that says otherwise.
stays_passive() {
	local i
	for i in $(seq 1 $(($2 * 10))); do
		case "$(role_of "$1")" in passive*) ;; *) return 1 ;; esac
		sleep 0.1
	done
}

# drained ACTIVE STANDBY...: every stand-by has applied the active's last
# record. The active's figures are read again at each call, and a status
# is up to 250 ms old (lifelined polls lifeline-repl), so callers let the
# writing stop that long before they wait_for this.
drained() {
	local active=$1 st last n
	shift
	st=$(status_of "$active" | jq -r '.replication | "\(.last_seq) \(.acked_seq)"')
	last=${st% *}
	[ -n "$last" ] && [ "${st#* }" -ge "$last" ] || return 1
	for n in "$@"; do
		[ "$(status_of "$n" | jq -r .replication.applied_seq)" -ge "$last" ] || return 1
	done
}

# tree_of NODE: the hash walk (lifeline-treehash --list --mtime) of NODE's
# protected data as it is on disk, read from the host: for the active, the
# folder underneath its capture, which is what the stand-bys are to equal
# (through the mount, the kernel's writeback cache may show a write's time
# a moment before the file got it underneath). One line per entry, then
# the total.
tree_of() {
	"$LIFELINE_BIN/lifeline-treehash" "$(lab path "$1" data)" --list --mtime
}

# served_by NODE [IP]: the sample app on the public IP (or IP) answers from NODE.
served_by() {
	[ "$(lab exec client -- lifeline-sample ask "${2:-$PUBLIC_IP}:$SAMPLE_PORT" GET --timeout 200 \
	    2>/dev/null | cut -d' ' -f1)" = "$1" ]
}

# lab_prefix: the namespace prefix of this lab (from lab.json), or nothing.
lab_prefix() {
	sed -n 's/^ *"prefix": *"\([^"]*\)".*/\1/p' "$LAB_DIR/lab.json" 2>/dev/null
}

# lab_namespaces: the lab's network namespaces that exist now.
lab_namespaces() {
	local prefix
	prefix=$(lab_prefix)
	[ -n "$prefix" ] || return 0
	ip netns list | awk '{print $1}' | grep -- "^$prefix-" | sort
}

# ns_inode NAME: the inode of a named network namespace.
ns_inode() {
	stat -L -c %i "/run/netns/$1" 2>/dev/null
}

# pids_in_netns INODE...: live processes whose network namespace is one of these.
pids_in_netns() {
	local p ino want
	for p in /proc/[0-9]*; do
		ino=$(stat -L -c %i "$p/ns/net" 2>/dev/null) || continue
		for want in "$@"; do
			[ "$ino" = "$want" ] && echo "${p#/proc/}"
		done
	done
	return 0
}

# lab_mounts: every mount at or under the lab folder.
lab_mounts() {
	findmnt -rn -o TARGET | grep -F -- "$WORK" || true
}

# show_logs: the tail of every engine log of the lab, as TAP comments.
show_logs() {
	local f
	for f in "$LAB_DIR"/*/log/lifelined.log "$LAB_DIR"/*/state/log/*.log; do
		[ -f "$f" ] || continue
		diag "--- ${f#"$LAB_DIR"/} (last 40 lines) ---"
		diag "$(tail -n 40 "$f")"
	done
}

_lib_cleanup() {
	local rc=$? prefix left
	trap - EXIT
	if [ "$_tap_failed" -gt 0 ] || { [ $rc -ne 0 ] && [ $rc -ne 77 ]; }; then
		show_logs
	fi
	prefix=$(lab_prefix)
	if [ -e "$LAB_DIR" ]; then
		lab down >/dev/null 2>&1 || diag "lab down failed at exit"
	fi
	if [ -n "$prefix" ]; then
		left=$(ip netns list | awk '{print $1}' | grep -- "^$prefix-")
		if [ -n "$left" ]; then
			diag "namespaces left after lab down, removing: $left"
			for ns in $left; do ip netns del "$ns"; done
			rc=1
		fi
	fi
	if [ -n "$(lab_mounts)" ]; then
		diag "still mounted, $WORK kept:" "$(lab_mounts)"
		rc=1
	else
		rm -rf "$WORK"
	fi
	if [ -n "$_tap_plan" ] && [ "$_tap_n" -ne "$_tap_plan" ]; then
		diag "planned $_tap_plan checks, ran $_tap_n"
		rc=1
	fi
	[ "$_tap_failed" -gt 0 ] && rc=1
	exit $rc
}
trap _lib_cleanup EXIT
trap 'exit 130' INT TERM
