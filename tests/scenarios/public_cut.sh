# The active loses its public network while the passive still reaches the
# ping targets: a managed switchover to the passive (rule 3).
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 7

ok "lab up (ha, sample)" lab up --mode ha --app sample
wait_for "peer_in_sync primary secondary" 10 && pass "the primary hears the secondary in sync" || fail "the primary hears the secondary in sync"
watch_start
ok "cut the primary's public network" lab cut primary public
if wait_for "served_by secondary" 15; then
	pass "the client is served by the secondary"
else
	fail "the client is served by the secondary"
fi
like "$(cat "$LAB_DIR/primary/log/lifelined.log")" "automatic switchover to secondary" \
	"the primary logs why it hands over"
is "$(lab exec primary -- lifeline status --json | jq -r '.role + " " + (.public.filtered | tostring)')" \
	"passive true" "the primary is passive and hidden"
watch_verdict "one node answered at a time throughout"
