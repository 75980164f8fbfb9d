# The sample application serves the client on the public IP, its records
# reach the protected data folder, and they survive a power cycle.
source "$(dirname "$0")/../lib/lib.sh"
need_root
plan 13

ok "lab up (ha, sample)" lab up --mode ha --app sample
is "$(sample_ask PUT alpha)" "OK 1" "PUT alpha is acknowledged as record 1"
is "$(sample_ask PUT beta gamma)" "OK 2" "PUT of a text with a blank is record 2"
is "$(sample_ask GET)" "primary 2" "GET: the primary serves 2 records"
is "$(sample_ask HAS beta gamma)" "YES" "HAS finds a stored record"
is "$(sample_ask HAS delta)" "NO" "HAS does not find another"
like "$(sample_ask FETCH)" "^ERR unknown request, expected PUT <text>, GET or HAS <text>$" "an unknown request is an error"
records="$(lab path primary data)/records"
is "$(cat "$records" 2>&1)" "alpha
beta gamma" "the records are in the primary's data folder"

ok "lab kill primary" lab kill primary
ok "lab boot primary" lab boot primary
if wait_for "sample_ask GET --timeout 500" 30; then
	pass "the sample serves again after the power cycle"
else
	fail "the sample serves again after the power cycle"
fi
is "$(sample_ask GET)" "primary 2" "with both records"
is "$(sample_ask HAS alpha)" "YES" "alpha survived"
