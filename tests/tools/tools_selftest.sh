#!/bin/bash
# tools/selftest: lifeline-writer and lifeline-treehash checked against each
# other on a plain folder, no lab: the writer's tree passes its own
# verification, a faithful copy (cp -a, xattrs kept) hashes the same, and
# each kind of difference a replica could have changes the total.
#
#   tools_selftest.sh WRITER TREEHASH
set -u

writer=${1:?usage: tools_selftest.sh WRITER TREEHASH}
treehash=${2:?usage: tools_selftest.sh WRITER TREEHASH}

work=$(mktemp -d /tmp/lifeline-tools-selftest.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
check() {       # check DESCRIPTION CMD...: one TAP line from CMD's status
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}
total() { "$treehash" "$@" | awk '$1 == "total" { print $2 }'; }
same() { [ "$1" = "$2" ]; }
differ() { [ "$1" != "$2" ]; }

# put_byte FILE OFFSET VALUE: overwrite one byte in place.
put_byte() {
	printf '%b' "\\0$(printf %03o "$3")" |
		dd of="$1" bs=1 seek="$2" count=1 conv=notrunc status=none
}

# differs_after WHAT CHANGE UNDO: CHANGE (a command line run in the copy)
# must change the total, UNDO must bring the reference total back.
differs_after() {
	local what=$1 change=$2 undo=$3 changed
	(cd "$work/copy" && eval "$change") || { not_ok "$what: the change failed"; return; }
	changed=$(total "$work/copy")
	check "$what changes the total" differ "$changed" "$ref"
	(cd "$work/copy" && eval "$undo")
	check "undoing $what restores it" same "$(total "$work/copy")" "$ref"
}

for tool in "$writer" "$treehash"; do
	[ -x "$tool" ] || { echo "Bail out! $tool is not built"; exit 1; }
done
command -v setfattr >/dev/null ||
	{ echo "Bail out! setfattr is missing (Debian package attr)"; exit 1; }

echo "1..20"

# (a) a bounded, seeded run verifies its own subtrees and leaves them
# run_writer ARGS...: the writer with its table shown as TAP comments.
run_writer() {
	"$writer" "$@" 2>&1 | sed 's/^/# /'
	return "${PIPESTATUS[0]}"
}
check "lifeline-writer --ops 3000 --seed 1 passes its verification" \
	run_writer "$work/tree" --ops 3000 --seed 1 --log "$work/writer.log"
"$treehash" --list "$work/tree" > "$work/list" || not_ok "lifeline-treehash --list"
entries=$(awk '$1 == "total" { print $3 }' "$work/list")
check "--list prints one line per entry, then the total ($entries entries)" \
	same "$(wc -l < "$work/list")" "$((entries + 1))"

# (b) a faithful copy hashes the same
cp -a --preserve=all "$work/tree" "$work/copy" || { echo "Bail out! cp -a failed"; exit 1; }
ref=$(total "$work/tree")
check "the total is a 64-bit hash in hex" same "${#ref}" 16
check "cp -a --preserve=all gives the same total" same "$(total "$work/copy")" "$ref"
check "a second walk gives the same total" same "$(total "$work/tree")" "$ref"

# (c) each kind of difference shows, in a file the writer left with an
# xattr, and one of its symlinks, both from the threads' own subtrees (the
# same for a seed; the shared folder depends on timing)
file=$(cd "$work/copy" && getfattr -R -m '^user\.' --absolute-names t[0-9]* 2>/dev/null |
	sed -n 's|^# file: ||p' | while read -r f; do [ -f "$f" ] && [ -s "$f" ] && echo "$f"; done |
	sort | head -n 1)
link=$(cd "$work/copy" && find t[0-9]* -type l | sort | head -n 1)
if [ -z "$file" ] || [ -z "$link" ]; then
	echo "Bail out! the writer left no non-empty file with an xattr, or no symlink"
	exit 1
fi
byte=$(od -An -tu1 -N1 "$work/copy/$file" | tr -d ' ')
mode=$(stat -c %a "$work/copy/$file")
xname=$(getfattr -m '^user\.' --absolute-names "$work/copy/$file" 2>/dev/null | sed -n 2p)
xval=$(getfattr -n "$xname" -e hex --absolute-names "$work/copy/$file" | sed -n 's/^[^=]*=//p')
target=$(readlink "$work/copy/$link")

differs_after "one byte of $file" \
	"put_byte '$file' 0 $(( (byte + 1) % 256 ))" "put_byte '$file' 0 $byte"
differs_after "the mode of $file" \
	"chmod $(printf %o $(( 0$mode ^ 1 ))) '$file'" "chmod $mode '$file'"
differs_after "xattr $xname of $file" \
	"setfattr -n '$xname' -v 0x00ff '$file'" \
	"setfattr -n '$xname' -v '$xval' '$file'"
differs_after "the target of $link" \
	"ln -sfn '$target.changed' '$link'" "ln -sfn '$target' '$link'"
differs_after "a new empty file" "touch new-file" "rm -f new-file"

# --exclude and .fuse_hidden*
check "--exclude shared leaves the shared folder out" \
	differ "$(total --exclude shared "$work/copy")" "$ref"
touch "$work/copy/.fuse_hidden0000000100000001"
check ".fuse_hidden* files are not entries" \
	same "$(total "$work/copy" 2> "$work/hidden.err")" "$ref"
check ".fuse_hidden* files are named on stderr" grep -q fuse_hidden "$work/hidden.err"
rm -f "$work/copy/.fuse_hidden0000000100000001"

# errors: exit 1 with a message
"$treehash" "$work/no-such-folder" 2> "$work/err.txt" > /dev/null
check "a missing folder exits 1" same "$?" 1
check "... with a message on stderr" test -s "$work/err.txt"

# the work folder goes on exit: show what would explain a failure first
if [ "$failed" -ne 0 ]; then
	echo "# last lines of the writer's log:"
	tail -n 20 "$work/writer.log" | sed 's/^/# /'
fi
echo "$((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
