// SPDX-License-Identifier: MIT
/* GMEMU_TRACE=1: one line per emulated call on stderr. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

int trace_enabled;

void trace_init(void)
{
	const char *v = getenv("GMEMU_TRACE");

	trace_enabled = v && *v && strcmp(v, "0") != 0;
}

void trace_printf(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line so concurrent callers do not interleave. */
	fprintf(stderr, "gmemu: %s\n", line);
}

const char *ioctl_name(unsigned long req)
{
	switch (req) {
	case KVM_GET_API_VERSION: return "KVM_GET_API_VERSION";
	case KVM_CREATE_VM: return "KVM_CREATE_VM";
	case KVM_CHECK_EXTENSION: return "KVM_CHECK_EXTENSION";
	case KVM_CREATE_GUEST_MEMFD: return "KVM_CREATE_GUEST_MEMFD";
	case KVM_SET_MEMORY_ATTRIBUTES: return "KVM_SET_MEMORY_ATTRIBUTES";
	case KVM_SET_MEMORY_ATTRIBUTES2: return "KVM_SET_MEMORY_ATTRIBUTES2";
	case KVM_SET_USER_MEMORY_REGION: return "KVM_SET_USER_MEMORY_REGION";
	case KVM_CREATE_VCPU: return "KVM_CREATE_VCPU";
	case KVM_GET_VCPU_MMAP_SIZE: return "KVM_GET_VCPU_MMAP_SIZE";
	case KVM_RUN: return "KVM_RUN";
	case KVM_SET_USER_MEMORY_REGION2: return "KVM_SET_USER_MEMORY_REGION2";
	default: return NULL;
	}
}
