# Replication of a busy tree down the whole chain: a verifying writer
# (creates, writes, truncates, renames, links, symlinks, xattrs, chmod/chown,
# fallocate, mmap writes, deletes, in four threads) runs on the active of
# an ha+dr lab; lifeline-repl on the secondary is killed with SIGKILL in
# the middle and resumes from its journal; once the queue drains, the
# trees of all three nodes hash the same (content, sizes, modes, owners,
# xattrs, link counts, symlink targets, and the mtimes of files, folders
# and symlinks), the active's read underneath its capture. Hard links are
# in the mix: the capture gives every name of a file one kernel inode.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 9

data=/var/lib/lifeline-sample
ok "lab up (ha+dr, sample)" lab up --mode ha+dr --app sample

field() {   # field NODE JQ: a field of the node's replication status
	status_of "$1" | jq -r ".replication.$2"
}

lab exec primary -- lifeline-writer "$data/w" --seconds 6 --threads 4 --seed 7 \
	>"$WORK/writer.out" 2>&1 &
writer=$!
# SIGKILL the secondary's lifeline-repl while the writer runs; lifelined starts it again.
sleep 2
victim=$(field secondary pid)
ok "kill -9 lifeline-repl on the secondary (pid $victim) mid-stream" kill -KILL "$victim"
wait "$writer"
rc=$?
diag "$(tail -n 40 "$WORK/writer.out")"
is "$rc" "0" "the writer's own verification passes on the active"

if wait_for '[ "$(field secondary pid)" != "$victim" ] && [ "$(field secondary state)" = in-sync ]' 60; then
	pass "lifeline-repl runs again on the secondary, in sync"
else
	fail "lifeline-repl runs again on the secondary, in sync: $(field secondary state)"
fi
like "$(cat "$LAB_DIR/secondary/log/lifelined.log")" \
	"lifeline-repl: journal /var/lib/lifeline/repl/journal: seq [0-9]+\\.\\.[1-9][0-9]*, applied up to [1-9]" \
	"it resumed from its journal and its applied position"
is "$(field secondary needs_check)" "false" "without a check"

sleep 0.5    # statuses are up to 250 ms old: let them see the writer's last record
if wait_for "drained primary secondary tertiary" 60; then
	pass "the queue drains to both stand-bys (seq $(field primary last_seq))"
else
	fail "the queue drains to both stand-bys: last $(field primary last_seq), acked $(field primary acked_seq), applied $(field secondary applied_seq) and $(field tertiary applied_seq)"
fi

for node in primary secondary tertiary; do
	tree_of "$node" >"$WORK/tree.$node" 2>"$WORK/tree.$node.err"
done
total_p=$(tail -n 1 "$WORK/tree.primary")
diag "primary: $total_p"
is "$(tail -n 1 "$WORK/tree.secondary")" "$total_p" "the secondary's tree is the primary's"
[ "$(tail -n 1 "$WORK/tree.secondary")" = "$total_p" ] ||
	diag "$(diff "$WORK/tree.primary" "$WORK/tree.secondary" | head -n 20)"
is "$(tail -n 1 "$WORK/tree.tertiary")" "$total_p" "the tertiary's tree is the primary's"
[ "$(tail -n 1 "$WORK/tree.tertiary")" = "$total_p" ] ||
	diag "$(diff "$WORK/tree.primary" "$WORK/tree.tertiary" | head -n 20)"
