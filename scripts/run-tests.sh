#!/bin/sh
# Run every test of the build folder through CTest and end with one line
# "N passed, N failed, N skipped". Exit 1 if any failed.
set -u
build=${1:-build}
log="$build/Testing/run.log"
mkdir -p "$build/Testing"

# Unit and config tests may run in parallel; scenarios hold the "lab" lock.
# The output is shown as it comes; ctest's own status goes through a file,
# since a pipeline's status is tee's. No test at all is an error.
rcfile="$build/Testing/ctest.rc"
echo 1 >"$rcfile"
{ ctest --test-dir "$build" --output-on-failure --no-tests=error -j "$(nproc)" --timeout 600 2>&1
  echo $? >"$rcfile"; } | tee "$log"
rc=$(cat "$rcfile")

# CTest's result lines: "  1/23 Test  #1: unit/test_values ....   Passed  0.01 sec"
passed=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* +Passed +' "$log")
skipped=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* +\*\*\*Skipped' "$log")
failed=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*(\*\*\*Failed|\*\*\*Timeout|\*\*\*Exception|Not Run)' "$log")
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
	failed=1     # ctest itself failed (no tests found, bad build folder...)
fi
echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
