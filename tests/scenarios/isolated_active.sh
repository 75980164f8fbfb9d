# The active is cut from everything: it demotes itself within the timeout
# (rule 2) and the secondary takes over. When it comes back it stays
# passive in the lower epoch. Never two actives.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 9

ok "lab up (ha, sample)" lab up --mode ha --app sample
wait_for "peer_in_sync primary secondary" 10 && pass "the primary hears the secondary in sync" || fail "the primary hears the secondary in sync"
watch_start
ok "cut the primary from every network" lab cut primary all
# It may hand over (rule 3) or demote (rule 2), whichever fires first.
if wait_for '[ "$(role_of primary | cut -d" " -f1)" = passive ]' 10; then
	pass "the isolated primary demotes itself"
else
	fail "the isolated primary demotes itself: $(role_of primary)"
fi
if wait_for "served_by secondary" 15; then
	pass "the secondary takes over and serves the client"
else
	fail "the secondary takes over and serves the client"
fi
ok "heal the primary" lab heal primary
if wait_for '[ "$(role_of primary)" = "passive 2" ]' 10; then
	pass "the old active stays passive and follows epoch 2"
else
	fail "the old active stays passive and follows epoch 2: $(role_of primary)"
fi
is "$(role_of secondary)" "active 2" "the secondary stays active"
watch_verdict "one node answered at a time throughout"
