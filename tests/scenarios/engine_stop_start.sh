# lifeline engine stop/start: with the applications left running the
# client is served throughout and the next engine adopts them; with
# --stop-apps --cluster every engine and application stops, none fails
# over, and the cluster comes back with the same active.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 29

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
data_mounted() { findmnt -rn -o TARGET | grep -qxF -- "$(lab path "$1" data)"; }
# The engine of step 7 was started by lifeline engine start: its log is in state_dir.
wait_for "cat '$LAB_DIR/primary/log/lifelined.log' '$(lab path primary state)/log/lifelined.log' 2>/dev/null |
	grep -q 'lifeline-repl waits for the engine, capturing nothing'" 10 &&
	pass "the active's lifeline-repl drained, unmounted and waits" ||
	fail "the active's lifeline-repl drained, unmounted and waits"
not_ok "nothing is mounted over the primary's data folder" data_mounted primary
# A configuration changed while the engines were down reaches lifeline-repl too:
# the idle one, started with the old file, is restarted by the next engine.
for node in primary secondary; do
	sed -i 's/^mode = async$/mode = async\nqueue = 512MiB/' "$LAB_DIR/$node/etc/lifeline.conf"
done
out=$(lab exec secondary -- lifeline engine start --cluster 2>&1)
is "$?" "0" "engine start --cluster on the secondary starts every engine"
like "$out" "^primary: started lifelined \(pid [0-9]+\)" "the primary's lifeline-repl started its engine"
like "$out" "^primary: heard" "and the secondary hears it"
if wait_for "served_by primary" 15; then
	pass "the primary, active in the highest epoch, serves again"
else
	fail "the primary, active in the highest epoch, serves again"
fi
is "$(lab exec secondary -- lifeline status --json | jq -r '.role + " " + (.epoch|tostring)')" "passive 1" \
	"the secondary is passive in epoch 1"
for node in primary secondary; do
	wait_for "[ \"\$(lab exec $node -- lifeline status --json | jq -r '.replication.config_hash == .config_hash')\" = true ]" 10 &&
		pass "$node: lifeline-repl was restarted with the changed configuration" ||
		fail "$node: lifeline-repl was restarted with the changed configuration"
done

# A node that cannot be reached is named, and the command fails.
ok "engine stop --cluster --stop-apps again" lab exec primary -- lifeline engine stop --cluster --stop-apps
wait_for "engine_gone primary && engine_gone secondary" 10 && pass "every engine exits again" ||
	fail "every engine exits again"
ok "secondary powered off" lab kill secondary
out=$(lab exec primary -- lifeline engine start --cluster 2>&1)
is "$?" "1" "engine start --cluster fails when a node cannot be reached"
like "$out" "^secondary: engine not started: 203\.0\.113\.2 port 9730: " "and names the node and where it tried"
ok "the engine here was started all the same" lab exec primary -- lifeline status
