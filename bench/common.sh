# bench/common.sh: what bench/repl-lag, bench/resync and bench/dr-hop share
# (bash, sourced; not executable, so `make bench` does not run it): the
# build folder, the checks, Debian packages installed on demand, a private
# work folder and lab removed on exit, processes started here stopped by
# PID, waiting, and the figures the engines report.
#
# The caller sets NAME (the bench's name), KEEP (0/1) and BUILD (may be
# empty), then sources this file and calls bench_setup.

now_ms() { echo $(($(date +%s%N) / 1000000)); }
die() { echo "bench/$NAME: $*" >&2; exit 1; }
say() { echo "bench/$NAME: $*" >&2; }

PIDS=()          # background processes this bench started, by PID

# alive PID: the process exists and is not a zombie.
alive() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	case $st in Z*|X*) return 1 ;; esac
	return 0
}

# stop_pid PID [SECONDS]: SIGTERM, wait (bounded), SIGKILL, reap when ours.
stop_pid() {
	local pid=$1 limit=${2:-5} deadline
	[ -n "$pid" ] || return 0
	if alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null
		deadline=$(($(now_ms) + limit * 1000))
		while alive "$pid" && [ "$(now_ms)" -lt "$deadline" ]; do sleep 0.02; done
		alive "$pid" && kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	return 0
}

