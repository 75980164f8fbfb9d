# fsync mode: the client commits records through the sample application
# (each PUT is answered once the record is fsynced), the active is powered
# off at a random moment, and every record the client saw acknowledged is
# on the node that takes over. The old active comes back passive, catches
# up, and is the next run's victim's stand-by. LIFELINE_FSYNC_RUNS runs
# (20 by default), in replication mode LIFELINE_REPL_MODE (fsync by default;
# repl_sync_failover runs it in sync mode).
source "$(dirname "$0")/../lib/lib.sh"
need_root
runs=${LIFELINE_FSYNC_RUNS:-20}
mode=${LIFELINE_REPL_MODE:-fsync}
plan $((1 + runs * 4))

ok "lab up (ha, sample, $mode)" lab up --mode ha --app sample --replication "$mode"
wait_for "peer_in_sync primary secondary" 15 || diag "the primary does not hear the secondary in sync"

# writer RUN FILE: PUT records until one is not acknowledged; each
# acknowledged one goes to FILE. Bounded by the count and by the answer
# that fails once the active is gone.
writer() {
	local n answer
	for n in $(seq 1 2000); do
		answer=$(sample_ask "PUT r$1-$n" --timeout 1000 2>/dev/null) || return 0
		case $answer in OK*) echo "r$1-$n" >>"$2" ;; *) return 0 ;; esac
	done
}

repl_state() {
	status_of "$1" | jq -r '.replication.state'
}

active=primary
standby=secondary
epoch=1
for run in $(seq 1 "$runs"); do
	acked=$WORK/acked-$run
	: >"$acked"
	writer "$run" "$acked" &
	pid=$!
	# A random moment of the writing, 100..1000 ms in.
	sleep "0.$((RANDOM % 9 + 1))"
	lab kill "$active" >/dev/null
	wait "$pid"
	epoch=$((epoch + 1))
	if wait_for "served_by $standby" 15; then
		pass "run $run: $standby serves after $active was powered off ($(wc -l <"$acked") records acknowledged)"
	else
		fail "run $run: $standby serves after $active was powered off"
	fi
	records="$(lab path "$standby" data)/records"
	missing=$(sort "$acked" | comm -23 - <(sort -u "$records"))
	is "$missing" "" "run $run: every acknowledged record is on $standby"
	ok "run $run: power $active on again" lab boot "$active"
	if wait_for '[ "$(role_of $active)" = "passive $epoch" ] && [ "$(repl_state $active)" = in-sync ]' 20; then
		pass "run $run: $active comes back passive in epoch $epoch, in sync"
	else
		fail "run $run: $active comes back passive in epoch $epoch, in sync: $(role_of $active), $(repl_state $active)"
	fi
	tmp=$active
	active=$standby
	standby=$tmp
done
