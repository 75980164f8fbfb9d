# Node loss: `lab kill primary` makes the secondary active and the client is
# served by it on the public IP; the old active, booted again, stays passive
# in the lower epoch and follows the new active. Never two actives.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 10

ok "lab up (ha, sample)" lab up --mode ha --app sample
# A stand-by never fails over before it has been in sync once (rule 5).
if wait_for "peer_in_sync primary secondary" 10; then
	pass "the primary hears the secondary in sync"
else
	fail "the primary hears the secondary in sync"
fi
watch_start
is "$(sample_ask GET)" "primary 0" "the primary serves"
ok "power off the primary" lab kill primary
if wait_for "served_by secondary" 15; then
	pass "the client is served by the secondary"
else
	fail "the client is served by the secondary"
fi
is "$(role_of secondary)" "active 2" "the secondary is active in epoch 2"
like "$(cat "$LAB_DIR/secondary/log/lifelined.log")" "role: active in epoch 2: primary silent for [0-9]+ ms" \
	"the takeover is logged with its reason"

ok "power the primary on again" lab boot primary
if wait_for '[ "$(role_of primary)" = "passive 2" ]' 10; then
	pass "the old active comes back passive and follows epoch 2"
else
	fail "the old active comes back passive and follows epoch 2: $(role_of primary)"
fi
watch_verdict "the client is still served by the secondary, and only by it"