# wait_for "CONDITION" SECONDS: every 50 ms until true (0) or the time is up (1).
wait_for() {
	local deadline=$(($(now_ms) + $2 * 1000))
	while :; do
		eval "$1" >/dev/null 2>&1 && return 0
		[ "$(now_ms)" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

# need_package COMMAND PACKAGE: install Debian's PACKAGE when COMMAND is missing.
need_package() {
	command -v "$1" >/dev/null && return 0
	say "$1 is not installed; installing the Debian package $2 (apt-get install $2)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$2" >&2 ||
		{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$2" >&2; } ||
		die "could not install $2; install it (apt-get install $2) and run again"
	command -v "$1" >/dev/null || die "$1 still missing after installing $2"
}

lab() { "$LL" lab --dir "$LAB" "$@"; }

lab_prefix() {
	sed -n 's/^ *"prefix": *"\([^"]*\)".*/\1/p' "$LAB/lab.json" 2>/dev/null
}

# lab_remove: the lab down, whatever state it is in; namespaces left are removed.
lab_remove() {
	local prefix ns
	prefix=$(lab_prefix)
	[ -e "$LAB" ] && { lab down >/dev/null 2>&1 || say "lab down failed for $LAB"; }
	if [ -n "$prefix" ]; then
		for ns in $(ip netns list | awk '{print $1}' | grep -- "^$prefix-"); do
			say "namespace $ns left after lab down, removing it"
			ip netns del "$ns"
		done
	fi
}

bench_cleanup() {
	local rc=$? p
	trap - EXIT
	for p in "${PIDS[@]}"; do stop_pid "$p"; done
	lab_remove
	if findmnt -rn -o TARGET | grep -qF -- "$WORK"; then
		say "still mounted under $WORK, kept"
		rc=1
	elif [ "$KEEP" -eq 1 ]; then
		say "work folder kept: $WORK"
	else
		rm -rf "$WORK"
	fi
	exit $rc
}

# bench_setup: resolve BUILD, check root, jq, python3 and network
# namespaces, make WORK (and LAB in it), set the cleanup on exit.
bench_setup() {
	local probe=ll-bench-probe-$$ b
	HERE=$(cd "$(dirname "$0")/.." && pwd)
	BUILD=${BUILD:-$HERE/build}
	case $BUILD in /*) ;; *) b=$(cd "$BUILD" 2>/dev/null && pwd) || die "no build folder $BUILD"; BUILD=$b ;; esac
	LL=$BUILD/bin/lifeline
	[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
	[ -x "$LL" ] || die "no $LL: build first (make build)"
	command -v jq >/dev/null || die "needs jq (scripts/install-deps.sh installs it)"
	[ -x /usr/bin/python3 ] || need_package /usr/bin/python3 python3
	PY=/usr/bin/python3
	ip netns add "$probe" >/dev/null 2>&1 || die "ip netns add does not work here"
	ip netns del "$probe"
	WORK=$(mktemp -d "/tmp/lifeline-bench-$NAME.XXXXXX") || die "mktemp failed"
	LAB=$WORK/lab
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

# bg_exec LOG NODE CMD...: CMD in NODE in the background, output in LOG,
# its PID in BG_PID (and in PIDS). `lab exec` execs, so $! is CMD itself.
bg_exec() {
	local log=$1 node=$2
	shift 2
	"$LL" lab --dir "$LAB" exec "$node" -- "$@" >"$log" 2>&1 &
	BG_PID=$!
	PIDS+=("$BG_PID")
}

# status_of NODE: that node's `lifeline status --json`.
status_of() { lab exec "$1" -- lifeline status --json 2>/dev/null; }

# repl_field NODE JQ: one field of NODE's .replication.
repl_field() { status_of "$1" | jq -r ".replication | $2"; }

# drained ACTIVE STANDBY...: every stand-by has applied the active's last
# record (tests/lib/lib.sh's test, figures read afresh at each call; a
# status is up to 250 ms old, so let the writing stop that long first).
drained() {
	local active=$1 st last n
	shift
	st=$(status_of "$active" | jq -r '.replication | "\(.last_seq) \(.acked_seq)"')
	last=${st% *}
	[ -n "$last" ] && [ "$last" != null ] && [ "${st#* }" -ge "$last" ] || return 1
	for n in "$@"; do
		[ "$(repl_field "$n" .applied_seq)" -ge "$last" ] || return 1
	done
}

# in_sync NODE...: every NODE reports replication in-sync.
in_sync() {
	local n
	for n in "$@"; do
		[ "$(repl_field "$n" .state)" = in-sync ] || return 1
	done
}

# treehash DIR: lifeline-treehash's "total HASH N entries" line for DIR.
treehash() { "$BUILD/bin/lifeline-treehash" "$1" | tail -n 1; }

# ratio A B: A / B with two decimals, or "-".
ratio() {
	case "$1$2" in *-*|'') echo "-"; return ;; esac
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f\n", a / b; else print "-" }'
}

# ns_exec NODE CMD...: CMD in NODE's network namespace alone, with the
# namespace's own /sys (interface counters), unlike `lab exec`.
ns_exec() {
	local node=$1
	shift
	ip netns exec "$(lab_prefix)-$node" "$@"
}

# link_ifaces NODE ADDR...: NODE's interfaces that hold these addresses.
link_ifaces() {
	local node=$1 a
	shift
	for a in "$@"; do
		ns_exec "$node" ip -o -4 addr show | awk -v a="$a" '{ split($4, x, "/"); if (x[1] == a) print $2 }'
	done
}

# link_bytes NODE DIR IFACE...: the sum of DIR (rx, tx or both) byte counters.
link_bytes() {
	local node=$1 dir=$2 i sum=0 d
	shift 2
	for i in "$@"; do
		for d in rx tx; do
			case $dir in both|"$d") ;; *) continue ;; esac
			sum=$((sum + $(ns_exec "$node" cat "/sys/class/net/$i/statistics/${d}_bytes")))
		done
	done
	echo "$sum"
}

# timed OUT CMD...: CMD with its output in OUT; its wall time in ms in
# ELAPSED_MS; returns CMD's status.
timed() {
	local out=$1 t0 rc
	shift
	t0=$(date +%s%N)
	"$@" >"$out" 2>&1
	rc=$?
	ELAPSED_MS=$((($(date +%s%N) - t0) / 1000000))
	return $rc
}

# mib BYTES: BYTES in MiB with one decimal.
mib() { awk -v b="$1" 'BEGIN { printf "%.1f\n", b / 1048576 }'; }

# secs MS: MS in seconds with two decimals.
secs() { awk -v m="$1" 'BEGIN { printf "%.2f\n", m / 1000 }'; }
