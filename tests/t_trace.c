// SPDX-License-Identifier: MIT
/* contract §10: GMEMU_TRACE=1 logs each emulated call with arguments and result;
 * the state of a gmem can be printed. */
#include <time.h>

#include "harness.h"
#include "whitebox.h"

static void tool_path(char *tool, size_t n)
{
	const char *so = getenv("GMEMU_LIBSO");

	snprintf(tool, n, "%s", so ? so : "build/libgmemu.so");
	*strrchr(tool, '/') = 0;
	strncat(tool, "/gmemu", n - strlen(tool) - 1);
	if (access(tool, X_OK))
		SKIP("tool not built");
}

static void run_tool(const char *cmd, char *out, size_t n)
{
	FILE *f = popen(cmd, "r");
	size_t got;

	CHECK(f);
	got = fread(out, 1, n - 1, f);
	out[got] = 0;
	CHECK_EQ(pclose(f), 0);
	printf("%s", out);
}

TEST(trace_child)
{
	/* run by trace_lines_for_each_call with GMEMU_TRACE=1 */
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);
	int g = create_gmem(vm, 4 * PAGE, GUEST_MEMFD_FLAG_MMAP);

	CHECK_CONVERT(g, PAGE, PAGE, false, KVM_SET_MEMORY_ATTRIBUTES2_ZERO);
	CHECK_OK(gmemu_pin(g, PAGE, PAGE));
	set_attrs(g, 0, 2 * PAGE, true, 0);
	map_gmem(g, PAGE, 0);
	gmemu_read(g, NULL, 0);
}

