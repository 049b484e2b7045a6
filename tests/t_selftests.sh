#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Programs nobody here wrote: Linux 6.12's own KVM selftests, built
# unmodified from Debian's linux-source-6.12 (tools/selftests.sh), run under
# `gmemu run --abi 6.12`: guest_memfd_test, and the ones that run guest code
# over private memory on the emulated vCPU (contract §9.5, §13).  Skips (77) with the command to run when the
# package is missing and cannot be installed here.  TAP.
build=$(dirname "${GMEMU_LIBSO:-build/libgmemu.so}")
root=$(cd "$(dirname "$0")/.." && pwd)
g=$(cd "$build" && pwd)/gmemu
out=$build/selftests
# each case: the test, then the vCPU backend (`-`: gmemu's choice)
cases=(
	"guest_memfd_test -"
	"guest_memfd_test emulated"
	"set_memory_region_test emulated"
	"x86_64/private_mem_conversions_test emulated"
	"x86_64/private_mem_kvm_exits_test emulated"
)
tests=(guest_memfd_test set_memory_region_test
	x86_64/private_mem_conversions_test x86_64/private_mem_kvm_exits_test)
# The emulated runs prove the machines without /dev/kvm: where this runs
# as root, they run in a mount namespace with the node hidden.
hide=()
if [ "$(id -u)" = 0 ] && [ -e /dev/kvm ] &&
	unshare -m sh -c 'mount --bind /dev/null /dev/kvm' 2>/dev/null; then
	hide=(unshare -m sh -c 'mount --bind /dev/null /dev/kvm && exec "$@"' sh)
fi
log=$(mktemp); trap 'rm -f "$log"' EXIT
"$root/tools/selftests.sh" "$out" "${tests[@]}" >"$log" 2>&1
rc=$?
if [ $rc -eq 77 ]; then
	echo "1..0 # SKIP $(tail -1 "$log")"
	exit 77
elif [ $rc -ne 0 ]; then
	echo "1..1"; echo "not ok 1 - build"; sed 's/^/# /' "$log"; exit 1
fi
echo "1..${#cases[@]}"
n=0; fail=0
for c in "${cases[@]}"; do
	t=${c% *}; vcpu=${c#* }
	n=$((n + 1))
	run=("$g" run --abi 6.12)
	name=$t
	if [ "$vcpu" != - ]; then
		run+=(--vcpu "$vcpu")
		name="$t on the $vcpu vCPU"
		[ ${#hide[@]} -gt 0 ] && name="$name, /dev/kvm hidden" && run=("${hide[@]}" "${run[@]}")
	fi
	# the selftests read their own ELF through argv[0]: run from there
	cd "$out/kvm/$(dirname "$t")" || exit 1
	start=$(date +%s.%N)
	"${run[@]}" -- "./$(basename "$t")" >"$log" 2>&1
	rc=$?
	secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	case $rc in
	0) echo "ok $n - $name ($secs s)" ;;
	4) echo "not ok $n - $name skipped itself: gmemu must give it what it needs"
	   sed 's/^/# /' "$log"; fail=1 ;;
	*) echo "not ok $n - $name (exit $rc)"; sed 's/^/# /' "$log"; fail=1 ;;
	esac
	cd "$root" || exit 1
done
exit $fail
