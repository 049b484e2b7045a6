// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>

#include "fd.h"
#include "sys.h"

#define HIDDEN_FLOOR_CAP 16384 /* keeps the kernel's fd table small */
#define HIDDEN_MAX 4096        /* bitmap of hidden numbers below the cap */

static uint64_t hidden_map[(HIDDEN_FLOOR_CAP + HIDDEN_MAX) / 64];

static int floor_fd(void)
{
	struct rlimit rl;
	unsigned long soft = 1024, f;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		soft = rl.rlim_cur;
	/* the top quarter of the first 1024, the top 256 numbers above */
	f = soft > 1024 ? soft - 256 : soft * 3 / 4;
	return (int)MIN(f, (unsigned long)HIDDEN_FLOOR_CAP);
}

static void mark(int fd, bool on)
{
	if (fd < 0 || fd >= (int)(ARRAY_SIZE(hidden_map) * 64))
		return;
	if (on)
		__atomic_or_fetch(&hidden_map[fd / 64], 1ULL << (fd % 64),
				  __ATOMIC_RELAXED);
	else
		__atomic_and_fetch(&hidden_map[fd / 64], ~(1ULL << (fd % 64)),
				   __ATOMIC_RELAXED);
}

int fd_hide(int fd)
{
	long nfd = sys_fcntl(fd, F_DUPFD_CLOEXEC, floor_fd());

	if (nfd < 0) /* all high numbers taken: keep a low one */
		nfd = sys_fcntl(fd, F_DUPFD_CLOEXEC, 0);
	sys_close(fd);
	if (nfd >= 0)
		mark((int)nfd, true);
	return (int)nfd;
}

void fd_hidden_forget(int fd)
{
	mark(fd, false);
}

bool fd_is_hidden(int fd)
{
	if (fd < 0 || fd >= (int)(ARRAY_SIZE(hidden_map) * 64))
		return false;
	return __atomic_load_n(&hidden_map[fd / 64], __ATOMIC_RELAXED) &
	       (1ULL << (fd % 64));
}

int fd_check(int fd, dev_t dev, ino_t ino)
{
	struct stat st;

	if (fd < 0 || sys_fstat(fd, &st) || st.st_dev != dev || st.st_ino != ino)
		return -EBADF;
	return 0;
}

int fd_next_hidden(int from)
{
	int fd;

	for (fd = MAX(from, 0); fd < (int)(ARRAY_SIZE(hidden_map) * 64); fd++) {
		uint64_t w = __atomic_load_n(&hidden_map[fd / 64], __ATOMIC_RELAXED);

		if (!(w >> (fd % 64))) {
			fd |= 63; /* nothing more in this word */
			continue;
		}
		if (w & (1ULL << (fd % 64)))
			return fd;
	}
	return -1;
}
