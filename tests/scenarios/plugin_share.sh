# lifeline plugin install on one node installs on every node (each node's
# agent checks the fragment against its own configuration, and its engine
# reloads); the service the plug-in found runs on the active with the
# plug-in's check; uninstall, given on another node, removes it
# everywhere; with a node powered off, install is undone and leaves
# nothing behind.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 13

plugin="$LIFELINE_BIN/../plugins/testplug-good.so"
svc_state() { status_of "$1" | jq -r ".services[] | select(.name == \"$2\") | .state"; }
files_of() { ls "$(lab path "$1" state)/plugins" 2>/dev/null | grep '^testplug\.' | tr '\n' ' '; }
hash_of() { status_of "$1" | jq -r .config_hash; }

ok "lab up (ha, sample)" lab up --mode ha --app sample
wait_for "peer_in_sync primary secondary" 15 || true

out=$(lab exec primary -- lifeline plugin install "$plugin" data=/var/lib/lifeline-sample 2>&1)
is "$?" "0" "plugin install on the primary succeeds"
like "$out" "^secondary: installed plug-in testplug \(4 files\); the engine reloads$" \
	"the secondary's agent took the plug-in and its engine reloads"
is "$(files_of primary)" "testplug.conf testplug.found.json testplug.json testplug.so " \
	"the primary holds the plug-in's files"
is "$(files_of secondary)" "$(files_of primary)" "the secondary holds the same files"
wait_for "[ \"\$(svc_state primary testapp)\" = running ]" 15 &&
	pass "the service the plug-in found runs on the active, its plug-in check passing" ||
	fail "the service the plug-in found runs on the active, its plug-in check passing"
wait_for "[ \"\$(svc_state secondary testapp)\" = stopped ]" 10 &&
	pass "the stand-by knows the service and leaves it stopped" ||
	fail "the stand-by knows the service and leaves it stopped"
wait_for "[ \"\$(hash_of primary)\" = \"\$(hash_of secondary)\" ]" 10 &&
	pass "both nodes run the same configuration (config_hash)" ||
	fail "both nodes run the same configuration (config_hash)"

out=$(lab exec secondary -- lifeline plugin uninstall testplug 2>&1)
is "$?" "0" "plugin uninstall, given on the secondary, succeeds"
is "$(files_of primary)$(files_of secondary)" "" "no file of the plug-in is left on either node"
wait_for "[ -z \"\$(svc_state primary testapp)\" ]" 15 &&
	pass "the active no longer has the plug-in's service" ||
	fail "the active no longer has the plug-in's service"

ok "power off the secondary" lab kill secondary
out=$(lab exec primary -- lifeline plugin install "$plugin" data=/var/lib/lifeline-sample 2>&1)
rc=$?
if [ "$rc" = 1 ] && [ -z "$(files_of primary)" ] &&
	printf '%s\n' "$out" | grep -q "testplug not installed: a node did not take it"; then
	pass "with the secondary off, install fails and leaves nothing on the primary"
else
	fail "with the secondary off, install fails and leaves nothing on the primary"
	diag "rc $rc, files: $(files_of primary)" "$out"
fi
