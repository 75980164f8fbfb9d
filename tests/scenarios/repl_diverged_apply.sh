# A stand-by finds out while applying that its copy differs: a file was
# removed from it behind Lifeline's back, then the application writes to
# that file on the active. The stand-by asks the active for a full check
# at once (not only when it next connects), the check recreates the file,
# and the stand-by is in sync again with identical trees.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 6

data=/var/lib/lifeline-sample
ok "lab up (ha, sample)" lab up --mode ha --app sample
lab exec primary -- sh -c "echo one >$data/diverge" >/dev/null
sleep 0.5    # statuses are up to 250 ms old
wait_for "drained primary secondary" 20 || diag "the secondary lags"
sdata=$(lab path secondary data)
ok "the file is removed from the stand-by's copy, underneath" rm "$sdata/diverge"
checks() { status_of primary | jq -r '.replication.check.id'; }
before=$(checks)
ok "the application writes to it on the active" lab exec primary -- sh -c "echo two >>$data/diverge"
if wait_for '[ "$(checks)" -gt "$before" ]' 20; then
	pass "the stand-by asked for a check as soon as its apply diverged"
else
	fail "the stand-by asked for a check as soon as its apply diverged (check id $(checks))"
fi
state() { status_of secondary | jq -r '.replication.state'; }
wait_for '[ "$(state)" = in-sync ] && [ "$(status_of primary | jq -r .replication.check.state)" = done ]' 30
is "$(state)" "in-sync" "the stand-by is in sync again"
tree_of primary >"$WORK/tree.primary"
tree_of secondary >"$WORK/tree.secondary"
is "$(tail -n 1 "$WORK/tree.secondary")" "$(tail -n 1 "$WORK/tree.primary")" "the trees are identical, mtimes too"
cmp -s "$WORK/tree.primary" "$WORK/tree.secondary" ||
	diag "$(diff "$WORK/tree.primary" "$WORK/tree.secondary" | head -n 20)"
