# `lab cut` takes one network of a node away and `lab heal` brings it back;
# `lab kill` leaves no process of the node, `lab boot` starts its engine.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 15

ok "lab up" lab up --mode ha
ok "the client reaches the sample" sample_ask GET

ok "cut primary public" lab cut primary public
# Later engines may move the service to the secondary: what must hold is
# that the client no longer reaches the primary.
out=$(sample_ask GET --timeout 500 2>&1)
not_ok "the client no longer reaches the sample on the primary" grep -q '^primary ' <<<"$out"
ok "heal" lab heal
if wait_for "sample_ask GET --timeout 500" 10; then pass "the client reaches the sample again"; else fail "the client reaches the sample again"; fi

ok "cut primary channel" lab cut primary channel
not_ok "the secondary cannot ping the primary on either channel" \
	sh -c "'$LIFELINE_BIN/lifeline' lab --dir '$LAB_DIR' exec secondary -- ping -c1 -W1 203.0.113.1 ||
	       '$LIFELINE_BIN/lifeline' lab --dir '$LAB_DIR' exec secondary -- ping -c1 -W1 203.0.113.25"
ok "cut primary management" lab cut primary management
not_ok "the secondary cannot ping the primary's management address" lab exec secondary -- ping -c1 -W1 198.51.100.11
ok "heal primary" lab heal primary
if wait_for "lab exec secondary -- ping -c1 -W1 203.0.113.1 && lab exec secondary -- ping -c1 -W1 203.0.113.25 && lab exec secondary -- ping -c1 -W1 198.51.100.11" 10; then
	pass "the secondary reaches the primary on every network again"
else
	fail "the secondary reaches the primary on every network again"
fi

netns=$(ns_inode "$(lab_prefix)-primary")
ok "lab kill primary" lab kill primary
# shellcheck disable=SC2086
is "$(pids_in_netns $netns | tr '\n' ' ')" "" "lab kill primary leaves no process of the node"
ok "lab boot primary: its engine answers again" sh -c "'$LIFELINE_BIN/lifeline' lab --dir '$LAB_DIR' boot primary && '$LIFELINE_BIN/lifeline' lab --dir '$LAB_DIR' exec primary -- lifeline status"
