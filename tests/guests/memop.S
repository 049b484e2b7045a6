/* SPDX-License-Identifier: MIT */
/*
 * A real-mode guest that does one memory operation per run and reports it
 * through port I/O, so a test drives it like a VMM drives a vCPU:
 *   %cl = 0: read the byte at %ds:%bx, report it on port 0x11
 *   %cl = 1: write %al to %ds:%bx, report it on port 0x12
 *   %cl = 2: write %al to the 4 KiB page at %ds:0, report on port 0x13
 * then hlt.  The test sets the registers (and %ds's base) before each run.
 * At offset 0x40: a hypercall (eax = nr, ebx/ecx/edx = arguments) through
 * gmemu's doorbell port; the result comes back in eax, reported on 0x14.
 * At offset 0x50: an I/O exit on port 0x15 per iteration, forever; at
 * 0x58: a read of %ds:%bx per iteration, forever (the benchmarks' loops).
 */
	.code16
	.text
	.globl _start
_start:
	cmp	$1, %cl
	je	1f
	cmp	$2, %cl
	je	2f
	movb	(%bx), %al
	outb	%al, $0x11
	hlt
1:	movb	%al, (%bx)
	outb	%al, $0x12
	hlt
2:	xorw	%di, %di
	movw	$4096, %cx
	pushw	%ds
	popw	%es
	cld
	rep stosb
	outb	%al, $0x13
	hlt

	.org	0x40
hypercall:
	outb	%al, $0xdd		/* GMEMU_HYPERCALL_PORT */
	outb	%al, $0x14
	hlt

	.org	0x50
exit_loop:
	outb	%al, $0x15
	jmp	exit_loop

	.org	0x58
read_loop:
	movb	(%bx), %al
	jmp	read_loop
