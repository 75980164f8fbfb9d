# lifeline config push on a 3-node lab (ha+dr), all or nothing: a valid
# change pushed from the active reaches every node (same file, same
# config_hash, the old file kept as .previous); an invalid file is refused
# before anything is sent; a file only the tertiary refuses (its own plug-in
# fragment defines the same service) is taken by no node; with the
# tertiary powered off the push fails,
# naming it and the address tried, and every node keeps the old file and
# hash; a node changed by hand shows as config_mismatch and in the events,
# and a push repairs it; a passive node refuses to push.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 36

# conf_of NODE: the host path of NODE's /etc/lifeline/lifeline.conf (readable while it is off).
conf_of() { echo "$LAB_DIR/$1/etc/lifeline.conf"; }
hash_of() { status_of "$1" | jq -r .config_hash; }
all_hashes() { echo "$(hash_of primary) $(hash_of secondary) $(hash_of tertiary)"; }
mismatch_of() { status_of "$1" | jq -r '[.config_mismatch[].identity] | join(",")'; }
# set_queue NODE SIZE: NODE's lifeline.conf with [replication] queue = SIZE (added or replaced).
set_queue() {
	local f
	f=$(conf_of "$1")
	sed -i '/^queue = /d' "$f" && sed -i "/^\[replication\]/a queue = $2" "$f"
}
# same_files A B: the two files are byte for byte the same.
same_files() { cmp -s "$1" "$2"; }
push() { lab exec primary -- lifeline config push "$@"; }

ok "lab up (ha+dr, sample)" lab up --mode ha+dr --app sample
wait_for "peer_in_sync primary secondary && peer_in_sync primary tertiary" 30 || true
is "$(lab exec primary -- cat /etc/lifeline/lifeline.conf | md5sum)" "$(md5sum <"$(conf_of primary)")" \
	"the host path of the primary's lifeline.conf is the one it runs"
h0=$(hash_of primary)
is "$(all_hashes)" "$h0 $h0 $h0" "every node starts with the same config_hash"
cp "$(conf_of primary)" "$WORK/conf.0"

# ---- a valid change, pushed from the active -------------------------------------
set_queue primary 768MiB
out=$(push 2>&1)
rc=$?
diag "$out"
is "$rc" "0" "a valid change is pushed"
like "$out" "^tertiary: committed: /etc/lifeline/lifeline.conf replaced, the old one kept as" \
	"the tertiary committed it and kept the old file"
like "$out" "every node runs configuration [0-9a-f]{12}$" "the push ends saying every node runs it"
h1=$(hash_of primary)
[ "$h1" != "$h0" ] && pass "the primary runs a new config_hash" ||
	fail "the primary runs a new config_hash"
wait_for "[ \"\$(all_hashes)\" = \"$h1 $h1 $h1\" ]" 10 &&
	pass "every node's status reports the new config_hash" ||
	{ fail "every node's status reports the new config_hash"; diag "$(all_hashes)" "$out"; }
same_files "$(conf_of primary)" "$(conf_of secondary)" && same_files "$(conf_of primary)" "$(conf_of tertiary)" &&
	pass "the file is byte for byte the same on every node" ||
	fail "the file is byte for byte the same on every node"
same_files "$(conf_of secondary).previous" "$WORK/conf.0" && [ ! -e "$(conf_of tertiary).staged" ] &&
	pass "the old file is kept as lifeline.conf.previous, nothing left staged" ||
	fail "the old file is kept as lifeline.conf.previous, nothing left staged"
is "$(peer_field primary tertiary .config_hash)" "${h1:0:16}" \
	"the active hears the tertiary's hash in its heartbeats (nodes[].config_hash)"
cp "$(conf_of primary)" "$WORK/conf.1"

# ---- an invalid file: refused here, nothing sent -------------------------------
set_queue primary lots
out=$(push 2>&1)
rc=$?
is "$rc" "1" "an invalid file is refused"
like "$out" "^lifeline config push: /etc/lifeline/lifeline.conf:[0-9]+: .*queue.*; nothing was sent$" \
	"with the configuration's own file:line message, and nothing sent"
is "$(all_hashes)" "$h1 $h1 $h1" "every node still runs the same configuration"
same_files "$(conf_of secondary)" "$WORK/conf.1" && same_files "$(conf_of tertiary)" "$WORK/conf.1" &&
	[ ! -e "$(conf_of secondary).staged" ] &&
	pass "the other nodes' files are untouched" || fail "the other nodes' files are untouched"

