# Every channel cut while the public network is up: the passive sees the
# active still answering on the public network and vetoes the failover;
# the active keeps serving. Never two actives.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 8

ok "lab up (ha, sample)" lab up --mode ha --app sample
heard() { [ "$(lab exec secondary -- lifeline status --json | jq -r '.nodes[] | select(.identity == "primary") | .reachable')" = "$1" ]; }
wait_for "peer_in_sync primary secondary" 10 && pass "the primary hears the secondary in sync" || fail "the primary hears the secondary in sync"
watch_start
ok "cut every channel of the primary" lab cut primary channel
wait_for "heard false" 10 && pass "the secondary loses the primary on every channel" ||
	fail "the secondary loses the primary on every channel"
if wait_for "grep -q 'failover vetoed (active-still-visible)' '$LAB_DIR/secondary/log/lifelined.log'" 10; then
	pass "the failover is vetoed: the active is still visible, and the veto is logged"
else
	fail "the failover is vetoed: the active is still visible, and the veto is logged"
fi
# Stay cut for about three failover timeouts: nothing may change.
ok "the secondary stays passive while the channels are cut" stays_passive secondary 3
is "$(sample_ask GET | cut -d' ' -f1)" "primary" "the primary still serves"
watch_verdict "one node answered at a time throughout"
