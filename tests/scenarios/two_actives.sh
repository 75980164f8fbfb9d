# Two nodes that both believe they are active: the one in the lower epoch
# demotes itself at once when it hears the other, and the event says so.
# (Made on purpose: the primary's engine is stopped with the application
# left running, and the secondary is forced active.)
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 9

ok "lab up (ha, sample)" lab up --mode ha --app sample
wait_for "peer_in_sync primary secondary" 10 && pass "the primary hears the secondary in sync" || fail "the primary hears the secondary in sync"
ok "stop the primary's engine, application left running" lab exec primary -- lifeline engine stop --leave-apps-running
wait_for "! lab exec primary -- lifeline status >/dev/null 2>&1" 10 && pass "the primary's engine is gone" ||
	fail "the primary's engine is gone"
ok "force the secondary active" lab exec secondary -- lifeline make-active --force
is "$(lab exec secondary -- lifeline status --json | jq -r '.role + " " + (.epoch|tostring)')" "active 2" \
	"the secondary is active in epoch 2"
ok "start the primary's engine: it resumes active in epoch 1" lab exec primary -- lifeline engine start
if wait_for '[ "$(lab exec primary -- lifeline status --json | jq -r .role)" = passive ]' 5; then
	pass "the primary, in the lower epoch, demotes itself"
else
	fail "the primary, in the lower epoch, demotes itself"
fi
like "$(lab exec primary -- lifeline events)" "role +\[epoch 1\] passive: .*epoch 2" \
	"the event names the other active and its epoch"
