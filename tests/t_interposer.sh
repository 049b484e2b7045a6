#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gmemu run: unmodified programs against gmemu (contract §13).  Ordinary
# programs behave as without it; exit statuses and deaths by signal pass
# through; static and set-user-ID programs are refused; the plain-libc
# builds of the project's tests and the kernel-UAPI example pass.  TAP.
build=$(dirname "${GMEMU_LIBSO:-build/libgmemu.so}")
g=$build/gmemu
n=0; fail=0
check() { # name, command...
	local name=$1; shift
	n=$((n + 1))
	if out=$("$@" 2>&1); then echo "ok $n - $name"; else
		echo "not ok $n - $name"; echo "$out" | sed 's/^/# /'; fail=1; fi
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
plain=$(cd "$build/plain" 2>/dev/null && ls t_* 2>/dev/null | grep -v '\.d$')
# a case that may skip: exit 77 with the reason on its last line
check_or_skip() { # name, command...
	local name=$1 rc; shift
	n=$((n + 1))
	out=$("$@" 2>&1); rc=$?
	if [ $rc -eq 0 ]; then echo "ok $n - $name";
	elif [ $rc -eq 77 ]; then echo "ok $n - $name # SKIP $(echo "$out" | tail -1)";
	else echo "not ok $n - $name"; echo "$out" | sed 's/^/# /'; fail=1; fi
}
echo "1..$((18 + $(echo "$plain" | wc -w)))"
check ordinary_programs_unchanged bash -c "
	[ \"\$(ls -la /usr/bin | md5sum)\" = \"\$('$g' run -- ls -la /usr/bin | md5sum)\" ] &&
	[ \"\$('$g' run -- sh -c 'echo hi; echo there >&2' 2>&1)\" = \"\$(printf 'hi\nthere')\" ] &&
	[ \"\$(seq 1 20000 | sort -R --parallel=2 -S 1M | sort -n | md5sum)\" = \
	  \"\$('$g' run -- sh -c 'seq 1 20000 | sort -R --parallel=2 -S 1M | sort -n' | md5sum)\" ]"
cat > "$tmp/threads.c" <<'C'
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
static void *work(void *a)
{
	long i, s = 0;
	for (i = 0; i < 2000; i++) {
		void *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		((char *)p)[0] = (char)i;
		s += ((char *)p)[0];
		munmap(p, 8192);
		free(malloc(100));
	}
	return (void *)s;
}
int main(void)
{
	pthread_t t[4];
	long total = 0;
	void *r;
	for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, work, NULL);
	for (int i = 0; i < 4; i++) { pthread_join(t[i], &r); total += (long)r; }
	printf("%ld\n", total);
	return 0;
}
C
check threaded_program_unchanged bash -c "
	cc -O2 -pthread '$tmp/threads.c' -o '$tmp/threads' &&
	[ \"\$('$tmp/threads')\" = \"\$('$g' run -- '$tmp/threads')\" ]"
check status_and_signals_pass_through bash -c "
	'$g' run -- sh -c 'exit 7'; [ \$? -eq 7 ] || exit 1
	'$g' run -- sh -c 'kill -TERM \$\$'; [ \$? -eq 143 ] || exit 1
	'$g' run -- /nonexistent/cmd 2>/dev/null; [ \$? -eq 127 ]"
check usage_without_a_command bash -c "
	out=\$('$g' run 2>&1); [ \$? -eq 2 ] && echo \"\$out\" | grep -q '^usage: gmemu run'
	out=\$('$g' run --bogus -- true 2>&1); [ \$? -eq 2 ]"
check static_and_setuid_refused bash -c "
	echo 'int main(void){return 0;}' > '$tmp/s.c'
	if cc -static '$tmp/s.c' -o '$tmp/static' 2>/dev/null; then
		out=\$('$g' run -- '$tmp/static' 2>&1); [ \$? -eq 2 ] &&
			echo \"\$out\" | grep -q 'statically linked' || exit 1
	fi
	cp /bin/true '$tmp/suid' && chmod u+s '$tmp/suid'
	out=\$('$g' run -- '$tmp/suid' 2>&1); [ \$? -eq 2 ] && echo \"\$out\" | grep -q 'set-user-ID'"
check uapi_example_runs_unmodified bash -c "
	! nm -D '$build/examples/uapi_convert' | grep -q gmemu &&
	'$g' run -- '$build/examples/uapi_convert' | grep -qx 'back to shared: \"written while shared\"'"
check options_reach_the_program bash -c "
	'$g' run --trace -- '$build/examples/uapi_convert' 2>&1 |
		grep -q 'gmemu: ioctl(.*KVM_SET_MEMORY_ATTRIBUTES2.*flags=0x2' &&
	# v8 has no content modes: the capability reads 0, flags 0 goes through
	'$g' run --abi v8 --trace -- '$build/examples/uapi_convert' 2>&1 |
		grep -q 'gmemu: ioctl(.*KVM_SET_MEMORY_ATTRIBUTES2.*flags=0,'"
check a_gmemu_program_under_gmemu bash -c "
	'$g' run -- '$g' demo pkvm | grep -q 'guest reads page 3 privately: \"GMEMU BOOT IMAGE\"'"
check kvm_parameters_served bash -c "
	[ \"\$('$g' run -- cat /sys/module/kvm/parameters/force_emulation_prefix)\" = 0 ]"
check children_followed_unless_no_follow bash -c "
	[ \"\$('$g' run -- sh -c 'grep -c libgmemu-preload /proc/self/maps')\" -gt 0 ] &&
	[ \"\$('$g' run --no-follow -- sh -c 'grep -c libgmemu-preload /proc/self/maps')\" = 0 ] &&
	# CMD itself stays interposed; another preload stays in place
	[ \"\$('$g' run --no-follow -- sh -c 'grep -c libgmemu-preload /proc/\$\$/maps')\" -gt 0 ] &&
	[ \"\$(LD_PRELOAD=libm.so.6 '$g' run --no-follow -- sh -c 'echo \$LD_PRELOAD')\" = libm.so.6 ]"
check with_valgrind_strace_gdb bash -c "
	'$g' run -- valgrind -q --error-exitcode=9 '$build/examples/uapi_convert' |
		grep -qx 'back to shared: \"written while shared\"' || exit 1
	if command -v strace >/dev/null; then
		'$g' run -- strace -f -o '$tmp/strace' '$build/examples/uapi_convert' >/dev/null &&
			grep -q 'memfd_create(\"gmemu-gmem\"' '$tmp/strace' || exit 1
	fi
	if command -v gdb >/dev/null; then
		'$g' run -- gdb -batch -ex 'handle SIGBUS nostop noprint pass' -ex run \
			'$build/examples/uapi_convert' 2>&1 | grep -qx 'back to shared: \"written while shared\"'
	fi"
# contract §9.7-§9.8: a QEMU-style launch, kernel UAPI only, in place
for m in snp tdx; do
	check_or_skip "uapi_launch_${m}_in_place" bash -c "
		! nm -D '$build/examples/uapi_launch' | grep -q gmemu || exit 1
		out=\$('$g' run --abi 7.4 --kvm-param gmem_in_place_conversion=Y -- \
			'$build/examples/uapi_launch' $m); rc=\$?
		echo \"\$out\"
		[ \$rc -eq 77 ] && exit 77
		[ \$rc -eq 0 ] && echo \"\$out\" | grep -q 'launch finished, in place' &&
			echo \"\$out\" | grep -q 'private image: SIGBUS' &&
			echo \"\$out\" | grep -qx \"guest read 'G' from its private image\""
done
check uapi_launch_needs_in_place_conversion bash -c "
	'$g' run --abi 7.4 -- '$build/examples/uapi_launch' snp 2>&1 | grep -q 'no in-place conversion'
	[ \${PIPESTATUS[0]} -eq 3 ]"
# contract §2, §12: the parameter's file shows the value in force
check kvm_param_gmem_in_place_conversion bash -c "
	f=/sys/module/kvm/parameters/gmem_in_place_conversion
	[ \"\$('$g' run --abi 7.4 -- cat \$f)\" = N ] &&
	[ \"\$('$g' run --abi 7.4 --kvm-param gmem_in_place_conversion=Y -- cat \$f)\" = Y ] &&
	! '$g' run --abi contentmodes -- cat \$f 2>/dev/null &&
	'$g' run -- test -c /dev/sev &&
	out=\$('$g' run --kvm-param bogus=1 -- true 2>&1); [ \$? -eq 2 ] &&
	echo \"\$out\" | grep -q 'GMEMU_KVM_PARAMS=.*refused'"
# contract §1.4, §13: a path or number the kernel would refuse is refused
# the same way -- never a signal in the interposer
cat > "$tmp/badargs.c" <<'C'
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#define BAD ((const char *)1)
#define EXPECT(call, e) do { errno = 0; if ((call) != -1 || errno != (e)) { \
	printf("%s: errno %d, expected %d\n", #call, errno, e); return 1; } } while (0)
int main(void)
{
	struct stat st;
	struct statx stx;
	int kvm = open("/dev/kvm", O_RDWR);

	if (kvm < 0)
		return 2;
	EXPECT(open(BAD, O_RDONLY), EFAULT);
	EXPECT(openat(AT_FDCWD, BAD, O_RDONLY), EFAULT);
	EXPECT(stat(BAD, &st), EFAULT);
	EXPECT(lstat(BAD, &st), EFAULT);
	EXPECT(fstatat(kvm, BAD, &st, AT_EMPTY_PATH), EFAULT);
	EXPECT(statx(kvm, BAD, AT_EMPTY_PATH, STATX_BASIC_STATS, &stx), EFAULT);
	EXPECT(access(BAD, R_OK), EFAULT);
	EXPECT(dup2(kvm, -1), EBADF);
	EXPECT(dup3(kvm, -1, 0), EBADF);
	EXPECT(fcntl(kvm, F_DUPFD, -1), EINVAL);
	EXPECT(syscall(SYS_dup2, kvm, -1), EBADF);
	return 0;
}
C
check bad_pointers_and_numbers bash -c "
	cc -O2 '$tmp/badargs.c' -o '$tmp/badargs' && '$g' run -- '$tmp/badargs'"
# contract §13: another preloaded library's constructor may open /dev/kvm
cat > "$tmp/early.c" <<'C'
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
int early_vm = -1;
__attribute__((constructor)) static void early(void)
{
	int kvm = open("/dev/kvm", O_RDWR);

	if (kvm >= 0)
		early_vm = ioctl(kvm, KVM_CREATE_VM, 0);
}
C
cat > "$tmp/early_main.c" <<'C'
#include <linux/kvm.h>
#include <sys/ioctl.h>
extern int early_vm;
int main(void)
{
	return ioctl(early_vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) == 1 ? 0 : 1;
}
C
check kvm_opened_in_another_preloads_constructor bash -c "
	cc -shared -fPIC '$tmp/early.c' -o '$tmp/libearly.so' &&
	cc '$tmp/early_main.c' -o '$tmp/early_main' -L'$tmp' -learly -Wl,-rpath,'$tmp' &&
	'$g' run -- '$tmp/early_main' &&
	LD_PRELOAD='$tmp/libearly.so' '$g' run -- '$tmp/early_main'"
# contract §1.8: a vfork() child that closes descriptors before exec
# leaves the parent's VM and gmem alone
cat > "$tmp/vfork.c" <<'C'
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void)
{
	int kvm = open("/dev/kvm", O_RDWR), vm, st;
	pid_t pid;

	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return 2;
	pid = vfork();
	if (pid == 0) {
		close(vm);
		closefrom(3);
		execl("/bin/true", "true", (char *)0);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return 3;
	return ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) == 1 ? 0 : 1;
}
C
check vfork_child_closing_descriptors bash -c "
	cc -O2 '$tmp/vfork.c' -o '$tmp/vfork' && '$g' run -- '$tmp/vfork'"
for t in $plain; do
	check "plain_$t" bash -c "'$g' run -- '$build/plain/$t' > '$tmp/$t.out' 2>&1; rc=\$?;
		[ \$rc -eq 0 -o \$rc -eq 77 ] || { cat '$tmp/$t.out'; exit 1; }"
done
exit $fail
