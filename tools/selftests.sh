#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tools/selftests.sh OUTDIR [TEST...]
#
# Builds Linux 6.12's KVM selftests, unmodified, from Debian's
# linux-source-6.12 (/usr/src/linux-source-6.12.tar.xz): only the tar
# members they need are extracted, the UAPI headers come from the same tree
# (its own `make headers`), and only the tests named are built (default:
# the four gmemu runs).  Idempotent: a second run only re-runs make.
#
# Exit status: 0 built; 77 the package is missing and cannot be installed
# here (the command to install it is printed); other: the build failed.
set -euo pipefail

TARBALL=/usr/src/linux-source-6.12.tar.xz
TOP=linux-source-6.12

if [ $# -lt 1 ]; then
	echo "usage: $0 OUTDIR [TEST...]" >&2
	exit 2
fi
mkdir -p "$1"
OUT=$(readlink -f "$1")
shift
TESTS=("$@")
[ ${#TESTS[@]} -gt 0 ] || TESTS=(guest_memfd_test set_memory_region_test
	x86_64/private_mem_conversions_test x86_64/private_mem_kvm_exits_test)

if [ ! -f "$TARBALL" ]; then
	cmd="apt-get update && apt-get install -y --no-install-recommends linux-source-6.12"
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "selftests: installing linux-source-6.12 (Debian's security suite)"
		apt-get update -qq >/dev/null &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends linux-source-6.12 >/dev/null ||
			{ echo "selftests: could not install it; as root: $cmd"; exit 77; }
	else
		echo "selftests: $TARBALL is missing; as root: $cmd"
		exit 77
	fi
fi

# A calling make's variables (make check CFLAGS=...) must not reach the
# kernel's makefiles: they would override the selftests' own flags.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES GNUMAKEFLAGS CFLAGS CPPFLAGS \
      LDFLAGS LDLIBS EXTRA_CFLAGS CC LLVM CROSS_COMPILE ARCH SUBARCH SRCARCH \
      O OUTPUT KBUILD_OUTPUT KHDR_INCLUDES INSTALL_HDR_PATH TARGET_ARCH \
      V W C BUILD 2>/dev/null || true
JOBS=$(nproc 2>/dev/null || echo 2)

exec 9>"$OUT/.lock"
flock 9

SRC="$OUT/src"
TREE="$SRC/$TOP"
# what `make headers` and the KVM selftests read: kbuild's pieces, the
# UAPI sources, the x86 syscall tables and tools, the selftests' tree
MEMBERS=(
	Makefile scripts/Kbuild.include scripts/Makefile
	scripts/Makefile.asm-headers scripts/Makefile.build
	scripts/Makefile.compiler scripts/Makefile.extrawarn
	scripts/Makefile.headersinst scripts/Makefile.host scripts/Makefile.lib
	scripts/basic scripts/include scripts/headers_install.sh
	scripts/subarch.include scripts/syscallhdr.sh scripts/syscalltbl.sh
	scripts/unifdef.c include/uapi arch/x86/Makefile arch/x86/include/uapi
	arch/x86/entry/syscalls arch/x86/tools tools/include
	tools/arch/x86/include tools/build/Build.include tools/lib/rbtree.c
	tools/testing/selftests/lib.mk tools/testing/selftests/kselftest.h
	tools/testing/selftests/kvm
)
STAMP="$SRC/.extracted"
ID="$(stat -c '%s %Y' "$TARBALL") ${MEMBERS[*]}"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$ID" ]; then
	rm -rf "$SRC" "$OUT/kvm"
	mkdir -p "$SRC"
	tar -C "$SRC" -xJf "$TARBALL" "${MEMBERS[@]/#/$TOP/}"
	printf '%s' "$ID" > "$STAMP"
fi
make -C "$TREE" -s -j"$JOBS" ARCH=x86 headers
mkdir -p "$OUT/kvm"
make -C "$TREE/tools/testing/selftests/kvm" -s -j"$JOBS" --no-print-directory \
	OUTPUT="$OUT/kvm" "${TESTS[@]/#/$OUT/kvm/}"
