# ha+dr: a manual switchover to the DR tertiary and back; the tertiary never
# becomes active by itself, not even when both HA nodes are lost.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 24

ok "lab up (ha+dr, sample)" lab up --mode ha+dr --app sample
wait_for "peer_in_sync primary tertiary && peer_in_sync primary secondary" 15 &&
	pass "the primary hears both stand-bys in sync" || fail "the primary hears both stand-bys in sync"
# A switchover given on a passive and refused by the active comes back to
# the command with the active's reason, at once.
ok "cut the tertiary's channels" lab cut tertiary channel
wait_for '[ "$(peer_field secondary tertiary .reachable)" = false ] && [ "$(peer_field primary tertiary .reachable)" = false ]' 10 &&
	pass "nobody hears the tertiary" || fail "nobody hears the tertiary"
out=$(timeout 20 "$LIFELINE_BIN/lifeline" lab --dir "$LAB_DIR" exec secondary -- lifeline switchover --to tertiary --wait 2>&1)
like "$out" "switchover refused by the active: tertiary is not reachable on any channel" \
	"a forwarded switchover refused by the active says why"
ok "heal" lab heal
wait_for "peer_in_sync primary tertiary" 15 && pass "the tertiary is back in sync" ||
	fail "the tertiary is back in sync"
out=$(lab exec tertiary -- lifeline make-active --force 2>&1)
like "$out" "primary is active and reachable; use lifeline switchover" \
	"make-active --force is refused while the active is reachable"
watch_start
ok "switchover to the tertiary" lab exec primary -- lifeline switchover --to tertiary --wait
wait_for "served_by tertiary 198.18.0.10" 5 &&
	pass "the client reaches the tertiary on the DR site's public IP" ||
	fail "the client reaches the tertiary on the DR site's public IP"
wait_for "peer_in_sync tertiary primary" 15 && pass "the primary follows the tertiary" || fail "the primary follows the tertiary"
ok "switch back to the primary" lab exec tertiary -- lifeline switchover --to primary --wait
wait_for "served_by primary" 5 &&
	pass "the primary serves again" || fail "the primary serves again"

# A switchover in the HA pair, and the new active lost right away: the
# tertiary must already know who is active to vote, or the primary waits.
ok "switchover to the secondary, then power it off at once" sh -c \
	"'$LIFELINE_BIN/lifeline' lab --dir '$LAB_DIR' exec primary -- lifeline switchover --to secondary --wait &&
	 '$LIFELINE_BIN/lifeline' lab --dir '$LAB_DIR' kill secondary"
wait_for "served_by primary" 15 && pass "the primary takes over with the tertiary's vote" ||
	fail "the primary takes over with the tertiary's vote"
ok "power the secondary on again" lab boot secondary
wait_for '[ "$(role_of secondary)" = "passive 5" ]' 10 &&
	pass "the old active comes back passive in the newer epoch" ||
	fail "the old active comes back passive in the newer epoch"

# Lose the whole HA site: the tertiary must not take over by itself.
ok "power off the primary and the secondary" sh -c \
	"'$LIFELINE_BIN/lifeline' lab --dir '$LAB_DIR' kill primary && '$LIFELINE_BIN/lifeline' lab --dir '$LAB_DIR' kill secondary"
if wait_for "grep -q 'failover vetoed (dr-never-automatic)' '$LAB_DIR/tertiary/log/lifelined.log'" 10; then
	pass "the tertiary logs that a DR node never fails over by itself"
else
	fail "the tertiary logs that a DR node never fails over by itself"
fi
ok "the tertiary stays passive" stays_passive tertiary 2

# The administrator declares the HA site lost.
ok "make-active --force on the tertiary" lab exec tertiary -- lifeline make-active --force
is "$(role_of tertiary)" "active 6" "the tertiary is active in a new epoch"
wait_for "served_by tertiary 198.18.0.10" 5 &&
	pass "the client reaches the tertiary" || fail "the client reaches the tertiary"
watch_verdict "one node answered at a time throughout"
