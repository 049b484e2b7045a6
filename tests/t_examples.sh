#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's example and the tool's commands run and say what they should.
# TAP; the build directory comes from GMEMU_LIBSO's folder.
build=$(dirname "${GMEMU_LIBSO:-build/libgmemu.so}")
n=0; fail=0
check() { # name, command...
	local name=$1; shift
	n=$((n + 1))
	if out=$("$@" 2>&1); then echo "ok $n - $name"; else
		echo "not ok $n - $name"; echo "$out" | sed 's/^/# /'; fail=1; fi
}
echo "1..6"
check readme_example bash -c "'$build/examples/convert' | grep -qx 'payload for the guest'"
check demo_runs_every_model bash -c "'$build/gmemu' demo > '$build/demo.out' && for m in sw_protected pkvm snp tdx; do grep -q \"^== \$m\" '$build/demo.out' || exit 1; done && grep -q 'SIGBUS at' '$build/demo.out' && ! grep -q 'failed' '$build/demo.out' && [ \$(grep -c 'launch measurement: [0-9a-f]\{64\}' '$build/demo.out') -eq 4 ] && [ \$(grep -c 'guest reads page 3 privately: \"GMEMU BOOT IMAGE\"' '$build/demo.out') -eq 4 ] && grep -q 'KVM_EXIT_MEMORY_FAULT (flags PRIVATE' '$build/demo.out' && { ! grep -q 'vCPUs run here' '$build/demo.out' || [ \$(grep -c 'the access completes, reading' '$build/demo.out') -eq 2 ]; } && ! LC_ALL=C grep -q '[^[:print:][:space:]]' '$build/demo.out' && GMEMU_ABI=v8 '$build/gmemu' demo | grep -q 'profile v8' && GMEMU_ABI=legacy '$build/gmemu' demo | grep -q 'showing contentmodes'"
check caps_table bash -c "'$build/gmemu' caps > '$build/caps.out' &&
	grep -q '^contentmodes  snp  *ZERO|PRESERVE  ZERO|PRESERVE  ZERO  ' '$build/caps.out' &&
	grep -q '^6.18  *snp  .*PRIVATE  *MMAP *\$' '$build/caps.out' &&
	grep -q '^7.4+in-place  snp  *-  *-  *-  *-  *PRIVATE  *-  *MMAP|INIT_SHARED' '$build/caps.out' &&
	grep -q '^7.4  *snp  *-  *-  *-  *-  *-  *PRIVATE  *MMAP *\$' '$build/caps.out' &&
	grep -q '^contentmodes  snp  *ZERO  *PRESERVE  *ZERO  *- *\$' '$build/caps.out' &&
	grep -q '^contentmodes  pkvm  *ZERO|PRESERVE  *PRESERVE  *ZERO|PRESERVE  *PRESERVE *\$' '$build/caps.out'"
check inspect_other_process bash -c "
	sleep 30 < /dev/null &
	pid=\$!
	out=\$('$build/gmemu' inspect \$pid 0 2>&1); rc=\$?
	kill \$pid
	[ \$rc -ne 0 ] && echo \"\$out\" | grep -q 'not a gmemu guest_memfd'"
check install_and_pkg_config bash -c "
	d=\$(mktemp -d) && trap 'rm -rf \$d' EXIT &&
	make --no-print-directory -s install PREFIX=\$d >/dev/null &&
	export PKG_CONFIG_PATH=\$d/lib/pkgconfig &&
	if command -v pkg-config >/dev/null; then flags=\$(pkg-config --cflags --libs --static gmemu);
	else flags=\"-I\$d/include -L\$d/lib -lgmemu -lcrypto -lpthread\"; fi &&
	cc examples/convert.c \$flags -o \$d/ex &&
	LD_LIBRARY_PATH=\$d/lib \$d/ex | grep -qx 'payload for the guest' &&
	\$d/bin/gmemu caps | grep -q '^v8'"
check install_libdir_destdir_uninstall bash -c "
	d=\$(mktemp -d) && trap 'rm -rf \$d' EXIT &&
	make --no-print-directory -s install PREFIX=/opt/g LIBDIR=/opt/g/lib64 DESTDIR=\$d/stage >/dev/null &&
	test -f \$d/stage/opt/g/lib64/libgmemu.a && test -L \$d/stage/opt/g/lib64/libgmemu.so.0 &&
	grep -qx 'libdir=/opt/g/lib64' \$d/stage/opt/g/lib64/pkgconfig/gmemu.pc &&
	test -x \$d/stage/opt/g/bin/gmemu && test -f \$d/stage/opt/g/include/gmemu.h &&
	make --no-print-directory -s uninstall PREFIX=/opt/g LIBDIR=/opt/g/lib64 DESTDIR=\$d/stage >/dev/null &&
	[ -z \"\$(find \$d/stage -type f -o -type l)\" ]"
exit $fail
