# PostgreSQL protected, in each replication mode (async, fsync, sync):
# switchover to the secondary and back, each while pgbench writes from the
# client. A switchover drains the journal to the new active before it
# starts PostgreSQL there, so in every mode, async included, every
# transaction pgbench saw committed is there after each move (the test
# counts them).
source "$(dirname "$0")/../lib/lib.sh"
need_root
[ -x /usr/lib/postgresql/15/bin/postgres ] && command -v pgbench >/dev/null ||
	skip_all "PostgreSQL 15 and pgbench are not installed"
plan 24

conninfo="host=192.0.2.10 user=lifeline dbname=lifeline connect_timeout=2"
pg() { lab exec client -- psql -X -q -t -A "$conninfo" -c "$1"; }
processed() { sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$1"; }
bench_start() {
	timeout 90 "$LIFELINE_BIN/lifeline" lab --dir "$LAB_DIR" exec client -- \
		pgbench -n -f "$WORK/insert.sql" -c 4 -T 40 "$conninfo" >"$1" 2>&1 &
	bench=$!
}

for mode in async fsync sync; do
	lab down >/dev/null 2>&1
	ok "lab up (ha, postgresql, $mode)" lab up --mode ha --app postgresql --replication "$mode"
	wait_for "peer_in_sync primary secondary" 30 || true
	ok "$mode: a table for pgbench" pg "create table t (id bigserial primary key, v int)"
	echo 'INSERT INTO t (v) VALUES (:client_id);' >"$WORK/insert.sql"

	total=0
	for to in secondary primary; do
		from=$([ "$to" = secondary ] && echo primary || echo secondary)
		wait_for "peer_in_sync $from $to" 30 || diag "$to not heard in sync"
		bench_start "$WORK/pgbench-$mode-$to.out"
		sleep 4
		ok "$mode: switchover to the $to while pgbench writes" \
			lab exec "$from" -- lifeline switchover --to "$to" --wait
		wait "$bench"
		n=$(processed "$WORK/pgbench-$mode-$to.out")
		total=$((total + ${n:-0}))
		diag "$mode: pgbench saw ${n:-no} transactions committed before the switch"
		wait_for "pg 'select 1' >/dev/null 2>&1" 30 && pass "$mode: PostgreSQL answers from the $to" ||
			fail "$mode: PostgreSQL answers from the $to"
		rows=$(pg "select count(*) from t")
		if [ "${n:-0}" -gt 0 ] && [ "${rows:-0}" -ge "$total" ]; then
			pass "$mode: no committed transaction lost ($rows rows, $total committed so far)"
		else
			fail "$mode: no committed transaction lost ($rows rows, $total committed so far)"
			diag "$(cat "$WORK/pgbench-$mode-$to.out")"
		fi
	done
done