# ---- a file one node refuses: nobody takes it ------------------------------------
# The tertiary alone has a plug-in fragment defining [service extra] (as a
# plug-in installed there with --here would): a file that defines it too
# is valid on the primary and the secondary, and twice defined there.
frag=$(lab path tertiary state)/plugins/local.conf
mkdir -p "$(dirname "$frag")"
printf '[protect]\nservice = extra\n\n[service extra]\nstart = /bin/sleep 1000\n' >"$frag"
cp "$WORK/conf.1" "$(conf_of primary)"
sed -i 's/^service = sample$/service = sample, extra/' "$(conf_of primary)"
printf '\n[service extra]\nstart = /bin/sleep 1000\n' >>"$(conf_of primary)"
out=$(push 2>&1)
rc=$?
diag "$out"
is "$rc" "1" "a file the tertiary refuses is not pushed"
like "$out" "^tertiary: FAILED: .*extra" "the tertiary is named with its own reason"
like "$out" "^secondary: aborted: staged configuration removed" "the secondary's staged copy is removed"
is "$(all_hashes)" "$h1 $h1 $h1" "every node still runs the configuration it ran"
same_files "$(conf_of secondary)" "$WORK/conf.1" && same_files "$(conf_of tertiary)" "$WORK/conf.1" &&
	[ ! -e "$(conf_of secondary).staged" ] && [ ! -e "$(conf_of tertiary).staged" ] &&
	pass "the secondary and the tertiary keep the old file, nothing staged" ||
	fail "the secondary and the tertiary keep the old file, nothing staged"
rm -f "$frag"

# ---- a node powered off: nobody takes it -----------------------------------------
cp "$WORK/conf.1" "$(conf_of primary)"
set_queue primary 896MiB
ok "power off the tertiary" lab kill tertiary
out=$(push 2>&1)
rc=$?
diag "$out"
is "$rc" "1" "with the tertiary off, the push fails"
like "$out" "^tertiary: FAILED: 203\.0\.113\.10 port 9730: " "the tertiary is named, with the address tried"
like "$out" "^secondary: aborted: staged configuration removed" "the secondary's staged copy is removed"
! printf '%s\n' "$out" | grep -q "^primary:" &&
	pass "the active's engine was not touched (no line for it)" ||
	fail "the active's engine was not touched (no line for it)"
like "$out" "not pushed: tertiary did not take it; every node keeps the configuration it runs$" \
	"the push says nobody changed"
is "$(hash_of primary) $(hash_of secondary)" "$h1 $h1" "the primary and the secondary run the old config_hash"
same_files "$(conf_of secondary)" "$WORK/conf.1" && same_files "$(conf_of tertiary)" "$WORK/conf.1" &&
	[ ! -e "$(conf_of secondary).staged" ] && [ ! -e "$(conf_of tertiary).staged" ] &&
	pass "the secondary and the tertiary keep the old file, nothing staged" ||
	fail "the secondary and the tertiary keep the old file, nothing staged"

# ---- a node changed by hand: a mismatch, then repaired by a push ----------------
cp "$WORK/conf.1" "$(conf_of primary)"
ok "boot the tertiary" lab boot tertiary
wait_for "[ \"\$(peer_field primary tertiary .reachable)\" = true ]" 30 || true
set_queue tertiary 640MiB
lab exec tertiary -- lifeline reload >/dev/null 2>&1
wait_for "[ \"\$(mismatch_of primary)\" = tertiary ]" 15 &&
	pass "the active's status shows the tertiary under config_mismatch" ||
	{ fail "the active's status shows the tertiary under config_mismatch"; diag "$(status_of primary | jq -c .)"; }
wait_for "lab exec primary -- lifeline events | grep -q 'configuration mismatch: tertiary runs [0-9a-f]\{16\}, this node (primary) runs ${h1:0:16}'" 10 &&
	pass "the mismatch is an event naming the node and both hashes" ||
	fail "the mismatch is an event naming the node and both hashes"
out=$(push --json 2>&1)
is "$?" "0" "a push from the active repairs it"
is "$(printf '%s' "$out" | jq -r '[.ok, (.nodes[] | .identity + "=" + .result)] | join(" ")')" \
	"true primary=committed secondary=committed tertiary=committed" \
	"its --json names every node committed"
wait_for "[ \"\$(all_hashes)\" = \"$h1 $h1 $h1\" ] && [ -z \"\$(mismatch_of primary)\" ]" 10 &&
	same_files "$(conf_of tertiary)" "$WORK/conf.1" &&
	pass "every node runs the pushed configuration again, no mismatch" ||
	{ fail "every node runs the pushed configuration again, no mismatch"; diag "$(all_hashes)" "$out"; }
wait_for "lab exec primary -- lifeline events | grep -q 'configuration mismatch with tertiary ended'" 10 &&
	pass "the end of the mismatch is an event" || fail "the end of the mismatch is an event"

# ---- only the active pushes ---------------------------------------------------
out=$(lab exec secondary -- lifeline config push 2>&1)
rc=$?
[ "$rc" = 1 ] && printf '%s\n' "$out" | grep -q "this node (secondary) is passive: run lifeline config push on the active node, primary" &&
	pass "a passive node refuses and says where to run it" ||
	{ fail "a passive node refuses and says where to run it"; diag "rc $rc: $out"; }
