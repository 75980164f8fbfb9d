# A protected service's failures follow its action list (the lab's sample:
# restart, restart, switchover within 10 minutes): kill -9 of the service
# on the active restarts it there, twice; the third failure hands the
# active role to the secondary, which then serves. Each failure is an
# event saying how the process ended.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 12

svc_field() { status_of "$1" | jq -r ".services[] | select(.name == \"sample\") | $2"; }
sample_pid() { svc_field "$1" .pid; }

# restarted_after NODE OLDPID: running under another pid and serving again.
restarted_after() {
	local pid
	pid=$(sample_pid "$1")
	[ "$(svc_field "$1" .state)" = running ] && [ "$pid" != null ] && [ "$pid" != "$2" ] &&
		served_by "$1"
}

ok "lab up (ha, sample)" lab up --mode ha --app sample
wait_for "peer_in_sync primary secondary" 15 && pass "the primary hears the secondary in sync" ||
	fail "the primary hears the secondary in sync"
wait_for "served_by primary" 10 || true

for n in 1 2; do
	pid=$(sample_pid primary)
	# The sample was started by this lab's lifelined: ours to kill, by PID.
	kill -9 "$pid"
	wait_for "restarted_after primary $pid" 10 &&
		pass "kill -9 $n of the sample on the active: restarted there and serving" ||
		fail "kill -9 $n of the sample on the active: restarted there and serving"
done
events=$(lab exec primary -- lifeline events --json)
like "$(echo "$events" | jq -r 'select(.kind == "service") | .message' | grep 'failure 2 ')" \
	"^sample failed: its process [0-9]+ was stopped behind Lifeline's back by signal KILL, sent by another process \\(which one cannot be known\\); failure 2 within 10m, restarting it$" \
	"the second failure's event says how it ended, its count and the action"
is "$(svc_field primary .failures)" "2" "status counts two failures"
is "$(role_of primary | cut -d' ' -f1)" "active" "the primary is still active"

pid=$(sample_pid primary)
kill -9 "$pid"
wait_for "served_by secondary" 15 && pass "the third failure: the secondary serves" ||
	fail "the third failure: the secondary serves"
like "$(role_of secondary)" "^active [0-9]+$" "the secondary is active"
wait_for "[ \"\$(role_of primary | cut -d' ' -f1)\" = passive ]" 10 &&
	pass "the primary is passive" || fail "the primary is passive"
like "$(lab exec primary -- lifeline events --json | jq -r 'select(.kind == "role") | .message' |
	grep 'because sample')" "^switchover to secondary because sample failed: its process [0-9]+ .*; failure 3 within 10m$" \
	"the primary's event says the switchover was for the sample's third failure"
is "$(svc_field primary .state)" "stopped" "the sample is stopped on the primary"
