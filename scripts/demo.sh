#!/bin/sh
# make demo: a three-node lab cluster protecting the sample application,
# left running for you to explore. `make demo-down` removes it.
set -eu
build=${1:-build}
bin="$(cd "$build/bin" && pwd)"
lab() { "$bin/lifeline" lab "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
	echo "make demo: the lab creates network namespaces and needs root" >&2
	exit 1
fi

say "Starting a 3-node lab (primary, secondary on site A; tertiary on the DR site)"
lab down >/dev/null 2>&1 || true
lab up --mode ha+dr --app sample

say "The cluster as each node sees it"
for node in primary secondary tertiary; do
	echo "-- $node"
	lab exec "$node" -- lifeline status
done

say "A client on the public LAN talks to the sample application on 192.0.2.10:8080"
for req in "PUT first record" "PUT second record" "GET" "HAS first record" "HAS never written"; do
	printf '%-22s -> ' "$req"
	lab exec client -- lifeline-sample ask 192.0.2.10:8080 "$req"
done

say "The record is on the primary's disk, fsynced before the answer"
cat "$(lab path primary data)/records"

cat <<MSG

The lab stays up. Try:
  $bin/lifeline lab status
  $bin/lifeline lab exec secondary -- lifeline status --json
  $bin/lifeline lab exec client -- lifeline-sample ask 192.0.2.10:8080 GET
  $bin/lifeline lab cut primary public      # then: lab heal
Remove it with: make demo-down

Replication, failover and switchover are not in this version yet: the demo
will show them as the cluster engine and the data plane land.
MSG
