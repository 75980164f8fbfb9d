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

say "Replicated in order: the secondary's copy, and the DR tertiary's down the chain"
for node in secondary tertiary; do
	i=0
	until cmp -s "$(lab path primary data)/records" "$(lab path "$node" data)/records"; do
		i=$((i + 1)); [ $i -lt 100 ] || { echo "$node: not caught up after 10 s" >&2; break; }
		sleep 0.1
	done
	echo "-- $node"
	cat "$(lab path "$node" data)/records"
done

# Failover needs a stand-by that has been in sync with the active once.
i=0
until [ "$(lab exec primary -- lifeline status --json | jq -r '.nodes[] | select(.identity == "secondary") | .in_sync')" = true ]; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "the secondary never got in sync" >&2; exit 1; }
	sleep 0.1
done

say "Managed switchover to the secondary (given on the secondary, carried out by the active)"
lab exec secondary -- lifeline switchover --wait
ask() { lab exec client -- lifeline-sample ask 192.0.2.10:8080 GET --timeout 300 2>/dev/null || echo "(no answer)"; }
i=0
until ask | grep -q '^secondary'; do i=$((i + 1)); [ $i -lt 50 ] || break; sleep 0.1; done
printf '%-22s -> %s\n' "GET" "$(ask)"

say "Power loss of the active (the secondary): the primary takes over"
lab kill secondary
start=$(date +%s%N)
i=0
until ask | grep -q '^primary'; do i=$((i + 1)); [ $i -lt 100 ] || break; sleep 0.05; done
printf 'served by the primary again after about %d ms\n' $(( ($(date +%s%N) - start) / 1000000 ))
lab boot secondary >/dev/null
i=0
until [ "$(lab exec secondary -- lifeline status --json | jq -r .epoch)" = 3 ]; do
	i=$((i + 1)); [ $i -lt 50 ] || break; sleep 0.1
done
echo "the secondary is back: $(lab exec secondary -- lifeline status --json | jq -r '.role + " in epoch " + (.epoch | tostring)')"

say "What the primary's event log says"
lab exec primary -- lifeline events | tail -n 8

cat <<MSG

The lab stays up. Try:
  $bin/lifeline lab status
  $bin/lifeline lab exec secondary -- lifeline status --json
  $bin/lifeline lab exec client -- lifeline-sample ask 192.0.2.10:8080 GET
  $bin/lifeline lab exec primary -- lifeline switchover --to tertiary --wait
  $bin/lifeline lab cut primary public      # then: lab heal
  $bin/lifeline lab exec primary -- lifeline check --full --wait
Remove it with: make demo-down
MSG
