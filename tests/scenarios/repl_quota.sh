# Queue quota overflow: with the stand-by's channels cut, the active
# writes past its queue quota (16 MiB here) and cuts the stand-by loose,
# listing the files it missed. Once the channels heal the stand-by skips
# to what the active still holds, and a targeted check (of the listed
# files, not the whole tree) brings it back in sync: the trees are
# identical, the stand-by was never asked for a full check, and writes
# made after the heal reach it in order.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 11

data=/var/lib/lifeline-sample
field() { status_of "$1" | jq -r ".replication.$2"; }

ok "lab up (ha, sample)" lab up --mode ha --app sample
# Only the active's quota matters here; the reload hands it to lifeline-repl.
lab exec primary -- sed -i 's/^mode = async$/&\nqueue = 16MiB/' /etc/lifeline/lifeline.conf
ok "the active takes a 16 MiB queue quota" lab exec primary -- lifeline reload
# A tree both nodes have before the cut: some of it changes while cut.
lab exec primary -- sh -c "mkdir -p $data/q/keep $data/q/gone-dir && for i in 1 2 3 4 5; do
	echo base \$i > $data/q/keep/f\$i; done && echo old > $data/q/gone-dir/x &&
	echo moving > $data/q/from && echo doomed > $data/q/doomed" >/dev/null
sleep 0.5
wait_for "drained primary secondary" 20 || diag "the secondary lags before the cut"

ok "cut the stand-by's channels" lab cut secondary channel
# 4 MiB, changes to what both had (a rename, a delete, a folder removed,
# a file rewritten, a mode changed), then 24 MiB more: the quota cut drops
# the oldest records, so the stand-by never gets the changes.
lab exec primary -- sh -c "mkdir -p $data/q/new &&
	for i in 1 2 3 4; do head -c 1048576 /dev/urandom > $data/q/new/big\$i; done &&
	mv $data/q/from $data/q/to && rm $data/q/doomed &&
	rm -r $data/q/gone-dir && echo rewritten > $data/q/keep/f2 && chmod 0600 $data/q/keep/f3 &&
	for i in \$(seq 5 28); do head -c 1048576 /dev/urandom > $data/q/new/big\$i; done" >/dev/null
if wait_for '[ "$(field primary queue_overflows)" -ge 1 ]' 10; then
	pass "the active cut the stand-by loose past the quota"
else
	fail "the active cut the stand-by loose past the quota: overflows $(field primary queue_overflows), queue $(field primary queue_bytes) bytes"
fi
is "$(field primary state)" "out-of-sync" "the active says the stand-by is out of sync"

ok "heal the channels" lab heal
if wait_for '[ "$(field secondary state)" = in-sync ] && [ "$(field primary state)" = in-sync ]' 60; then
	pass "the stand-by comes back in sync"
else
	fail "the stand-by comes back in sync: secondary $(field secondary state), primary $(field primary state)"
	show_logs secondary
fi
status_of primary | jq -c .replication.check >"$WORK/check.json"
is "$(jq -r '.kind + " " + (.result // "")' "$WORK/check.json" | cut -d: -f1)" "targeted in-sync" \
	"the check that did it was a targeted one, ended in sync"
diag "$(cat "$WORK/check.json")"

# Written after the heal: reaches the stand-by in order, as always.
lab exec primary -- sh -c "echo after > $data/q/after" >/dev/null
sleep 0.5
wait_for "drained primary secondary" 20 || diag "the secondary lags after the check"
tree_of primary >"$WORK/tree.primary"
tree_of secondary >"$WORK/tree.secondary"
is "$(tail -n 1 "$WORK/tree.secondary")" "$(tail -n 1 "$WORK/tree.primary")" "the trees are identical, mtimes too"
cmp -s "$WORK/tree.primary" "$WORK/tree.secondary" ||
	diag "$(diff "$WORK/tree.primary" "$WORK/tree.secondary" | head -n 20)"
is "$(field secondary needs_check) $(field secondary needs_touched)" "false false" \
	"the stand-by needs no check any more (it never needed a full one)"
# What the stand-by still had of the removed names is set aside, not deleted.
q=$(lab path secondary state)/quarantine
n=$(find "$q" -path '*-check/root0/q/*' \( -name from -o -name doomed -o -name gone-dir \) \
	-prune -print 2>/dev/null | wc -l)
is "$n" "3" "the names only the stand-by still had are in its quarantine"
[ "$n" = 3 ] || diag "$(find "$q" | head -n 20)"
