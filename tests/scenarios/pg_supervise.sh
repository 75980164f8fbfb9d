# The supervisor and PostgreSQL: kill -9 of the postmaster on the active
# node is a failure of the service; its process group goes with it and the
# engine starts PostgreSQL again there (restart, restart); the third kill
# within the window switches over, and the secondary serves with the data.
source "$(dirname "$0")/../lib/lib.sh"
need_root
[ -x /usr/lib/postgresql/15/bin/postgres ] || skip_all "PostgreSQL 15 is not installed"
plan 9

conninfo="host=192.0.2.10 user=lifeline dbname=lifeline connect_timeout=2"
pg() { lab exec client -- psql -X -q -t -A "$conninfo" -c "$1"; }
svc() { status_of "$1" | jq -r ".services[] | select(.name == \"postgresql\") | $2"; }
# up_again NODE OLDPID: running under another postmaster, answering.
up_again() {
	local pid
	pid=$(svc "$1" .pid)
	[ "$(svc "$1" .state)" = running ] && [ "$pid" != null ] && [ "$pid" != "$2" ] &&
		pg 'select 1' >/dev/null 2>&1
}

ok "lab up (ha, postgresql)" lab up --mode ha --app postgresql
wait_for "peer_in_sync primary secondary" 30 || true
ok "a row to keep" pg "create table keep (v text); insert into keep values ('before')"

for n in 1 2; do
	pid=$(svc primary .pid)
	# The postmaster was started by this lab's lifelined: ours to kill, by PID.
	kill -9 "$pid"
	wait_for "up_again primary $pid" 30 &&
		pass "kill -9 $n of the postmaster: PostgreSQL answers again from the primary" ||
		fail "kill -9 $n of the postmaster: PostgreSQL answers again from the primary"
done
is "$(svc primary .failures)" "2" "status counts two failures"
like "$(svc primary .last_failure)" "^its process [0-9]+ was stopped behind Lifeline's back by signal KILL" \
	"the last failure says how the postmaster ended"

wait_for "peer_in_sync primary secondary" 30 || diag "the secondary is not heard in sync"
kill -9 "$(svc primary .pid)"
wait_for "[ \"\$(role_of secondary | cut -d' ' -f1)\" = active ]" 30 &&
	pass "the third kill switches over to the secondary" ||
	fail "the third kill switches over to the secondary"
wait_for "pg 'select 1' >/dev/null 2>&1" 30 && pass "PostgreSQL answers from the secondary" ||
	fail "PostgreSQL answers from the secondary"
is "$(pg 'select v from keep')" "before" "with the row written before"
