# `lab up` and `lab down` may be repeated; an up in another mode is refused
# while a lab is up; a bad or failed up leaves nothing behind.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 16

ok "lab up" lab up --mode ha
prefix=$(lab_prefix)
before=$(lab_namespaces | tr '\n' ' ')
engine=$(cat "$LAB_DIR/primary/lifelined.pid")
out=$(lab up --mode ha 2>&1)
is "$?" 0 "a second lab up succeeds"
like "$out" "already up" "and says the lab is already up"
is "$(lab_namespaces | tr '\n' ' ')" "$before" "with the same namespaces"
is "$(cat "$LAB_DIR/primary/lifelined.pid")" "$engine" "and the same engines"

out=$(lab up --mode dr 2>&1)
is "$?" 1 "lab up in another mode is refused"
like "$out" "already up in mode ha at .*; run lifeline lab down first" "naming the running mode and what to do"

ok "lab down" lab down
ok "a second lab down succeeds" lab down
is "$(ip netns list | awk '{print $1}' | grep -c -- "^$prefix-")" 0 "no namespace left"

out=$(lab up --app bogus 2>&1)
is "$?" 2 "lab up --app bogus is a usage error"
if [ ! -e "$LAB_DIR" ] && [ -z "$(ip netns list | awk '{print $1}' | grep -- "^$prefix-")" ]; then
	pass "and leaves nothing behind"
else
	fail "and leaves nothing behind"
	diag "$out" "$(ls -la "$LAB_DIR" 2>&1)" "$(ip netns list)"
fi

# An engine that exits at once makes up fail half way, after the
# namespaces and mounts were made: all of it must be undone.
out=$(LIFELINE_LAB_ENGINE=/bin/false lab up --mode ha+dr 2>&1)
is "$?" 1 "lab up with an engine that dies fails"
like "$out" "engine of [a-z]+ exited" "saying which engine exited"
if [ -z "$(ip netns list | awk '{print $1}' | grep -- "^$prefix-")" ] && [ -z "$(lab_mounts)" ] &&
	[ -f "$LAB_DIR/primary/log/lifelined.log" ]; then
	pass "the failed up leaves no namespace and no mount, only its logs"
else
	fail "the failed up leaves no namespace and no mount, only its logs"
	diag "$(ip netns list)" "$(lab_mounts)" "$(ls -R "$LAB_DIR" 2>&1)"
fi
ok "lab down after a failed up removes the folder" sh -c "'$LIFELINE_BIN/lifeline' lab --dir '$LAB_DIR' down && test ! -e '$LAB_DIR'"
