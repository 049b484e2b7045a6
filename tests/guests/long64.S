/* SPDX-License-Identifier: MIT */
/*
 * A 64-bit guest for tests/t_emu.c, loaded at GPA = VA 0x2000 and run in
 * long mode as KVM's selftests set it up (the test builds the page tables,
 * the GDT and the IDT).  Each routine starts at its own offset; the test
 * sets the registers it names and RIP = 0x2000 + offset, then runs it.
 * Assembled like every guest here (-m32, flat binary): .code64 makes it
 * 64-bit code.
 */
	.code64
	.text
	.globl _start
_start:
	/* 0x000 ucall: a pointer in RDI, as KVM's selftests pass their
	 * struct ucall; the VMM's IN answer lands at [RDI + 8] */
	movq	$0x55aa, (%rdi)
	movw	$0x1000, %dx
	inb	%dx, %al
	movb	%al, 8(%rdi)
	outb	%al, $0x11
	hlt

	.org	0x40
mmio:	/* RBX = VA of MMIO: an 8-byte write, then a 4-byte read */
	movabsq	$0x1122334455667788, %rax
	movq	%rax, 0x10(%rbx)
	movl	0x20(%rbx), %eax
	outl	%eax, $0x12
	hlt

	.org	0x80
hypercalls:	/* KVM_HC_MAP_GPA_RANGE(RSI, 1, ENCRYPTED) by vmcall, then
		 * by vmmcall; RAX after each goes out on port 0x13 */
	movl	$12, %eax
	movq	%rsi, %rbx
	movl	$1, %ecx
	movl	$0x10, %edx
	vmcall
	outl	%eax, $0x13
	movl	$12, %eax
	vmmcall
	outl	%eax, $0x13
	hlt

	.org	0xc0
halt:	/* hlt, then port 0x14 */
	hlt
	outb	%al, $0x14
	hlt

	.org	0xd0
triple:	/* #UD with no IDT: #DF, then a triple fault */
	ud2

	.org	0xe0
read_loop:	/* read [RSI] forever; log the value at [RDI], count at [RDI + 8] */
1:	movq	(%rsi), %rax
	movq	%rax, (%rdi)
	incq	8(%rdi)
	jmp	1b

	.org	0x100
fault_once:	/* increment [RSI] and report it on port 0x17 */
	incq	(%rsi)
	movq	(%rsi), %rax
	outl	%eax, $0x17
	hlt

	.org	0x140
count_loop:	/* RAX counts OUT exits on port 0x18 */
1:	incq	%rax
	outl	%eax, $0x18
	jmp	1b

	.org	0x180
read_byte:	/* the byte at [RSI] on port 0x19 */
	movb	(%rsi), %al
	outb	%al, $0x19
	hlt

	.org	0x1c0
call_far:	/* call the code at RAX; it comes back with RBX + 1 */
	call	*%rax
	outl	%eax, $0x1a
	hlt

	.org	0x200
callee:	/* copied by the test to the page call_far calls */
	incq	%rbx
	movq	%rbx, %rax
	ret

	.org	0x240
spin:	/* count in RAX forever */
1:	incq	%rax
	jmp	1b

	.org	0x280
rep_out:	/* out RCX bytes from [RSI] with rep outsb: one exit each */
	movw	$0x1b, %dx
	cld
	rep outsb
	hlt
