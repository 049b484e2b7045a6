#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The command line: help, version, refused commands, arguments and
# environment values (exit 2, naming what was refused), demo of named
# models, inspect's legend and --watch.  TAP.
build=$(dirname "${GMEMU_LIBSO:-build/libgmemu.so}")
g=$build/gmemu
n=0; fail=0
check() { # name, command...
	local name=$1; shift
	n=$((n + 1))
	if out=$("$@" 2>&1); then echo "ok $n - $name"; else
		echo "not ok $n - $name"; echo "$out" | sed 's/^/# /'; fail=1; fi
}
# status and output of one run: "rc<TAB>output"
echo "1..9"
check help_forms_exit_0 bash -c "
	for a in help -h --help; do '$g' \$a | grep -q '^usage: gmemu COMMAND' || exit 1; done
	'$g' help inspect | grep -q -- '--watch'"
check version bash -c "'$g' --version | grep -Eqx 'gmemu [0-9]+\.[0-9]+\.[0-9]+'"
check unknown_command_exit_2_named bash -c "
	out=\$('$g' frobnicate 2>&1); rc=\$?
	[ \$rc -eq 2 ] && echo \"\$out\" | grep -q \"no command 'frobnicate'\"
	out=\$('$g' help frobnicate 2>&1); [ \$? -eq 2 ]"
check extra_argument_exit_2_named bash -c "
	out=\$('$g' caps surplus 2>&1); rc=\$?
	[ \$rc -eq 2 ] && echo \"\$out\" | grep -q \"unexpected argument 'surplus'\"
	out=\$('$g' --version surplus 2>&1); [ \$? -eq 2 ]
	out=\$('$g' inspect --bogus 1 2>&1); [ \$? -eq 2 ]"
check demo_runs_the_named_models bash -c "
	out=\$('$g' demo snp 2>&1) || exit 1
	echo \"\$out\" | grep -q '^== snp' && ! echo \"\$out\" | grep -q '^== \(pkvm\|tdx\|sw_protected\)'
	out=\$('$g' demo snp nosuch 2>&1); rc=\$?
	[ \$rc -eq 2 ] && echo \"\$out\" | grep -q \"no model 'nosuch'\""
check bad_environment_refused bash -c "
	for v in 'GMEMU_ABI=' 'GMEMU_ABI=bogus' 'GMEMU_TRACE=yes' 'GMEMU_REVOKE_TIMEOUT_MS=abc' \
		 'GMEMU_REVOKE_TIMEOUT_MS=0' 'GMEMU_REVOKE_TIMEOUT_MS=-5' 'GMEMU_VCPU=qemu' 'GMEMU_PRELOAD_FOLLOW=2' \
		 'GMEMU_KVM_PARAMS=gmem_in_place_conversion=perhaps' 'GMEMU_KVM_PARAMS=x=Y'; do
		name=\${v%%=*}
		out=\$(env \"\$v\" '$g' caps 2>&1 >/dev/null); rc=\$?
		[ \$rc -eq 2 ] || { echo \"\$v: exit \$rc\"; exit 1; }
		[ \$(echo \"\$out\" | wc -l) -eq 1 ] && echo \"\$out\" | grep -q \"\$name=.*refused; accepted:\" ||
			{ echo \"\$v: \$out\"; exit 1; }
	done"
check inspect_refuses_other_files bash -c "
	'$build/examples/convert' >/dev/null
	sleep 30 < /dev/null & pid=\$!
	out=\$('$g' inspect \$pid 0 2>&1); rc=\$?
	kill \$pid
	[ \$rc -eq 1 ] && echo \"\$out\" | grep -q 'not a gmemu guest_memfd'"
check inspect_explains_columns bash -c "'$build/tests/t_trace' inspect_from_another_process | grep -q 'one character per .* P private, S shared' "
check inspect_watch_redraws_rates bash -c "'$build/tests/t_trace' inspect_watch_shows_rates 2>&1 | grep -q '^ok'"
exit $fail