static char *run_traced(const char *value)
{
	static char out[65536];
	int p[2];
	pid_t pid;
	size_t n = 0;
	ssize_t r;

	CHECK_OK(pipe(p));
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 2);
		setenv("GMEMU_TRACE", value, 1);
		setenv("GMEMU_TEST_CHILD", "trace_child", 1);
		execl("/proc/self/exe", "t_trace", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while ((r = read(p[0], out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = 0;
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return out;
}

TEST(trace_lines_for_each_call)
{
	char *out = run_traced("1");

	printf("%s", out);
	CHECK(strstr(out, "gmemu: kvm_open(abi=contentmodes) = "));
	CHECK(strstr(out, "gmemu: ioctl("));
	CHECK(strstr(out, "KVM_CREATE_VM"));
	CHECK(strstr(out, "KVM_CREATE_GUEST_MEMFD, {size=0x4000, flags=0x1}"));
	CHECK(strstr(out, "KVM_SET_MEMORY_ATTRIBUTES2, {offset=0x1000, size=0x1000, "
			  "attributes=0, flags=0x1"));
	CHECK(strstr(out, "= -1 EAGAIN"));
	CHECK(strstr(out, "error_offset=0x1000"));
	CHECK(strstr(out, "gmemu: pin("));
	CHECK(strstr(out, "gmemu: mmap("));
	CHECK(strstr(out, "gmemu: read(") && strstr(out, "EINVAL"));
}

TEST(no_trace_by_default)
{
	char *out = run_traced("0");

	CHECK(strstr(out, "gmemu:") == NULL);
}

TEST(dump_prints_state)
{
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_TDX_VM);
	int g = create_gmem(vm, 4 * PAGE, GUEST_MEMFD_FLAG_MMAP |
					  GUEST_MEMFD_FLAG_INIT_SHARED);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK_CONVERT(g, PAGE, PAGE, true, 0);
	CHECK_OK(gmemu_pin(g, 3 * PAGE, PAGE));
	map_gmem(g, PAGE, 0);
	CHECK_OK(gmemu_gmem_dump(g, f));
	fclose(f);
	printf("%s", buf);
	CHECK(strstr(buf, "vm_type=tdx profile=contentmodes phase=pre-launch"));
	CHECK(strstr(buf, "[0x1000, 0x2000) private"));
	CHECK(strstr(buf, "[0x2000, 0x4000) shared"));
	CHECK(strstr(buf, "[0x3000, 0x4000) long-term=1 transient=0"));
	CHECK(strstr(buf, "alive views=1"));
	CHECK(strstr(buf, "to_private=1"));
	free(buf);
}

TEST(inspect_from_another_process)
{
	char tool[256], cmd[512], out[8192];
	int kvm = open_kvm("v8"), vm = create_vm(kvm, KVM_X86_SNP_VM);
	int g = create_gmem(vm, 8 * PAGE, GUEST_MEMFD_FLAG_MMAP |
					  GUEST_MEMFD_FLAG_INIT_SHARED);
	int ready[2], go[2];
	pid_t pid;

	tool_path(tool, sizeof(tool));
	CHECK_OK(pipe(ready));
	CHECK_OK(pipe(go));
	pid = fork();
	if (pid == 0) { /* a second mapper, so a revocation happens */
		map_gmem(g, 8 * PAGE, 0)[0] = 1;
		CHECK_EQ(write(ready[1], "x", 1), 1);
		char c;
		CHECK_EQ(read(go[0], &c, 1), 1);
		exit(0);
	}
	char c;
	CHECK_EQ(read(ready[0], &c, 1), 1);
	CHECK_CONVERT(g, 2 * PAGE, 2 * PAGE, true, 0);
	map_gmem(g, 8 * PAGE, 0)[0] = 1;
	snprintf(cmd, sizeof(cmd), "%s inspect %d %d", tool, (int)getpid(), g);
	run_tool(cmd, out, sizeof(out));
	CHECK(strstr(out, "size=0x8000"));
	CHECK(strstr(out, "vm_type=snp profile=v8 phase=pre-launch"));
	CHECK(strstr(out, "[0x2000, 0x4000) private"));
	CHECK(strstr(out, "map: [Ssppssss]"));
	CHECK(strstr(out, "alive views=1 answered=1"));
	CHECK(strstr(out, "revocation requests=1 "));
	/* how each process's views work (contract §7.7) */
	{
		char want[64];

		snprintf(want, sizeof(want), "mechanism=%s",
			 gmemu_views_mechanism(NULL));
		CHECK(strstr(out, want));
	}
	/* the inspecting process did not register as a mapper */
	struct gmemu_gmem_info info = { .sz = sizeof(info) };
	CHECK_OK(gmemu_gmem_info(g, &info));
	CHECK_EQ(info.nr_processes, 2);
	CHECK_EQ(write(go[1], "x", 1), 1);
	waitpid(pid, NULL, 0);
}

TEST(inspect_does_not_wait_for_the_lock)
{
	char tool[256], cmd[512], out[8192];
	int kvm = open_kvm(NULL), vm = create_vm(kvm, KVM_X86_SW_PROTECTED_VM);
	int g = create_gmem(vm, 4 * PAGE, GUEST_MEMFD_FLAG_MMAP);
	int ready[2];
	pid_t pid;
	struct timespec t0, t1;

	tool_path(tool, sizeof(tool));
	CHECK_OK(pipe(ready));
	pid = fork();
	if (pid == 0) {
		CHECK_OK(gmem_lock(wb_gmem(g))); /* and keep it */
		CHECK_EQ(write(ready[1], "x", 1), 1);
		pause();
	}
	char c;
	CHECK_EQ(read(ready[0], &c, 1), 1);
	snprintf(cmd, sizeof(cmd), "%s inspect /proc/%d/fd/%d", tool, (int)getpid(), g);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	run_tool(cmd, out, sizeof(out));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(t1.tv_sec - t0.tv_sec < 3);
	CHECK(strstr(out, "map: [pppp]"));
	CHECK(strstr(out, "may mix two states"));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* the lock's holder died: the next locker recovers */
	CHECK(is_private(g, 0));
	struct gmemu_gmem_info info = { .sz = sizeof(info) };
	CHECK_OK(gmemu_gmem_info(g, &info));
}

/* gmemu inspect --watch redraws the map and the rates until stopped */
TEST(inspect_watch_shows_rates)
{
	char tool[256], cmd[512], out[16384];
	int kvm = open_kvm(NULL), vm = create_vm(kvm, GMEMU_VM_PKVM);
	int g = create_gmem(vm, 8 * PAGE, GUEST_MEMFD_FLAG_MMAP |
					  GUEST_MEMFD_FLAG_INIT_SHARED);
	double rate = 0;
	const char *p;
	pid_t pid;

	tool_path(tool, sizeof(tool));
	pid = fork();
	if (pid == 0) {
		for (;;) {
			CHECK_CONVERT(g, 0, PAGE, true, 0);
			CHECK_CONVERT(g, 0, PAGE, false, 0);
			usleep(1000);
		}
	}
	snprintf(cmd, sizeof(cmd),
		 "%s inspect --watch --interval 0.3 --frames 3 /proc/%d/fd/%d",
		 tool, (int)getpid(), g);
	run_tool(cmd, out, sizeof(out));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK(strstr(out, "map: ["));
	/* three frames, each with the rates */
	p = out;
	for (int i = 0; i < 3; i++) {
		p = strstr(p, "per second: conversions ");
		CHECK(p);
		p += strlen("per second: conversions ");
		rate = atof(p);
	}
	CHECK(rate > 10);
	CHECK(!strstr(p, "per second: conversions "));
}

/* A gmem of another layout version is refused (EPROTO), never read as
 * this one, and inspect names both versions. */
TEST(other_layout_version_refused)
{
	char tool[256], cmd[512];
	int kvm = open_kvm(NULL), vm = create_vm(kvm, GMEMU_VM_PKVM);
	int g = create_gmem(vm, 4 * PAGE, GUEST_MEMFD_FLAG_MMAP);
	struct gmemu_gmem_info info = { .sz = sizeof(info) };
	char *buf = NULL, out[4096];
	size_t len = 0;
	FILE *f;
	int d = dup(g); /* a descriptor the library has not seen */

	tool_path(tool, sizeof(tool));
	wb_gmem(g)->hdr->version = 99; /* as another gmemu would lay it out */
	CHECK_OK(gmemu_close(g));      /* this process forgets the gmem */
	CHECK_ERR(gmemu_gmem_info(d, &info), EPROTO);
	CHECK_ERR(gmemu_pin(d, 0, PAGE), EPROTO);
	CHECK_ERR(gmemu_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, d, 0) == MAP_FAILED ? -1 : 0,
		  EPROTO);
	f = open_memstream(&buf, &len);
	CHECK_ERR(gmemu_gmem_dump(d, f), EPROTO);
	fclose(f);
	CHECK(strstr(buf, "layout version 99; this gmemu reads version 3"));
	free(buf);
	snprintf(cmd, sizeof(cmd), "%s inspect /proc/%d/fd/%d 2>&1", tool,
		 (int)getpid(), d);
	f = popen(cmd, "r");
	CHECK(f);
	out[fread(out, 1, sizeof(out) - 1, f)] = 0;
	CHECK(pclose(f) != 0);
	printf("%s", out);
	CHECK(strstr(out, "layout version 99; this gmemu reads version 3"));
}
