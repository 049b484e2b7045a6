/* SPDX-License-Identifier: MIT */
/*
 * The guest's side of a gmem, for tests: reads and writes bytes through the
 * trusted view whatever the page's attribute, as the guest (or the trusted
 * entity) would.  White-box tests link the test build of the library
 * (libgmemu-internal.a) and use its internals.
 */
#ifndef GMEMU_TEST_WHITEBOX_H
#define GMEMU_TEST_WHITEBOX_H

#include "base/testing.h"
#include "gmem/gmem_priv.h"
#include "uapi/object.h"

extern int gmem_crash_point;

static inline struct gmem *wb_gmem(int fd)
{
	struct object *o;

	if (obj_lookup(fd, &o) != 1 || o->type != OBJ_GMEM)
		FAIL("fd %d is not a gmem", fd);
	obj_put(o); /* the fd keeps it */
	return o->gmem;
}

static inline void guest_read(int fd, uint64_t off, void *buf, size_t len)
{
	memcpy(buf, gmem_data(wb_gmem(fd)) + off, len);
}

static inline void guest_write(int fd, uint64_t off, const void *buf,
			       size_t len)
{
	memcpy(gmem_data(wb_gmem(fd)) + off, buf, len);
}

static inline void guest_fill(int fd, uint64_t off, uint8_t v, size_t len)
{
	memset(gmem_data(wb_gmem(fd)) + off, v, len);
}

/* Does every byte of the guest's [off, off+len) equal v? */
static inline bool guest_all(int fd, uint64_t off, uint8_t v, size_t len)
{
	const uint8_t *p = gmem_data(wb_gmem(fd)) + off;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* Is the page at off backed by memory (not a hole)? */
static inline bool page_allocated(int fd, uint64_t off)
{
	off_t d = lseek(gmem_memfd(wb_gmem(fd)), (off_t)off, SEEK_DATA);

	return d >= 0 && (uint64_t)d == off;
}

#endif
