# The never-two-active checker (`lifeline lab watch`): quiet on a healthy
# lab (one MAC answers ARP for the public IP, the primary serves), and
# proven able to fail: with the engine's filter gone and the public IP
# added by hand on the passive secondary, two MACs answer one ARP request
# and the watch exits 1. Then the address goes again and the watch passes.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 19

# lines FILE: how many sample lines the watch wrote so far.
lines() {
	awk 'END { print NR }' "$1" 2>/dev/null
}

# sorted_macs "MAC,MAC,...": the list in order, to compare sets.
sorted_macs() {
	printf '%s\n' "$1" | tr ',' '\n' | sort | paste -sd, -
}

ok "lab up (ha, sample)" lab up --mode ha --app sample || exit 1
primary_mac=$(lab exec primary -- cat /sys/class/net/eth0/address)
secondary_mac=$(lab exec secondary -- cat /sys/class/net/eth0/address)
like "$primary_mac $secondary_mac" "^([0-9a-f]{2}:){5}[0-9a-f]{2} ([0-9a-f]{2}:){5}[0-9a-f]{2}$" \
	"the nodes' eth0 MACs are known"

# ---- a healthy lab: one MAC, the primary serves ----------------------

watch_start
if wait_for "[ \"\$(lines '$WATCH_LOG')\" -ge 50 ]" 10; then
	pass "the watch writes a sample every 20 ms (50 within a second or so)"
else
	fail "the watch writes a sample every 20 ms (50 within a second or so)"
	diag "$(lines "$WATCH_LOG") lines" "$(cat "$WORK/watch.summary")"
fi
ok "the watch is still running" kill -0 "$WATCH_PID"
log=$(head -n 50 "$WATCH_LOG")
is "$(printf '%s\n' "$log" | awk '$2 != "-" { print $2 }' | sort -u)" "$primary_mac" \
	"the ARP rounds are answered by the primary's MAC alone"
served=$(printf '%s\n' "$log" | awk '$3 == "primary"' | wc -l)
ok "the primary serves the GETs ($served of 50 samples)" [ "$served" -ge 40 ]
like "$(printf '%s\n' "$log" | awk '$3 == "primary"' | tail -n 1)" \
	"^[0-9]+ $primary_mac primary$" "a sample line reads T_MS MAC NODE"
watch_stop
is "$?" 0 "the watch exits 0 on a healthy lab"
like "$(head -n 1 "$WORK/watch.summary")" \
	"^samples [0-9]+, two-answer samples 0, nodes seen: primary\([0-9]+\.\.\)$" \
	"its summary: no two-answer sample, only the primary"

# ---- prove the checker can fail: two nodes answer ARP ----------------

watch_start
wait_for "[ \"\$(lines '$WATCH_LOG')\" -ge 10 ]" 10
ok "delete the engine's inet table on the secondary" \
	lab exec secondary -- nft delete table inet lifeline
ok "delete the engine's arp table on the secondary" \
	lab exec secondary -- nft delete table arp lifeline
ok "add the public IP on the secondary by hand" \
	lab exec secondary -- ip addr add "$PUBLIC_IP/24" dev eth0
two_macs="grep -Eq '^[0-9]+ [^ ,]+,[^ ]+ ' '$WATCH_LOG'"
if wait_for "$two_macs" 5; then
	pass "two MACs answer one ARP request"
else
	fail "two MACs answer one ARP request"
	diag "$(tail -n 5 "$WATCH_LOG")"
fi
first=$(grep -Em1 '^[0-9]+ [^ ,]+,[^ ]+ ' "$WATCH_LOG" | awk '{ print $2 }')
is "$(sorted_macs "$first")" "$(sorted_macs "$primary_mac,$secondary_mac")" \
	"they are the primary's and the secondary's"
watch_stop
is "$?" 1 "the watch exits 1"
like "$(cat "$WORK/watch.summary")" "^samples [0-9]+, two-answer samples [1-9][0-9]*, " \
	"its summary counts the two-answer samples"
like "$(cat "$WORK/watch.summary")" "first two-answer sample: [0-9]+ [^ ]+,[^ ]+ .*\(two MACs answered one ARP request\)" \
	"and names the first one and why"

# ---- undo: one node answers again ------------------------------------

ok "remove the public IP from the secondary" \
	lab exec secondary -- ip addr del "$PUBLIC_IP/24" dev eth0
ok "with the primary alone again, a 1 s watch exits 0" \
	lab watch --duration 1 --out "$WORK/after.log"
