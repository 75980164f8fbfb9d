#!/usr/bin/env bash
# Golden test of one configuration: golden.sh LIFELINED CONF.
# bad-*.conf must be refused (exit 1) with exactly the message in its .ok;
# any other .conf must be accepted (exit 0) and `-nv` must print its .ok.
set -u

if [ $# -ne 2 ]; then
	echo "usage: $0 LIFELINED CONF" >&2
	exit 2
fi
lifelined=$1
conf=$2
case $lifelined in
/*) ;;
*) lifelined=$PWD/$lifelined ;;
esac

dir=$(dirname "$conf")
base=$(basename "$conf")
ok=$dir/${base%.conf}.ok
out=$(mktemp)
trap 'rm -f "$out"' EXIT

if [ ! -f "$ok" ]; then
	echo "FAIL $base: no expected output $ok" >&2
	exit 1
fi

# Run from the conf's folder so messages name it as "bad-x.conf:7: ...".
case $base in
bad-*)
	want=1
	(cd "$dir" && "$lifelined" -n -f "$base" 2>"$out" >/dev/null)
	;;
*)
	want=0
	(cd "$dir" && "$lifelined" -nv -f "$base" >"$out")
	;;
esac
rc=$?

if [ "$rc" -ne "$want" ]; then
	echo "FAIL $base: exit $rc, expected $want; output:" >&2
	cat "$out" >&2
	exit 1
fi
if ! diff -u --label "${base%.conf}.ok (expected)" --label "$base (got)" "$ok" "$out"; then
	echo "FAIL $base: output differs from $(basename "$ok")" >&2
	exit 1
fi
echo "ok $base"
