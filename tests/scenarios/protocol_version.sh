# A peer that speaks only a newer protocol version is refused with a clear
# message, on the wire (REFUSE) and in the event log; so is a hello that
# claims another identity than its certificate.
source "$(dirname "$0")/../lib/lib.sh"
need_root
command -v openssl >/dev/null || skip_all "openssl(1) is not installed"
plan 6

ok "lab up (ha)" lab up --mode ha
tls="$LAB_DIR/secondary/etc/tls"

# hello IDENTITY MIN MAX [KIND]: a hello from cluster "lab", as bytes (kind 1:
# heartbeats, the default; 2: the journal stream).
hello() {
	printf 'LLW1\000\001\000\001\000\000\000\060\000\000\000\000\000\000\000\000\000\000\000\001'
	printf 'lab'; head -c 29 /dev/zero
	printf "\\$(printf %03o "$1")\\000\\000\\$(printf %03o "${4:-1}")\\000\\$(printf %03o "$2")\\000\\$(printf %03o "$3")"
	head -c 8 /dev/zero
}
# speak BYTES-FUNCTION...: connect to the primary's channel port as the
# secondary (its real certificate), send the bytes, print what comes back.
speak() {
	"$@" | timeout 5 "$LIFELINE_BIN/lifeline" lab --dir "$LAB_DIR" exec secondary -- \
	    openssl s_client -quiet -tls1_3 -connect 203.0.113.1:9728 \
	    -cert "$tls/secondary.crt" -key "$tls/secondary.key" -CAfile "$tls/ca.crt" 2>/dev/null |
	    tr -c '[:print:]' ' '
}

out=$(speak hello 1 2 2)
like "$out" "speaks protocol versions 2\.\.2, this node speaks 1; upgrade the older node" \
	"a hello of protocol version 2 only is refused on the wire, with the reason"
if wait_for "grep -q 'refusal: .*speaks protocol versions 2..2' '$LAB_DIR/primary/log/lifelined.log'" 5; then
	pass "the refusal is an event on the primary"
else
	fail "the refusal is an event on the primary"
fi
out=$(speak hello 2 1 1)
like "$out" "hello claims to be tertiary but the certificate says secondary" \
	"a hello claiming another identity than the certificate is refused"
like "$(lab exec primary -- lifeline events)" "refusal .*claims to be tertiary" "and logged as a refusal event"

# The journal stream has its own version: a stand-by speaking only stream
# version 1 (before VERIFY records of several entries) is refused at the
# hello, and the stand-by's reason names both versions.
ptls="$LAB_DIR/primary/etc/tls"
hello 0 1 1 2 | timeout 5 "$LIFELINE_BIN/lifeline" lab --dir "$LAB_DIR" exec primary -- \
    openssl s_client -quiet -tls1_3 -connect 203.0.113.2:9729 \
    -cert "$ptls/primary.crt" -key "$ptls/primary.key" -CAfile "$ptls/ca.crt" >/dev/null 2>&1
if wait_for "grep -rq 'primary speaks stream protocol versions 1\.\.1, this node speaks 2; upgrade the older node' '$LAB_DIR/secondary/log/'" 5; then
	pass "a stream hello of an older stream version is refused, both versions named"
else
	fail "a stream hello of an older stream version is refused, both versions named"
	grep -r 'stream' "$LAB_DIR/secondary/log/" | tail -n 5 >&2
fi
