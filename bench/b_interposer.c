// SPDX-License-Identifier: MIT
/*
 * What the interposer costs on calls that are not gmemu's: a plain ioctl on
 * a pipe (FIONREAD) and an anonymous mmap + munmap, each measured in a child
 * process with and without libgmemu-preload.so, the two alternating round
 * by round so that the machine's noise falls on both alike.  Target: <=
 * 1.1x.
 */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define CALLS 20000
#define ROUNDS 41

/* child: ns per call of each kind, printed */
static int child(void)
{
	int p[2], n;
	double t0, t_ioctl, t_mmap;
	int i;

	if (pipe(p))
		return 1;
	t0 = bench_now_ns();
	for (i = 0; i < CALLS; i++)
		ioctl(p[0], FIONREAD, &n);
	t_ioctl = (bench_now_ns() - t0) / CALLS;
	t0 = bench_now_ns();
	for (i = 0; i < CALLS; i++) {
		void *a = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		munmap(a, PAGE);
	}
	t_mmap = (bench_now_ns() - t0) / CALLS;
	printf("%.1f %.1f\n", t_ioctl, t_mmap);
	return 0;
}

static void one_round(const char *self, const char *preload, double *io,
		      double *mm)
{
	char line[128];
	int p[2];
	pid_t pid;
	FILE *f;

	if (pipe(p))
		exit(1);
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		if (preload)
			setenv("LD_PRELOAD", preload, 1);
		else
			unsetenv("LD_PRELOAD");
		setenv("GMEMU_BENCH_CHILD", "1", 1);
		execl(self, self, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	f = fdopen(p[0], "r");
	if (!f || !fgets(line, sizeof(line), f) || sscanf(line, "%lf %lf", io, mm) != 2)
		exit(1);
	fclose(f);
	waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
	double io[2][ROUNDS], mm[2][ROUNDS];
	char preload[4096], self[4096];
	const char *so = getenv("GMEMU_LIBSO");
	ssize_t n;
	int r;

	(void)argc;
	if (getenv("GMEMU_BENCH_CHILD"))
		return child();
	snprintf(preload, sizeof(preload), "%s", so ? so : "build/libgmemu.so");
	*strrchr(preload, '/') = 0;
	strncat(preload, "/libgmemu-preload.so", sizeof(preload) - strlen(preload) - 1);
	if (access(preload, R_OK)) {
		printf("interposer not built: %s\n", preload);
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = 0;
	(void)argv;
	bench_open();
	for (r = 0; r < ROUNDS; r++) {
		/* [0] without, [1] with; which goes first alternates too */
		int first = r & 1;

		one_round(self, first ? preload : NULL, &io[first][r], &mm[first][r]);
		one_round(self, first ? NULL : preload, &io[!first][r], &mm[!first][r]);
	}
	{
		struct stats with_io = stats_of(io[1], ROUNDS),
			     without_io = stats_of(io[0], ROUNDS),
			     with_mm = stats_of(mm[1], ROUNDS),
			     without_mm = stats_of(mm[0], ROUNDS);

		bench_report("ioctl on a pipe, under the interposer", with_io,
			     "  baseline: the same without it", without_io, 1.1,
			     "<= 1.1x");
		bench_report("anonymous mmap + munmap, under the interposer",
			     with_mm, "  baseline: the same without it", without_mm,
			     1.1, "<= 1.1x");
	}
	return 0;
}
