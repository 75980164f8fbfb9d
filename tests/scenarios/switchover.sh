# Managed switchover to the secondary and back: the client is served
# throughout except for the switch itself, by one node at a time.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 13

ok "lab up (ha, sample)" lab up --mode ha --app sample
wait_for "peer_in_sync primary secondary" 10 && pass "the primary hears the secondary in sync" ||
	fail "the primary hears the secondary in sync"
watch_start
ok "switchover --wait, given on the passive" lab exec secondary -- lifeline switchover --wait
# --wait returns once the service runs; it may still be binding its socket.
wait_for "served_by secondary" 5 &&
	pass "the secondary serves" || fail "the secondary serves"
is "$(lab exec primary -- lifeline status --json | jq -r '.role + " " + (.epoch|tostring) + " " + (.public.filtered|tostring)')" \
	"passive 2 true" "the primary is passive in epoch 2 and hidden"
wait_for "peer_in_sync secondary primary" 10 && pass "the primary follows the new active, in sync" ||
	fail "the primary follows the new active, in sync"
ok "switch back, given on the active" lab exec secondary -- lifeline switchover --to primary --wait
wait_for "served_by primary" 5 &&
	pass "the primary serves again" || fail "the primary serves again"
out=$(lab exec primary -- lifeline switchover --to primary 2>&1)
like "$out" "primary is already active" "a switchover to the active is refused with a reason"
watch_verdict "one node answered at a time throughout"

# The node that just handed over holds the newest copy: if the new active
# is lost right away, it takes over again (no not-in-sync veto).
ok "power off the primary right after the switch back" lab kill primary
wait_for "served_by secondary" 15 && pass "the secondary takes over" || fail "the secondary takes over"
is "$(role_of secondary)" "active 4" "in epoch 4"
