#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Programs nobody here wrote: Linux 6.12's own KVM selftests, built
# unmodified from Debian's linux-source-6.12 (tools/selftests.sh), run under
# `gmemu run --abi 6.12`.  Skips (77) with the command to run when the
# package is missing and cannot be installed here.  TAP.
build=$(dirname "${GMEMU_LIBSO:-build/libgmemu.so}")
root=$(cd "$(dirname "$0")/.." && pwd)
g=$(cd "$build" && pwd)/gmemu
out=$build/selftests
# name, then how to run it
cases=(
	"guest_memfd_test"
)
log=$(mktemp); trap 'rm -f "$log"' EXIT
"$root/tools/selftests.sh" "$out" "${cases[@]}" >"$log" 2>&1
rc=$?
if [ $rc -eq 77 ]; then
	echo "1..0 # SKIP $(tail -1 "$log")"
	exit 77
elif [ $rc -ne 0 ]; then
	echo "1..1"; echo "not ok 1 - build"; sed 's/^/# /' "$log"; exit 1
fi
echo "1..${#cases[@]}"
n=0; fail=0
for t in "${cases[@]}"; do
	n=$((n + 1))
	# the selftests read their own ELF through argv[0]: run from there
	cd "$out/kvm/$(dirname "$t")" || exit 1
	start=$(date +%s.%N)
	"$g" run --abi 6.12 -- "./$(basename "$t")" >"$log" 2>&1
	rc=$?
	secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	case $rc in
	0) echo "ok $n - $t ($secs s)" ;;
	4) echo "not ok $n - $t skipped itself: gmemu must give it what it needs"
	   sed 's/^/# /' "$log"; fail=1 ;;
	*) echo "not ok $n - $t (exit $rc)"; sed 's/^/# /' "$log"; fail=1 ;;
	esac
	cd "$root" || exit 1
done
exit $fail
