# An old active comes back with a divergent tail: its channels are cut, it
# goes on serving (the stand-by vetoes a failover while it is visible on
# the public network) and takes records the stand-by never gets; then it
# loses power and the stand-by takes over. When it boots again its tail is
# cut from its journal and saved, with the files it touched, in a dated
# quarantine folder, an event names the folder, the entries the tail
# changed go up as touched (with those its crash left) and a targeted
# check, not a full one, brings its copy in line, and the trees are
# identical.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 13

data=/var/lib/lifeline-sample
ok "lab up (ha, sample)" lab up --mode ha --app sample
wait_for "peer_in_sync primary secondary" 15 || diag "the primary does not hear the secondary in sync"
is "$(sample_ask "PUT before")" "OK 1" "a record before the cut"
ok "cut the primary's channels" lab cut primary channel
wait_for '[ "$(peer_field secondary primary .reachable)" = false ]' 10 ||
	diag "the secondary still hears the primary"
for n in 1 2 3; do sample_ask "PUT divergent-$n" >/dev/null; done
is "$(sample_ask GET)" "primary 4" "the primary goes on serving alone: 4 records"
ok "power the primary off" lab kill primary
if wait_for "served_by secondary" 20; then
	pass "the secondary takes over"
else
	fail "the secondary takes over"
fi
is "$(sample_ask "PUT after")" "OK 2" "the secondary has the record before the cut, and a new one"

slog=$LAB_DIR/secondary/log/lifelined.log
slines=$(wc -l <"$slog")
ok "heal and power the primary on" sh -c "'$LIFELINE_BIN/lifeline' lab --dir '$LAB_DIR' heal &&
	'$LIFELINE_BIN/lifeline' lab --dir '$LAB_DIR' boot primary"
state() { status_of primary | jq -r '.role + " " + .replication.state'; }
if wait_for '[ "$(state)" = "passive in-sync" ]' 30; then
	pass "the old active is passive and in sync again, after a check"
else
	fail "the old active is passive and in sync again, after a check: $(state)"
fi
# The tail's entries go up as touched, with the crash's own: a targeted check, not a full one.
since_boot=$(tail -n +"$((slines + 1))" "$slog")
if grep -q "records of the divergent tail are listed" "$LAB_DIR/primary/log/lifelined.log" &&
	grep -q "targeted check of [0-9]* entries started" <<<"$since_boot" &&
	! grep -q "check of the whole protected set started" <<<"$since_boot"; then
	pass "the divergent tail's entries were listed as touched: a targeted check brought it back"
else
	fail "the divergent tail's entries were listed as touched: a targeted check brought it back"
	diag "$(grep -h "tail\|check" "$LAB_DIR/primary/log/lifelined.log" | tail -n 10)"
	diag "$(grep "check" <<<"$since_boot" | tail -n 10)"
fi
qdir=$(lab path primary state)/quarantine
tail=$(find "$qdir" -name journal-tail.llj 2>/dev/null | head -n 1)
if [ -n "$tail" ] && grep -q divergent-3 "$tail" &&
	grep -q divergent-3 "$(dirname "$tail")/files/root0/records"; then
	pass "the divergent records and the file they changed are in $(dirname "${tail#"$LAB_DIR"/}")"
else
	fail "the divergent records and the file they changed are in the quarantine: $(find "$qdir" 2>&1)"
fi
like "$(lab exec primary -- lifeline events 2>&1)" "set aside in the quarantine .*: /var/lib/lifeline/quarantine/[0-9-]+-epoch1" \
	"an event names the quarantine folder"
tree_of primary >"$WORK/tree.primary"
tree_of secondary >"$WORK/tree.secondary"
is "$(tail -n 1 "$WORK/tree.secondary")" "$(tail -n 1 "$WORK/tree.primary")" "the trees are identical, mtimes too"
cmp -s "$WORK/tree.primary" "$WORK/tree.secondary" ||
	diag "$(diff "$WORK/tree.primary" "$WORK/tree.secondary" | head -n 20)"
