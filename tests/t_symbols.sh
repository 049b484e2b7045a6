#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The released libraries define no global symbol outside the gmemu_ prefix:
# a program with its own vm_create, trace_init and pool_alloc links against
# both, and runs.  TAP.
build=$(dirname "${GMEMU_LIBSO:-build/libgmemu.so}")
n=0; fail=0
check() { # name, command...
	local name=$1; shift
	n=$((n + 1))
	if out=$("$@" 2>&1); then echo "ok $n - $name"; else
		echo "not ok $n - $name"; echo "$out" | sed 's/^/# /'; fail=1; fi
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/clash.c" <<'C'
#include <gmemu.h>
#include <stdio.h>
/* names the library uses inside: they must not clash */
int vm_create(void) { return 1; }
int trace_init(void) { return 2; }
int pool_alloc(void) { return 3; }
int obj_lookup(void) { return 4; }
int main(void)
{
	int kvm = gmemu_kvm_open();
	printf("%d %d %d %d %s\n", vm_create(), trace_init(), pool_alloc(),
	       obj_lookup(), kvm >= 0 ? "ok" : "fail");
	return kvm >= 0 ? 0 : 1;
}
C
echo "1..4"
check archive_globals_are_gmemu_only bash -c "
	out=\$(nm -g --defined-only '$build/libgmemu.a' | awk 'NF == 3 && \$3 !~ /^gmemu_/ {print \$3}')
	[ -z \"\$out\" ] || { echo \"\$out\"; exit 1; }"
check shared_exports_are_gmemu_only bash -c "
	out=\$(nm -D --defined-only '$build/libgmemu.so' | awk '\$2 != \"A\" && \$3 !~ /^gmemu_/ {print \$3}')
	[ -z \"\$out\" ] || { echo \"\$out\"; exit 1; }
	nm -D --defined-only '$build/libgmemu.so' | grep -q ' A GMEMU_0.1'"
check static_link_with_clashing_names bash -c "
	cc -Iinclude '$tmp/clash.c' '$build/libgmemu.a' -lcrypto -lpthread -ldl -o '$tmp/s' &&
	'$tmp/s' | grep -qx '1 2 3 4 ok'"
check shared_link_with_clashing_names bash -c "
	cc -Iinclude '$tmp/clash.c' -L'$build' -lgmemu -o '$tmp/d' &&
	LD_LIBRARY_PATH='$build' '$tmp/d' | grep -qx '1 2 3 4 ok'"
exit $fail
