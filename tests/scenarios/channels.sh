# Heartbeat channels: TLS with mutual authentication on every channel, a
# peer alive while any channel is, RTT measured, and a node with another
# cluster's certificate or another node's certificate refused and logged.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 19

ok "lab up (ha, sample)" lab up --mode ha --app sample
watch_start
channels_up() { peer_field "$1" "$2" '[.channels[] | select(.up) | .remote] | join(" ")'; }

if wait_for '[ "$(channels_up primary secondary)" = "203.0.113.2 203.0.113.26" ]' 10; then
	pass "the primary sees both channels to the secondary up"
else
	fail "the primary sees both channels to the secondary up: $(channels_up primary secondary)"
fi
# The first RTT needs one heartbeat each way.
if wait_for '[ "$(peer_field primary secondary "[.channels[].rtt_ms | type] | join(\" \")")" = "number number" ]' 5; then
	pass "each channel has a measured RTT"
else
	fail "each channel has a measured RTT"
fi
is "$(peer_field secondary primary '.role + " " + (.reachable | tostring) + " " + (.epoch | tostring)')" \
	"active true 1" "the secondary hears the primary active in epoch 1"

# One of two channels cut: the peer stays reachable all the time.
ok "cut the first primary-secondary channel" lab cut primary channel-ps
flapped=0
for _ in $(seq 1 15); do     # 15 looks over about 2 s, twice the timeout
	[ "$(peer_field primary secondary .reachable)" = "true" ] || flapped=1
	sleep 0.15
done
is "$flapped" "0" "the secondary stays reachable on the other channel"
if wait_for '[ "$(channels_up primary secondary)" = "203.0.113.26" ]' 10; then
	pass "only the cut channel is down"
else
	fail "only the cut channel is down: $(channels_up primary secondary)"
fi
ok "heal" lab heal
if wait_for '[ "$(channels_up primary secondary)" = "203.0.113.2 203.0.113.26" ]' 10; then
	pass "the healed channel comes back"
else
	fail "the healed channel comes back"
fi

# Every channel cut: the peer is lost.
ok "cut every channel of the primary" lab cut primary channel
if wait_for '[ "$(peer_field primary secondary .reachable)" = "false" ]' 10; then
	pass "the primary loses the secondary"
else
	fail "the primary loses the secondary"
fi
ok "heal" lab heal
if wait_for '[ "$(peer_field primary secondary .reachable)" = "true" ]' 10; then
	pass "and finds it again"
else
	fail "and finds it again"
fi

watch_verdict "one node answered at a time while channels were cut and healed"

# The secondary gets the primary's certificate: right CA, wrong identity.
tls="$LAB_DIR/secondary/etc/tls"
cp "$LAB_DIR/tls/primary.crt" "$tls/secondary.crt"
cp "$LAB_DIR/tls/primary.key" "$tls/secondary.key"
ok "restart the secondary with the primary's certificate" sh -c \
	"'$LIFELINE_BIN/lifeline' lab --dir '$LAB_DIR' kill secondary && '$LIFELINE_BIN/lifeline' lab --dir '$LAB_DIR' boot secondary"
# The secondary's engine checks its own files first and says which is wrong.
like "$(cat "$LAB_DIR/secondary/log/lifelined.log")" "no channels: .*secondary.crt" \
	"the secondary refuses to use another node's certificate and says why"

# Another cluster's CA (same cluster name): the handshake itself fails.
other="$WORK/other"
sed "s|^tls_dir = .*|tls_dir = $other|" "$LAB_DIR/primary/etc/lifeline.conf" > "$WORK/other.conf"
"$LIFELINE_BIN/lifeline" -f "$WORK/other.conf" init >/dev/null
cp "$other/ca.crt" "$other/secondary.crt" "$other/secondary.key" "$tls/"
: > "$LAB_DIR/primary/log/lifelined.log.mark"
ok "restart the secondary with another cluster's certificates" sh -c \
	"'$LIFELINE_BIN/lifeline' lab --dir '$LAB_DIR' kill secondary && '$LIFELINE_BIN/lifeline' lab --dir '$LAB_DIR' boot secondary"
if wait_for "grep -q 'channel: secondary .*cannot connect: TLS: certificate verify failed' '$LAB_DIR/primary/log/lifelined.log'" 10; then
	pass "the primary refuses the foreign certificate and logs it"
else
	fail "the primary refuses the foreign certificate and logs it"
fi
is "$(peer_field primary secondary .reachable)" "false" "and never counts the secondary as reachable"
