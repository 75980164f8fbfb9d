# The engine's skeleton in a real lab: status over the control socket,
# reload all or nothing (by `lifeline reload` and by SIGHUP), and a clean
# stop on SIGTERM that stops the application and releases the public IP.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 27

ok "lab up (ha, sample)" lab up --mode ha --app sample
conf="$LAB_DIR/primary/etc/lifeline.conf"
sock="$(lab path primary state)/lifelined.sock"
enginelog="$LAB_DIR/primary/log/lifelined.log"

st=$(status_of primary)
is "$(jq -r '[.self, .role, .mode, .epoch] | join(" ")' <<<"$st")" "primary active ha 1" \
	"the primary of a new cluster starts active in epoch 1"
is "$(jq -r '.services[] | select(.name == "sample") | .state' <<<"$st")" "running" \
	"the active node runs the protected service"
is "$(jq -r '.public.configured' <<<"$st")" "true" "the active node has the public address"
is "$(jq -r '[.nodes[].identity] | join(" ")' <<<"$st")" "primary secondary" "status lists the nodes of mode ha"
is "$(jq -r '[.nodes[] | select(.identity == "secondary") | .channels[].remote] | join(" ")' <<<"$st")" \
	"203.0.113.2 203.0.113.26" "the secondary's entry lists both channels to it"
st=$(status_of secondary)
is "$(jq -r '[.self, .role] | join(" ")' <<<"$st")" "secondary passive" "the secondary starts passive"
is "$(jq -r '.services[0].state + " " + (.public.configured | tostring)' <<<"$st")" "stopped false" \
	"a passive node runs no service and has no public address"
is "$(stat -c %a "$sock")" "600" "the control socket is mode 0600"

# The hash of the running configuration is the SHA-256 of its normalized text.
want=$("$LIFELINE_BIN/lifelined" -nv -f "$conf" | sha256sum | cut -d' ' -f1)
hash0=$(status_of primary | jq -r .config_hash)
is "$hash0" "$want" "config_hash is the hash of lifelined -nv"

# A bad file is refused and the running configuration kept.
cp "$conf" "$WORK/good.conf"
sed -i 's/^\[failover\]$/[failover]\ntimeout = soon/' "$conf"
out=$(lab exec primary -- lifeline reload 2>&1); rc=$?
is "$rc" "1" "lifeline reload of a bad file fails"
like "$out" "^lifeline: reload refused, the running configuration is kept: /etc/lifeline/lifeline.conf:[0-9]+: \\[failover\\] timeout" \
	"and says which line is wrong"
is "$(status_of primary | jq -r .config_hash)" "$hash0" "the running configuration is unchanged"
engine=$(cat "$LAB_DIR/primary/lifelined.pid")
ok "SIGHUP with the bad file" kill -HUP "$engine"
if wait_for "grep -q 'reload refused, keeping the running configuration' '$enginelog'" 10; then
	pass "SIGHUP: the refusal is logged"
else
	fail "SIGHUP: the refusal is logged"
fi
is "$(status_of primary | jq -r '.config_hash + " " + .services[0].state')" "$hash0 running" \
	"the engine still runs the old configuration and the service"

# A change the engine cannot take live is refused too.
# (The CLI would look in the new state_dir, so name the running socket.)
sed 's|^state_dir = .*|state_dir = /var/lib/lifeline-other|' "$WORK/good.conf" > "$conf"
out=$(lab exec primary -- lifeline --socket /var/lib/lifeline/lifelined.sock reload 2>&1)
like "$out" "need an engine restart" "a new state_dir needs a restart, and the refusal says so"

# A good change is taken whole.
sed 's/^mode = async$/mode = fsync/' "$WORK/good.conf" > "$conf"
want=$("$LIFELINE_BIN/lifelined" -nv -f "$conf" | sha256sum | cut -d' ' -f1)
ok "lifeline reload of a good file" lab exec primary -- lifeline reload
st=$(status_of primary)
is "$(jq -r .config_hash <<<"$st")" "$want" "the new configuration runs"
is "$(jq -r .replication.mode <<<"$st")" "fsync" "with its new value"
is "$(jq -r '.services[0].state' <<<"$st")" "running" "and the service kept running through it"

# SIGTERM: services stopped, address released, socket removed, exit 0.
sample_pid=$(jq -r '.services[0].pid' <<<"$st")
ok "SIGTERM" kill -TERM "$engine"
if wait_for "! kill -0 $engine 2>/dev/null" 15; then pass "the engine exits"; else fail "the engine exits"; fi
like "$(tail -n 5 "$enginelog")" "stopped" "and logs that it stopped"
not_ok "the protected service was stopped" kill -0 "$sample_pid"
not_ok "the public address was released" sh -c "'$LIFELINE_BIN/lifeline' lab --dir '$LAB_DIR' exec primary -- ip -o addr show dev eth0 | grep -q ' 192.0.2.10/'"
not_ok "the control socket was removed" test -e "$sock"
