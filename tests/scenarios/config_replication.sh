# Replication of a protected config folder ([protect] config) down the
# whole chain of an ha+dr lab, without FUSE: an edit in place, an editor's
# atomic replace (sed -i), a new folder, a delete and renames on the active
# leave the same tree on every node; a name [protect] exclude matches is
# never sent; a config change and the data written right after it reach
# the passive in that order; a change made by hand on a passive is drift:
# the next check reports it naming the file, keeps the passive's version
# in its quarantine and puts the active's back.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 21

conf=/etc/lifeline-sample
data=/var/lib/lifeline-sample
ok "lab up (ha+dr, sample)" lab up --mode ha+dr --app sample

# tree NODE: the hash walk of the node's config folder (content, modes,
# owners, xattrs, symlink targets), read from the host, without what
# [protect] exclude keeps each node's own.
tree() {
	"$LIFELINE_BIN/lifeline-treehash" "$(lab path "$1" config)" --list --exclude '*.dpkg-*'
}

# same_everywhere: the secondary's and the tertiary's trees are the primary's.
same_everywhere() {
	local p
	p=$(tree primary)
	[ "$p" = "$(tree secondary)" ] && [ "$p" = "$(tree tertiary)" ]
}

# converge DESC: pass once every node has the primary's tree (10 s at most).
converge() {
	if wait_for same_everywhere 10; then
		pass "$1"
	else
		fail "$1"
		diag "primary:" "$(tree primary)" "secondary:" "$(tree secondary)" "tertiary:" "$(tree tertiary)"
	fi
}

active() {   # active CMD: a shell command on the primary
	lab exec primary -- sh -c "$1"
}

active "echo '# tuned by hand' >> $conf/sample.conf && chmod 0640 $conf/sample.conf"
converge "an edit in place (and a chmod) reaches both stand-bys"

active "sed -i 's/# tuned by hand/# tuned again/' $conf/sample.conf"
converge "an atomic replace (sed -i: temporary file renamed over it) reaches both stand-bys"
is "$(grep -c 'tuned again' "$(lab path tertiary config)/sample.conf")" "1" \
	"the tertiary's copy has the new line"

active "mkdir $conf/conf.d && echo a > $conf/conf.d/a.conf && echo b > $conf/conf.d/b.conf && ln -s ../sample.conf $conf/conf.d/link.conf"
converge "a new folder with files and a symlink reaches both stand-bys"

active "rm $conf/conf.d/a.conf && mv $conf/conf.d/b.conf $conf/conf.d/c.conf && mv $conf/conf.d $conf/sites"
converge "a delete, a file rename and a folder rename are replicated"
is "$(ls "$(lab path secondary config)/sites" | tr '\n' ' ')" "c.conf link.conf " \
	"the secondary's renamed folder holds exactly the renamed file and the symlink"

active "echo 'from the package' > $conf/sample.conf.dpkg-dist && echo kept > $conf/kept.conf"
converge_excluded() {
	[ -f "$(lab path secondary config)/kept.conf" ] && [ -f "$(lab path tertiary config)/kept.conf" ]
}
wait_for converge_excluded 10
is "$(ls "$(lab path secondary config)" "$(lab path tertiary config)" | grep -c dpkg)" "0" \
	"a name [protect] exclude matches (*.dpkg-*) is on no stand-by"

# Order: each round writes the config, then data; on the secondary, the data
# is read first and the config after, so the config must never be older.
active "for i in \$(seq 1 200); do echo \"gen = \$i\" > $conf/order.conf; echo \$i > $data/order; sleep 0.02; done" &
writer=$!
sconf=$(lab path secondary config)/order.conf
sdata=$(lab path secondary data)/order
bad=0 looks=0
for _ in $(seq 1 2000); do
	d=$(cat "$sdata" 2>/dev/null)
	c=$(sed -n 's/^gen = //p' "$sconf" 2>/dev/null)
	if [ -n "$d" ] && [ -n "$c" ]; then
		looks=$((looks + 1))
		[ "$c" -ge "$d" ] || { bad=$((bad + 1)); diag "data at $d with config at $c"; }
	fi
	kill -0 "$writer" 2>/dev/null || break
