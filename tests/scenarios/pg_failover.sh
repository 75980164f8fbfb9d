# PostgreSQL protected, replication fsync, pgbench writing from the client
# on the public IP: power loss of the primary mid-run. PostgreSQL comes
# up on the secondary with every transaction pgbench saw committed (the
# test counts them), and pgbench goes on against the same address.
source "$(dirname "$0")/../lib/lib.sh"
need_root
[ -x /usr/lib/postgresql/15/bin/postgres ] && command -v pgbench >/dev/null ||
	skip_all "PostgreSQL 15 and pgbench are not installed"
plan 9

conninfo="host=192.0.2.10 user=lifeline dbname=lifeline connect_timeout=2"
pg() { lab exec client -- psql -X -q -t -A "$conninfo" -c "$1"; }
# processed FILE: the transactions pgbench reports committed.
processed() { sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$1"; }

ok "lab up (ha, postgresql, fsync)" lab up --mode ha --app postgresql --replication fsync
wait_for "peer_in_sync primary secondary" 30 && pass "the secondary is in sync" ||
	fail "the secondary is in sync"
ok "a table for pgbench" pg "create table t (id bigserial primary key, v int)"
echo 'INSERT INTO t (v) VALUES (:client_id);' >"$WORK/insert.sql"

timeout 90 "$LIFELINE_BIN/lifeline" lab --dir "$LAB_DIR" exec client -- \
	pgbench -n -f "$WORK/insert.sql" -c 4 -T 40 "$conninfo" >"$WORK/pgbench1.out" 2>&1 &
bench=$!
sleep 6
ok "power off the primary while pgbench writes" lab kill primary
wait "$bench"
committed=$(processed "$WORK/pgbench1.out")
diag "pgbench saw ${committed:-no} transactions committed before it lost its server"
wait_for "pg 'select 1' >/dev/null 2>&1" 30 && pass "PostgreSQL answers on the public IP again" ||
	fail "PostgreSQL answers on the public IP again"
like "$(role_of secondary)" "^active " "the secondary is active"
rows=$(pg "select count(*) from t")
if [ -n "$committed" ] && [ "$committed" -gt 0 ] && [ "${rows:-0}" -ge "$committed" ]; then
	pass "every committed transaction is there ($rows rows, $committed committed)"
else
	fail "every committed transaction is there ($rows rows, $committed committed)"
	diag "$(cat "$WORK/pgbench1.out")"
fi

timeout 60 "$LIFELINE_BIN/lifeline" lab --dir "$LAB_DIR" exec client -- \
	pgbench -n -f "$WORK/insert.sql" -c 2 -T 3 "$conninfo" >"$WORK/pgbench2.out" 2>&1
after=$(processed "$WORK/pgbench2.out")
[ "${after:-0}" -gt 0 ] && pass "pgbench goes on against the secondary ($after transactions)" ||
	{ fail "pgbench goes on against the secondary"; diag "$(cat "$WORK/pgbench2.out")"; }
is "$(pg "select count(*) from t")" "$((rows + after))" "and its rows are all there"
