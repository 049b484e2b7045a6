#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run test programs (TAP), print each program's output and a last line
# "N passed, N failed, N skipped".  Exit status non-zero on any failure.
set -u
build=$1; shift
passed=0; failed=0; skipped=0
log_dir="$build/test-logs"
mkdir -p "$log_dir"
# a run under another view mechanism says so, and keeps its own logs
variant=${GMEMU_VIEWS:+ [GMEMU_VIEWS=$GMEMU_VIEWS]}
for t in "$@"; do
	name=$(basename "$t")$variant
	log="$log_dir/$(basename "$t")${GMEMU_VIEWS:+.$GMEMU_VIEWS}.log"
	GMEMU_LIBSO="$build/libgmemu.so" "$t" >"$log" 2>&1
	rc=$?
	p=$(grep -c '^ok .*' "$log" | head -1)
	s=$(grep -c '^ok .*# SKIP' "$log" | head -1)
	f=$(grep -c '^not ok' "$log" | head -1)
	p=$((p - s))
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ "$f" -eq 0 ]; then
		f=1 # crashed outside any case
		echo "not ok - $name exited $rc outside a test case" >>"$log"
	fi
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
	if [ "$f" -ne 0 ]; then
		echo "FAIL $name ($p passed, $f failed, $s skipped)"
		sed 's/^/    /' "$log"
	else
		echo "PASS $name ($p passed, $s skipped)"
	fi
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
