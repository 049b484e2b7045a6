// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/env.h"
#include "trace.h"

int trace_enabled;

int trace_init(void)
{
	static const char *const choices[] = { "0", "1", NULL };
	int v = 0, r = env_choice("GMEMU_TRACE", choices, &v);

	trace_enabled = r > 0 && v == 1;
	return r < 0 ? r : 0;
}

void trace_printf(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* one write per line so concurrent callers do not interleave */
	fprintf(stderr, "gmemu: %s\n", line);
}

void trace_ret(const char *call, long r, const char *fmt, ...)
{
	char args[320];
	va_list ap;

	if (!trace_enabled)
		return;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	if (r < 0)
		trace_printf("%s(%s) = -1 %s (%s)", call, args,
			     strerrorname_np((int)-r) ?: "?",
			     strerror((int)-r));
	else
		trace_printf("%s(%s) = %ld", call, args, r);
}

const char *ioctl_name(unsigned long req)
{
	switch (req) {
#define N(x) case x: return #x
	N(KVM_GET_API_VERSION);
	N(KVM_CREATE_VM);
	N(KVM_CHECK_EXTENSION);
	N(KVM_GET_VCPU_MMAP_SIZE);
	N(KVM_GET_SUPPORTED_CPUID);
	N(KVM_GET_MSR_INDEX_LIST);
	N(KVM_GET_MSR_FEATURE_INDEX_LIST);
	N(KVM_CREATE_GUEST_MEMFD);
	N(KVM_SET_MEMORY_ATTRIBUTES);
	N(KVM_SET_MEMORY_ATTRIBUTES2);
	N(KVM_SET_USER_MEMORY_REGION);
	N(KVM_SET_USER_MEMORY_REGION2);
	N(KVM_CREATE_VCPU);
	N(KVM_ENABLE_CAP);
	N(KVM_RUN);
	N(KVM_GET_REGS);
	N(KVM_SET_REGS);
	N(KVM_GET_SREGS);
	N(KVM_SET_SREGS);
	N(KVM_GET_FPU);
	N(KVM_SET_FPU);
	N(KVM_GET_MSRS);
	N(KVM_SET_MSRS);
	N(KVM_SET_CPUID2);
	N(KVM_GET_CPUID2);
	N(KVM_GET_MP_STATE);
	N(KVM_SET_MP_STATE);
	N(KVM_GET_XCRS);
	N(KVM_SET_XCRS);
	N(KVM_GET_XSAVE);
	N(KVM_SET_XSAVE);
	N(KVM_GET_TSC_KHZ);
	N(KVM_CREATE_IRQCHIP);
	N(KVM_SET_TSS_ADDR);
	N(KVM_SET_IDENTITY_MAP_ADDR);
	N(KVM_MEMORY_ENCRYPT_OP);
	N(KVM_PRE_FAULT_MEMORY);
#undef N
	default:
		return NULL;
	}
}

void trace_ioctl(int fd, unsigned long req, const void *arg, long r)
{
	const char *name = ioctl_name(req);
	char reqbuf[32];

	if (!trace_enabled)
		return;
	if (!name) {
		snprintf(reqbuf, sizeof(reqbuf), "%#lx", req);
		name = reqbuf;
	}
	/* the struct arguments as the call saw them (copied in already) */
	if (req == KVM_SET_MEMORY_ATTRIBUTES2 && arg) {
		const struct kvm_memory_attributes2 *a = arg;

		trace_ret("ioctl", r,
			  "%d, %s, {offset=%#llx, size=%#llx, attributes=%#llx, "
			  "flags=%#llx, error_offset=%#llx}",
			  fd, name, (unsigned long long)a->offset,
			  (unsigned long long)a->size,
			  (unsigned long long)a->attributes,
			  (unsigned long long)a->flags,
			  (unsigned long long)a->error_offset);
	} else if (req == KVM_SET_USER_MEMORY_REGION2 && arg) {
		const struct kvm_userspace_memory_region2 *m = arg;

		trace_ret("ioctl", r,
			  "%d, %s, {slot=%u, flags=%#x, gpa=%#llx, size=%#llx, "
			  "uaddr=%#llx, gmem=%u, gmem_offset=%#llx}",
			  fd, name, m->slot, m->flags,
			  (unsigned long long)m->guest_phys_addr,
			  (unsigned long long)m->memory_size,
			  (unsigned long long)m->userspace_addr, m->guest_memfd,
			  (unsigned long long)m->guest_memfd_offset);
	} else if (req == KVM_SET_MEMORY_ATTRIBUTES && arg) {
		const struct kvm_memory_attributes *a = arg;

		trace_ret("ioctl", r,
			  "%d, %s, {address=%#llx, size=%#llx, attributes=%#llx, flags=%#llx}",
			  fd, name, (unsigned long long)a->address,
			  (unsigned long long)a->size,
			  (unsigned long long)a->attributes,
			  (unsigned long long)a->flags);
	} else if (req == KVM_CREATE_GUEST_MEMFD && arg) {
		const struct kvm_create_guest_memfd *c = arg;

		trace_ret("ioctl", r, "%d, %s, {size=%#llx, flags=%#llx}", fd,
			  name, (unsigned long long)c->size,
			  (unsigned long long)c->flags);
	} else {
		trace_ret("ioctl", r, "%d, %s, %#lx", fd, name,
			  (unsigned long)(uintptr_t)arg);
	}
}
