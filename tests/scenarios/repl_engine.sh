# The data plane and the engine: with the engine stopped and the
# applications left running, lifeline-repl keeps capturing on the active
# and shipping to the stand-by, and the engine's next start ships on
# without a check; when lifeline-repl dies on the active node, the engine
# treats it as a failed protected component and switches over, losing no
# record, and the old active's copy (which may hold a change its journal
# never got) is brought back by a targeted check of the entries it changed
# since its journal's last sync (by ctime), which finds two changes made
# underneath the capture that no record carries.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 16

field() { status_of "$1" | jq -r ".replication.$2"; }
on_standby() { grep -qx "$1" "$(lab path secondary data)/records"; }

ok "lab up (ha, sample)" lab up --mode ha --app sample
wait_for "peer_in_sync primary secondary" 15 || diag "the primary does not hear the secondary in sync"
is "$(sample_ask "PUT one")" "OK 1" "a record"
ok "engine stop --leave-apps-running on the active" \
	lab exec primary -- lifeline engine stop --leave-apps-running
wait_for "! lab exec primary -- lifeline status" 10 || diag "the engine still answers"
is "$(sample_ask "PUT two")" "OK 2" "the application goes on serving without its engine"
if wait_for "on_standby two" 10; then
	pass "its record still reaches the stand-by"
else
	fail "its record still reaches the stand-by"
fi
ok "engine start" lab exec primary -- lifeline engine start
if wait_for '[ "$(role_of primary)" = "active 1" ] && [ "$(field secondary state)" = in-sync ]' 15; then
	pass "the engine resumes active, the stand-by in sync"
else
	fail "the engine resumes active, the stand-by in sync: $(role_of primary), $(field secondary state)"
fi
is "$(field primary check.id)" "0" "no check was needed"

# Two changes underneath the capture, as a crash between "change the file"
# and "journal it" leaves them: no record carries them.
under=$(lab path primary data)
echo ghost >>"$under/records"
echo "only here" >"$under/unjournaled"
victim=$(field primary pid)
ok "kill -9 lifeline-repl on the active (pid $victim)" kill -KILL "$victim"
if wait_for "served_by secondary" 20; then
	pass "the secondary takes over by a switchover"
else
	fail "the secondary takes over by a switchover: $(role_of secondary)"
fi
is "$(sample_ask "HAS one") $(sample_ask "HAS two")" "YES YES" "with every record"
# The killed lifeline-repl ended while capturing: a targeted check of what
# its copy changed since its journal's last sync.
if wait_for '[ "$(field primary state)" = in-sync ] && [ "$(field secondary check.kind)" = targeted ] &&
    [ "$(field secondary check.state)" = done ]' 30; then
	pass "the old active's copy gets a targeted check and is in sync again"
else
	fail "the old active's copy gets a targeted check and is in sync again: $(field primary state), check $(status_of secondary | jq -c .replication.check)"
fi
is "$(field secondary check.result | cut -d: -f1)" "in-sync" "the check ended in sync"
if grep -qx ghost "$under/records"; then
	fail "the change to a file no record carries is undone"
else
	pass "the change to a file no record carries is undone"
fi
if find "$(lab path primary state)/quarantine" -name unjournaled 2>/dev/null | grep -q .; then
	pass "the file no record made is in the old active's quarantine"
else
	fail "the file no record made is in the old active's quarantine"
fi
tree_of secondary >"$WORK/tree.secondary"
tree_of primary >"$WORK/tree.primary"
is "$(tail -n 1 "$WORK/tree.primary")" "$(tail -n 1 "$WORK/tree.secondary")" "the trees are identical, mtimes too"
cmp -s "$WORK/tree.primary" "$WORK/tree.secondary" ||
	diag "$(diff "$WORK/tree.primary" "$WORK/tree.secondary" | head -n 20)"
