# MariaDB protected, replication fsync, a client inserting rows one
# commit at a time and noting each commit it saw acknowledged: power loss
# of the primary mid-run, then a switchover back under the same load.
# After each, every acknowledged row is on the node that serves.
source "$(dirname "$0")/../lib/lib.sh"
need_root
[ -x /usr/sbin/mariadbd ] && command -v mariadb >/dev/null ||
	skip_all "MariaDB is not installed"
plan 10

my() { lab exec client -- mariadb -h 192.0.2.10 -u lifeline --connect-timeout=2 -N -B lifeline -e "$1"; }
# writer FROM SECONDS OUT: ids FROM.. inserted one per commit for SECONDS,
# each acknowledged one written to OUT. In the background; its pid in $writer.
writer() {
	lab exec client -- sh -c "i=$1; end=\$((\$(date +%s) + $2)); while [ \$(date +%s) -lt \$end ]; do
		mariadb -h 192.0.2.10 -u lifeline --connect-timeout=1 lifeline -e \"insert into t values (\$i)\" \
			2>/dev/null && echo \$i; i=\$((i + 1)); done" >"$3" &
	writer=$!
}
# all_there ACKED: every id in ACKED is in the table (missing ones are said).
all_there() {
	my "select id from t" | sort >"$WORK/present"
	sort "$1" | comm -23 - "$WORK/present" >"$WORK/missing"
	[ ! -s "$WORK/missing" ]
}

ok "lab up (ha, mariadb, fsync)" lab up --mode ha --app mariadb --replication fsync
wait_for "peer_in_sync primary secondary" 30 || true
ok "a table" my "create table t (id int primary key)"

writer 1 14 "$WORK/acked1"
sleep 5
ok "power off the primary while the client inserts" lab kill primary
wait "$writer"
diag "$(wc -l <"$WORK/acked1") inserts acknowledged"
like "$(role_of secondary)" "^active " "the secondary is active"
if [ -s "$WORK/acked1" ] && all_there "$WORK/acked1"; then
	pass "every acknowledged insert is on the secondary ($(wc -l <"$WORK/present") rows)"
else
	fail "every acknowledged insert is on the secondary"
	diag "missing: $(head -c 300 "$WORK/missing")"
fi
# Inserts refused while no node served leave a gap; acknowledged ones after it
# mean the client went on against the secondary.
gaps=$(awk 'NR > 1 && $1 != prev + 1 { n++ } { prev = $1 } END { print n + 0 }' "$WORK/acked1")
[ "$gaps" -gt 0 ] && pass "the client went on inserting after the failover" ||
	fail "the client went on inserting after the failover (no gap in what was acknowledged)"

ok "boot the primary" lab boot primary
wait_for "peer_in_sync secondary primary" 60 && pass "the primary is back in sync" ||
	fail "the primary is back in sync"
writer 100000 10 "$WORK/acked2"
sleep 3
ok "switchover to the primary while the client inserts" lab exec secondary -- lifeline switchover --to primary --wait
wait "$writer"
diag "$(wc -l <"$WORK/acked2") inserts acknowledged"
if [ -s "$WORK/acked2" ] && all_there "$WORK/acked1" && all_there "$WORK/acked2"; then
	pass "every acknowledged insert is on the primary ($(wc -l <"$WORK/present") rows)"
else
	fail "every acknowledged insert is on the primary"
	diag "missing: $(head -c 300 "$WORK/missing")"
fi