done
wait "$writer"
diag "$looks looks at the secondary while 200 rounds were written"
is "$bad" "0" "the secondary never held data newer than the config written before it"
converge "after the rounds the config is the same everywhere"

# Drift: changed by hand on the secondary, then a check on the active.
sdir=$(lab path secondary config)
echo "changed on the secondary" >> "$sdir/sample.conf"
echo "only here" > "$sdir/local.conf"
echo "the secondary's package file" > "$sdir/other.conf.dpkg-old"
ok "a check runs on the active" lab exec primary -- lifeline check --wait
# lifelined makes the event from lifeline-repl's status, polled every 250 ms.
wait_for "lab exec secondary -- lifeline events | grep -q 'config drift'" 5
like "$(lab exec secondary -- lifeline events)" \
	"config drift: $conf/sample.conf on this node differs from the active's \\(content\\); the active's copy wins" \
	"the secondary's event names the file that drifted and says the active's copy wins"
converge "the secondary's copy is the active's again"
kept=$(find "$(lab path secondary state)/quarantine" -path '*-config-*/etc/lifeline-sample/sample.conf' | head -n 1)
like "$(cat "$kept" 2>/dev/null)" "changed on the secondary" \
	"the secondary's own version is kept in its quarantine ($kept)"
is "$(cat "$sdir/other.conf.dpkg-old" 2>/dev/null)" "the secondary's package file" \
	"an excluded file of the secondary is left alone"

# A file a config record cannot hold is not cut nor dropped unseen: reported.
active "head -c 2097152 /dev/zero > $conf/huge.bin"
wait_for "lab exec primary -- lifeline events | grep -q 'huge.bin: over the'" 5
like "$(lab exec primary -- lifeline events)" \
	"config .*not replicated: lifeline-sample/huge.bin: over the 1048576 bytes a config record holds" \
	"a 2 MiB file in the config folder is an event on the active, saying why it is not sent"
is "$(status_of primary | jq -r '.replication.config.skipped >= 1 and .replication.config.watching')" \
	"true" "the active's status counts it as skipped, its watcher running"

# A copy that cannot take an entry (the secondary has a folder holding an
# excluded file, *.swp, where the active now has a file) asks for the entry
# again at most every few seconds, not in a loop with the active's answers.
mkdir "$sdir/conflict"
echo "the secondary's swap file" > "$sdir/conflict/.x.swp"
sent0=$(status_of primary | jq -r .replication.config.sent)
active "echo 'a file here' > $conf/conflict"
sleep 3
sent1=$(status_of primary | jq -r .replication.config.sent)
diag "the active sent $((sent1 - sent0)) config records in the 3 s after"
[ $((sent1 - sent0)) -ge 2 ] && [ $((sent1 - sent0)) -le 20 ] &&
	[ -f "$sdir/conflict/.x.swp" ] &&
	pass "a copy that cannot take an entry asks again, without looping, and keeps its excluded file" ||
	fail "a copy that cannot take an entry asks again, without looping, and keeps its excluded file: $((sent1 - sent0)) records in 3 s"

# A folder the active replaces that holds here what no record named is set
# aside in the quarantine first, never just deleted.
mkdir "$sdir/local.d"
echo "made on the secondary" > "$sdir/local.d/made-here.conf"
active "echo 'now a file' > $conf/local.d"
wait_for "[ -f '$sdir/local.d' ]" 10
is "$(cat "$sdir/local.d" 2>/dev/null)" "now a file" "the secondary takes the active's file in place of its folder"
kept=$(find "$(lab path secondary state)/quarantine" -path '*-config-*/etc/lifeline-sample/local.d/made-here.conf' | head -n 1)
is "$(cat "$kept" 2>/dev/null)" "made on the secondary" "what the folder held is kept in the quarantine ($kept)"
wait_for "lab exec secondary -- lifeline events | grep -q 'set aside in the quarantine.*local.d'" 5
like "$(lab exec secondary -- lifeline events)" "set aside in the quarantine .*local\.d" "and the event says where"
