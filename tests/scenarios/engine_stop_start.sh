# lifeline engine stop/start: with the applications left running the
# client is served throughout and the next engine adopts them; with
# --stop-apps --cluster every engine and application stops, none fails
# over, and the cluster comes back with the same active.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 17

ok "lab up (ha, sample)" lab up --mode ha --app sample
wait_for "peer_in_sync primary secondary" 10 && pass "the primary hears the secondary in sync" || fail "the primary hears the secondary in sync"
engine_gone() { ! lab exec "$1" -- lifeline status >/dev/null 2>&1; }
sample_pid() { lab exec primary -- lifeline status --json | jq -r '.services[0].pid'; }
pid0=$(sample_pid)

watch_start
ok "engine stop --leave-apps-running on the active" lab exec primary -- lifeline engine stop --leave-apps-running
wait_for "engine_gone primary" 10 && pass "the engine exits" || fail "the engine exits"
sleep 2    # two failover timeouts: the secondary must not take over meanwhile
is "$(sample_ask GET | cut -d' ' -f1)" "primary" "the application still serves from the primary"
is "$(lab exec secondary -- lifeline status --json | jq -r .role)" "passive" "the secondary did not take over"
ok "engine start" lab exec primary -- lifeline engine start
st=$(lab exec primary -- lifeline status --json)
is "$(jq -r '.role + " " + (.epoch|tostring) + " " + (.public.filtered|tostring)' <<<"$st")" "active 1 false" \
	"the engine resumes active in the same epoch, not hidden"
is "$(jq -r '.services[0].state + " " + (.services[0].pid|tostring)' <<<"$st")" "running $pid0" \
	"and adopts the running application (same pid)"
watch_verdict "the client was served by one node throughout"

ok "engine stop --cluster --stop-apps" lab exec secondary -- lifeline engine stop --cluster --stop-apps
wait_for "engine_gone primary && engine_gone secondary" 10 && pass "every engine exits" ||
	fail "every engine exits"
not_ok "the application is stopped" kill -0 "$pid0"
not_ok "no failover happened on the way down" grep -q "role: active in epoch 2" \
	"$LAB_DIR/secondary/log/lifelined.log"
ok "engine start on both" sh -c "'$LIFELINE_BIN/lifeline' lab --dir '$LAB_DIR' exec secondary -- lifeline engine start &&
	'$LIFELINE_BIN/lifeline' lab --dir '$LAB_DIR' exec primary -- lifeline engine start"
if wait_for "served_by primary" 15; then
	pass "the primary, active in the highest epoch, serves again"
else
	fail "the primary, active in the highest epoch, serves again"
fi
is "$(lab exec secondary -- lifeline status --json | jq -r '.role + " " + (.epoch|tostring)')" "passive 1" \
	"the secondary is passive in epoch 1"
