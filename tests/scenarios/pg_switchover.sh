# PostgreSQL protected, replication async (the weakest mode): switchover
# to the secondary and back, each while pgbench writes from the client.
# A switchover drains the journal to the new active before it starts
# PostgreSQL there, so every transaction pgbench saw committed is there
# after each move (the test counts them).
source "$(dirname "$0")/../lib/lib.sh"
need_root
[ -x /usr/lib/postgresql/15/bin/postgres ] && command -v pgbench >/dev/null ||
	skip_all "PostgreSQL 15 and pgbench are not installed"
plan 8

conninfo="host=192.0.2.10 user=lifeline dbname=lifeline connect_timeout=2"
pg() { lab exec client -- psql -X -q -t -A "$conninfo" -c "$1"; }
processed() { sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$1"; }
bench_start() {
	timeout 90 "$LIFELINE_BIN/lifeline" lab --dir "$LAB_DIR" exec client -- \
		pgbench -n -f "$WORK/insert.sql" -c 4 -T 40 "$conninfo" >"$1" 2>&1 &
	bench=$!
}

ok "lab up (ha, postgresql, async)" lab up --mode ha --app postgresql --replication async
wait_for "peer_in_sync primary secondary" 30 || true
ok "a table for pgbench" pg "create table t (id bigserial primary key, v int)"
echo 'INSERT INTO t (v) VALUES (:client_id);' >"$WORK/insert.sql"

total=0
for to in secondary primary; do
	from=$([ "$to" = secondary ] && echo primary || echo secondary)
	wait_for "peer_in_sync $from $to" 30 || diag "$to not heard in sync"
	bench_start "$WORK/pgbench-$to.out"
	sleep 4
	ok "switchover to the $to while pgbench writes" lab exec "$from" -- lifeline switchover --to "$to" --wait
	wait "$bench"
	n=$(processed "$WORK/pgbench-$to.out")
	total=$((total + ${n:-0}))
	diag "pgbench saw ${n:-no} transactions committed before the switch"
	wait_for "pg 'select 1' >/dev/null 2>&1" 30 && pass "PostgreSQL answers from the $to" ||
		fail "PostgreSQL answers from the $to"
	rows=$(pg "select count(*) from t")
	if [ "${n:-0}" -gt 0 ] && [ "${rows:-0}" -ge "$total" ]; then
		pass "no committed transaction lost ($rows rows, $total committed so far)"
	else
		fail "no committed transaction lost ($rows rows, $total committed so far)"
		diag "$(cat "$WORK/pgbench-$to.out")"
	fi
done
