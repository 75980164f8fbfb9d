# The full system check, online: the stand-by's copy is damaged behind
# Lifeline's back (a file only it has, a file it lost, changed bytes, a
# changed mode), then `lifeline check --full --wait` runs on the active
# while a verifying writer keeps writing. The check ends in sync, the file
# only the stand-by had is in its quarantine, and once the queue drains the
# trees are identical.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 8

data=/var/lib/lifeline-sample
ok "lab up (ha, sample)" lab up --mode ha --app sample
lab exec primary -- sh -c "mkdir -p $data/d && seq 1 100000 > $data/d/big && echo keep > $data/lost &&
	chmod 0640 $data/lost" >/dev/null
field() { status_of "$1" | jq -r ".replication.$2"; }
sleep 0.5    # statuses are up to 250 ms old
wait_for "drained primary secondary" 20 || diag "the secondary lags"
sdata=$(lab path secondary data)
echo "only here" >"$sdata/only-here"
rm "$sdata/lost"
printf 'XXXX' | dd of="$sdata/d/big" bs=1 seek=70000 conv=notrunc status=none
chmod 0600 "$sdata/d" 2>/dev/null
isnt_same=$(cmp -s "$sdata/d/big" "$(lab path primary data)/d/big" && echo same || echo differs)
is "$isnt_same" "differs" "the stand-by's copy is damaged"

lab exec primary -- lifeline-writer "$data/w" --seconds 5 --threads 2 --seed 3 \
	>"$WORK/writer.out" 2>&1 &
writer=$!
sleep 1        # the check starts with the writer in full swing
out=$(lab exec primary -- lifeline check --full --wait 2>&1)
like "$out" "check in-sync" "the check ends in sync while the writer runs"
diag "$out"
wait "$writer"
rc=$?
is "$rc" "0" "the writer's own verification passes"
[ "$rc" = 0 ] || diag "$(tail -n 60 "$WORK/writer.out")"
q=$(find "$(lab path secondary state)/quarantine" -name only-here 2>/dev/null)
if [ -n "$q" ] && [ "$(cat "$q")" = "only here" ]; then
	pass "the file only the stand-by had is in its quarantine"
else
	fail "the file only the stand-by had is in its quarantine"
fi
sleep 0.5
if wait_for "drained primary secondary" 30; then
	pass "the queue drains"
else
	fail "the queue drains"
fi
tree_of primary >"$WORK/tree.primary"
tree_of secondary >"$WORK/tree.secondary"
is "$(tail -n 1 "$WORK/tree.secondary")" "$(tail -n 1 "$WORK/tree.primary")" "the trees are identical, mtimes too"
cmp -s "$WORK/tree.primary" "$WORK/tree.secondary" ||
	diag "$(diff "$WORK/tree.primary" "$WORK/tree.secondary" | head -n 20)"
if wait_for '[ "$(field secondary state)" = in-sync ]' 10; then
	pass "the stand-by is in sync"
else
	fail "the stand-by is in sync: $(field secondary state)"
fi
