/*
 * clockinject: per-process clock skew for programs no preload reaches.
 *
 *   clockinject patch PID STATE_PATH   map the blob (vdso_blob.h) and the
 *                                      state file into PID and point its
 *                                      vDSO clock functions at the blob
 *   clockinject restore PID [--force]  put the original vDSO bytes back and
 *                                      unmap what patch mapped
 *   clockinject show PID|self          print each vDSO clock function's
 *                                      address, first bytes and whether it
 *                                      is patched
 *
 * Go programs (etcd) and static binaries read the time by calling the vDSO
 * directly, so an LD_PRELOAD shim never sees their clock reads. This is the
 * approach of Chaos Mesh's TimeChaos, without Kubernetes: attach with ptrace
 * to every thread, make the process itself run mmap/openat/mprotect (one
 * `syscall` instruction found in its own vDSO, single-stepped with borrowed
 * registers), write the blob through /proc/PID/mem, and overwrite the first
 * SB_PATCH_LEN bytes of each function with `movabs $entry, %r11; jmp *%r11`.
 * The write copies the vDSO page for this process only. Every thread stops
 * while the bytes change, and none is left inside the bytes being replaced.
 * The blob reads the same state file as the shim, so clockctl changes the
 * skew of a patched process exactly as of a preloaded one.
 *
 * restore refuses (exit 3) while the state leaves the monotonic clocks
 * ahead of real time: putting the real vDSO back would step them backwards,
 * the one thing a monotonic clock must never do. --force restores anyway.
 *
 * Output is one line of key=value pairs. Exit status: 0 done (including
 * "already patched" and "not patched"), 1 failure, 2 bad usage, 3 restore
 * refused. Linked statically so it runs in any image; needs CAP_SYS_PTRACE
 * or the same credentials as the target.
 */
#if !defined(__x86_64__)
#error "clockinject supports x86_64 only"
#endif
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clockfile.h"
#include "vdso_blob.h"
#include "vdso_blob_bytes.h"
#include "vdso_elf.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define EXIT_KEPT 3
#define MAX_THREADS 4096
#define MAX_VDSO_LEN (64 * 1024)
/* Threads found after the first pass are new ones started meanwhile. */
#define ATTACH_PASSES 16
/* A thread inside the bytes being replaced is stepped out of them. */
#define MAX_STEPS_OUT 256

static const char *const FN_NAMES[SB_FN_COUNT] = {
	[SB_FN_CLOCK_GETTIME] = "__vdso_clock_gettime",
	[SB_FN_GETTIMEOFDAY] = "__vdso_gettimeofday",
	[SB_FN_TIME] = "__vdso_time",
};
static const char *const FN_KEYS[SB_FN_COUNT] = {
	[SB_FN_CLOCK_GETTIME] = "clock_gettime",
	[SB_FN_GETTIMEOFDAY] = "gettimeofday",
	[SB_FN_TIME] = "time",
};

struct thread {
	pid_t tid;
	/* Signals that arrived while the thread was stopped here (bit n-1 for
	 * signal n): delivered again on detach, none lost. Go sends SIGURG to
	 * preempt goroutines, so a few always arrive. */
	uint64_t signals;
};

struct target {
	pid_t pid;
	int mem_fd;
	struct thread threads[MAX_THREADS];
	int nthreads;
	uint64_t vdso_start, vdso_len;
	uint8_t vdso[MAX_VDSO_LEN];
	uint64_t fn_addr[SB_FN_COUNT]; /* 0 if the vDSO lacks the function */
	uint64_t syscall_addr;
};

static struct target T;

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void detach_all(void)
{
	for (int i = 0; i < T.nthreads; i++) {
		struct thread *t = &T.threads[i];
		int first = 0;
		for (int sig = 1; sig <= 64; sig++)
			if (t->signals & (1ull << (sig - 1))) {
				first = sig;
				break;
			}
		ptrace(PTRACE_DETACH, t->tid, NULL, (void *)(long)first);
		for (int sig = first + 1; first != 0 && sig <= 64; sig++)
			if (t->signals & (1ull << (sig - 1)))
				syscall(SYS_tgkill, T.pid, t->tid, sig);
	}
	T.nthreads = 0;
}

static void die(const char *fmt, ...)
{
	int saved = errno;
	detach_all();
	va_list ap;
	va_start(ap, fmt);
	fputs("clockinject: failed to ", stderr);
	errno = saved;
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_FAILED);
}

static int attached(pid_t tid)
{
	for (int i = 0; i < T.nthreads; i++)
		if (T.threads[i].tid == tid)
			return 1;
	return 0;
}

/* Waits for `tid` to stop; 0 if it exited instead. A signal-delivery stop
 * keeps its signal for detach. */
static int wait_stopped(struct thread *t)
{
	for (;;) {
		int status;
		pid_t r = waitpid(t->tid, &status, __WALL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return 0;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status))
			return 0;
		if (!WIFSTOPPED(status))
			continue;
		int sig = WSTOPSIG(status);
		if ((status >> 16) == 0 && sig != SIGTRAP && sig != SIGSTOP && sig >= 1 && sig <= 64)
			t->signals |= 1ull << (sig - 1);
		return 1;
	}
}

/* Seize and stop every thread of the process, including threads started
 * while this runs. */
static void attach_all(void)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", T.pid);
	for (int pass = 0; pass < ATTACH_PASSES; pass++) {
		DIR *d = opendir(path);
		if (d == NULL)
			die("list the threads of pid %d (%s): %s", T.pid, path, strerror(errno));
		int added = 0;
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			pid_t tid = (pid_t)atoi(e->d_name);
			if (tid <= 0 || attached(tid))
				continue;
			if (T.nthreads == MAX_THREADS) {
				closedir(d);
				die("attach to pid %d: more than %d threads", T.pid, MAX_THREADS);
			}
			if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) != 0) {
				if (errno == ESRCH)
					continue; /* exited meanwhile */
				closedir(d);
				die("attach to thread %d of pid %d (needs CAP_SYS_PTRACE): %s", tid, T.pid,
				    strerror(errno));
			}
			struct thread *t = &T.threads[T.nthreads];
			t->tid = tid;
			t->signals = 0;
			if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) != 0 || !wait_stopped(t)) {
				ptrace(PTRACE_DETACH, tid, NULL, NULL);
				continue;
			}
			T.nthreads++;
			added++;
		}
		closedir(d);
		if (added == 0 && pass > 0)
			return;
	}
	if (T.nthreads == 0)
		die("attach to pid %d: no thread could be stopped", T.pid);
}

static void mem_read(uint64_t addr, void *buf, size_t len)
{
	ssize_t n = pread(T.mem_fd, buf, len, (off_t)addr);
	if (n != (ssize_t)len)
		die("read %zu bytes at 0x%" PRIx64 " of pid %d: %s", len, addr, T.pid,
		    n < 0 ? strerror(errno) : "short read");
}

static void mem_write(uint64_t addr, const void *buf, size_t len)
{
	ssize_t n = pwrite(T.mem_fd, buf, len, (off_t)addr);
	if (n != (ssize_t)len)
		die("write %zu bytes at 0x%" PRIx64 " of pid %d: %s", len, addr, T.pid,
		    n < 0 ? strerror(errno) : "short write");
}

static void open_mem(int flags)
{
	char path[64];
	if (T.pid == 0)
		snprintf(path, sizeof path, "/proc/self/mem");
	else
		snprintf(path, sizeof path, "/proc/%d/mem", T.pid);
	T.mem_fd = open(path, flags | O_CLOEXEC);
	if (T.mem_fd < 0)
		die("open %s: %s", path, strerror(errno));
}

/* Finds the vDSO, copies it, and resolves the three functions. */
static void load_vdso(void)
{
	char path[64];
	if (T.pid == 0)
		snprintf(path, sizeof path, "/proc/self/maps");
	else
		snprintf(path, sizeof path, "/proc/%d/maps", T.pid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		die("open %s: %s", path, strerror(errno));
	char line[512];
	int found = 0;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strstr(line, "[vdso]") == NULL)
			continue;
		uint64_t start, end;
		if (sscanf(line, "%" SCNx64 "-%" SCNx64, &start, &end) == 2) {
			T.vdso_start = start;
			T.vdso_len = end - start;
			found = 1;
		}
		break;
	}
	fclose(f);
	if (!found)
		die("find the vDSO of pid %d: no [vdso] line in %s", T.pid, path);
	if (T.vdso_len > MAX_VDSO_LEN)
		die("read the vDSO of pid %d: %" PRIu64 " bytes is more than %d", T.pid, T.vdso_len,
		    MAX_VDSO_LEN);
	mem_read(T.vdso_start, T.vdso, T.vdso_len);
	for (int i = 0; i < SB_FN_COUNT; i++) {
		uint64_t off, size;
		T.fn_addr[i] = 0;
		if (!sb_vdso_function(T.vdso, T.vdso_len, FN_NAMES[i], &off, &size))
			continue;
		if ((size != 0 && size < SB_PATCH_LEN) || off + SB_ORIGINAL_LEN > T.vdso_len)
			die("patch %s of pid %d: the function is %" PRIu64 " bytes, shorter than the %d-byte jump",
			    FN_NAMES[i], T.pid, size, SB_PATCH_LEN);
		T.fn_addr[i] = T.vdso_start + off;
	}
	if (T.fn_addr[SB_FN_CLOCK_GETTIME] == 0)
		die("find __vdso_clock_gettime in the vDSO of pid %d", T.pid);
	T.syscall_addr = 0;
	for (uint64_t i = 0; i + 1 < T.vdso_len; i++)
		if (T.vdso[i] == 0x0f && T.vdso[i + 1] == 0x05) {
			T.syscall_addr = T.vdso_start + i;
			break;
		}
}

/* The blob a patched function jumps to, or 0 if its bytes are not ours. */
static uint64_t patched_blob(int fn, uint64_t *entry_out)
{
	const uint8_t *p = T.vdso + (T.fn_addr[fn] - T.vdso_start);
	if (p[0] != SB_PATCH_MOVABS_R11_0 || p[1] != SB_PATCH_MOVABS_R11_1 ||
	    p[10] != SB_PATCH_JMP_R11_0 || p[11] != SB_PATCH_JMP_R11_1 || p[12] != SB_PATCH_JMP_R11_2)
		return 0;
	uint64_t entry;
	memcpy(&entry, p + 2, sizeof entry);
	uint64_t blob = entry - (uint64_t)fn * SB_BLOB_ENTRY_STRIDE;
	uint64_t magic;
	if (pread(T.mem_fd, &magic, sizeof magic, (off_t)(blob + SB_BLOB_DATA_OFFSET)) != sizeof magic ||
	    magic != SB_BLOB_MAGIC)
		return 0;
	if (entry_out != NULL)
		*entry_out = entry;
	return blob;
}

static struct user_regs_struct get_regs(pid_t tid)
{
	struct user_regs_struct r;
	if (ptrace(PTRACE_GETREGS, tid, NULL, &r) != 0)
		die("read the registers of thread %d: %s", tid, strerror(errno));
	return r;
}

static void set_regs(pid_t tid, const struct user_regs_struct *r)
{
	if (ptrace(PTRACE_SETREGS, tid, NULL, (void *)r) != 0)
		die("set the registers of thread %d: %s", tid, strerror(errno));
}

static void single_step(struct thread *t)
{
	if (ptrace(PTRACE_SINGLESTEP, t->tid, NULL, NULL) != 0)
		die("single-step thread %d: %s", t->tid, strerror(errno));
	if (!wait_stopped(t))
		die("single-step thread %d: it exited", t->tid);
}

/*
 * Make the target run one system call on its first thread. orig_rax = -1 so
 * that the kernel does not treat the borrowed registers as an interrupted
 * call to restart; the saved registers, put back afterwards, restart
 * whatever call the thread was in.
 */
static long remote_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	if (T.syscall_addr == 0)
		die("find a syscall instruction in the vDSO of pid %d", T.pid);
	struct thread *t = &T.threads[0];
	struct user_regs_struct saved = get_regs(t->tid);
	struct user_regs_struct r = saved;
	r.rax = (unsigned long long)nr;
	r.rdi = (unsigned long long)a1;
	r.rsi = (unsigned long long)a2;
	r.rdx = (unsigned long long)a3;
	r.r10 = (unsigned long long)a4;
	r.r8 = (unsigned long long)a5;
	r.r9 = (unsigned long long)a6;
	r.rip = T.syscall_addr;
	r.orig_rax = (unsigned long long)-1;
	set_regs(t->tid, &r);
	/* Each signal arriving first costs a step that does not run the call. */
	for (int i = 0; i < 64; i++) {
		single_step(t);
		r = get_regs(t->tid);
		if (r.rip == T.syscall_addr + 2)
			break;
		/* Stopped for a signal before the instruction ran: step again. */
	}
	set_regs(t->tid, &saved);
	if (r.rip != T.syscall_addr + 2)
		die("run system call %ld in pid %d: the thread did not reach it", nr, T.pid);
	return (long)r.rax;
}

static int is_error(long r)
{
	return r < 0 && r > -4096;
}

/* Step every thread out of [lo, hi) (the bytes about to change). */
static void step_out_of(uint64_t lo, uint64_t hi)
{
	for (int i = 0; i < T.nthreads; i++) {
		struct thread *t = &T.threads[i];
		for (int step = 0;; step++) {
			struct user_regs_struct r = get_regs(t->tid);
			if (r.rip < lo || r.rip >= hi)
				break;
			if (step == MAX_STEPS_OUT)
				die("move thread %d out of 0x%" PRIx64 "..0x%" PRIx64, t->tid, lo, hi);
			single_step(t);
		}
	}
}

static int any_thread_in(uint64_t lo, uint64_t hi)
{
	for (int i = 0; i < T.nthreads; i++) {
		struct user_regs_struct r = get_regs(T.threads[i].tid);
		if (r.rip >= lo && r.rip < hi)
			return 1;
	}
	return 0;
}

static void print_fns(void)
{
	for (int i = 0; i < SB_FN_COUNT; i++)
		if (T.fn_addr[i] != 0)
			printf(" %s=0x%" PRIx64, FN_KEYS[i], T.fn_addr[i]);
}

static int cmd_patch(const char *state_path)
{
	size_t path_len = strlen(state_path);
	if (path_len == 0 || path_len >= SB_STATE_PATH_MAX || state_path[0] != '/') {
		fprintf(stderr, "clockinject: the state path must be absolute and shorter than %d bytes\n",
			SB_STATE_PATH_MAX);
		return EXIT_USAGE;
	}
	struct stat st;
	if (stat(state_path, &st) != 0)
		die("stat the state file %s: %s", state_path, strerror(errno));
	/* Mapping past the end of a short file would SIGBUS the target. */
	if (st.st_size < SB_CLOCK_FILE_SIZE)
		die("map the state file %s: it is %lld bytes, not %d (publish a state with clockctl first)",
		    state_path, (long long)st.st_size, SB_CLOCK_FILE_SIZE);
	if (sizeof(SB_BLOB_BYTES) > SB_BLOB_SIZE)
		die("fit the blob: %zu bytes", sizeof(SB_BLOB_BYTES));

	open_mem(O_RDWR);
	attach_all();
	load_vdso();
	uint64_t existing = patched_blob(SB_FN_CLOCK_GETTIME, NULL);
	if (existing != 0) {
		detach_all();
		printf("already pid=%d blob=0x%" PRIx64, T.pid, existing);
		print_fns();
		printf("\n");
		return 0;
	}

	long blob = remote_syscall(SYS_mmap, 0, SB_BLOB_SIZE, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (is_error(blob))
		die("map the blob into pid %d: %s", T.pid, strerror((int)-blob));
	uint64_t data_addr = (uint64_t)blob + SB_BLOB_DATA_OFFSET;
	mem_write((uint64_t)blob, SB_BLOB_BYTES, sizeof(SB_BLOB_BYTES));

	struct sb_blob_data data;
	mem_read(data_addr, &data, sizeof data);
	if (data.magic != SB_BLOB_MAGIC)
		die("check the blob in pid %d: wrong magic", T.pid);
	memcpy(data.state_path, state_path, path_len + 1);
	mem_write(data_addr + offsetof(struct sb_blob_data, state_path), data.state_path, path_len + 1);

	long fd = remote_syscall(SYS_openat, AT_FDCWD, (long)(data_addr + offsetof(struct sb_blob_data, state_path)),
				 O_RDONLY | O_CLOEXEC, 0, 0, 0);
	if (is_error(fd))
		die("open %s in pid %d: %s", state_path, T.pid, strerror((int)-fd));
	long state = remote_syscall(SYS_mmap, 0, SB_CLOCK_FILE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	remote_syscall(SYS_close, fd, 0, 0, 0, 0, 0);
	if (is_error(state))
		die("map %s into pid %d: %s", state_path, T.pid, strerror((int)-state));
	data.state_addr = (uint64_t)state;
	for (int i = 0; i < SB_FN_COUNT; i++) {
		data.patched[i] = T.fn_addr[i];
		if (T.fn_addr[i] != 0)
			memcpy(data.original[i], T.vdso + (T.fn_addr[i] - T.vdso_start), SB_ORIGINAL_LEN);
	}
	mem_write(data_addr, &data, sizeof data);
	long r = remote_syscall(SYS_mprotect, blob, SB_BLOB_PAGE, PROT_READ | PROT_EXEC, 0, 0, 0);
	if (is_error(r))
		die("make the blob executable in pid %d: %s", T.pid, strerror((int)-r));

	for (int i = 0; i < SB_FN_COUNT; i++) {
		if (T.fn_addr[i] == 0)
			continue;
		step_out_of(T.fn_addr[i], T.fn_addr[i] + SB_PATCH_LEN);
		uint64_t entry = (uint64_t)blob + (uint64_t)i * SB_BLOB_ENTRY_STRIDE;
		uint8_t jump[SB_PATCH_LEN] = {SB_PATCH_MOVABS_R11_0, SB_PATCH_MOVABS_R11_1};
		memcpy(jump + 2, &entry, sizeof entry);
		jump[10] = SB_PATCH_JMP_R11_0;
		jump[11] = SB_PATCH_JMP_R11_1;
		jump[12] = SB_PATCH_JMP_R11_2;
		mem_write(T.fn_addr[i], jump, sizeof jump);
	}
	int threads = T.nthreads;
	detach_all();
	printf("patched pid=%d threads=%d blob=0x%lx state=0x%lx", T.pid, threads, blob, state);
	print_fns();
	printf("\n");
	return 0;
}

/* Monotonic drift (fake minus real) the state gives right now. */
static int64_t drift_now_ns(uint64_t state_addr)
{
	struct sb_clock_record rec;
	for (int i = 0; i < 1000; i++) {
		mem_read(state_addr, &rec, sizeof rec);
		uint32_t seq = rec.seq;
		if (seq & 1)
			continue;
		struct sb_clock_record again;
		mem_read(state_addr, &again, sizeof again);
		if (again.seq != seq)
			continue;
		if (rec.magic != SB_CLOCK_MAGIC || rec.version != SB_CLOCK_VERSION)
			return 0;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		return sb_clock_drift_ns(&rec, (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	}
	die("read a consistent clock state in pid %d", T.pid);
}

static int cmd_restore(int force)
{
	open_mem(O_RDWR);
	attach_all();
	load_vdso();
	uint64_t blob = 0;
	for (int i = 0; i < SB_FN_COUNT && blob == 0; i++)
		if (T.fn_addr[i] != 0)
			blob = patched_blob(i, NULL);
	if (blob == 0) {
		detach_all();
		printf("not-patched pid=%d\n", T.pid);
		return 0;
	}
	struct sb_blob_data data;
	mem_read(blob + SB_BLOB_DATA_OFFSET, &data, sizeof data);
	int64_t drift = data.state_addr != 0 ? drift_now_ns(data.state_addr) : 0;
	if (drift > 0 && !force) {
		detach_all();
		printf("kept pid=%d blob=0x%" PRIx64 " monotonic_ahead_ns=%" PRId64 "\n", T.pid, blob, drift);
		fprintf(stderr,
			"clockinject: kept the patch on pid %d: its monotonic clocks are %" PRId64
			" ns ahead, and restoring the vDSO would step them back\n",
			T.pid, drift);
		return EXIT_KEPT;
	}
	for (int i = 0; i < SB_FN_COUNT; i++) {
		if (data.patched[i] == 0 || data.patched[i] != T.fn_addr[i])
			continue;
		step_out_of(T.fn_addr[i], T.fn_addr[i] + SB_PATCH_LEN);
		mem_write(T.fn_addr[i], data.original[i], SB_ORIGINAL_LEN);
	}
	/* A thread stopped inside the blob (in its clock_gettime syscall, say)
	 * would fault on return if it were unmapped: leave it mapped then. */
	int unmapped = 0;
	if (!any_thread_in(blob, blob + SB_BLOB_SIZE)) {
		remote_syscall(SYS_munmap, (long)blob, SB_BLOB_SIZE, 0, 0, 0, 0);
		if (data.state_addr != 0)
			remote_syscall(SYS_munmap, (long)data.state_addr, SB_CLOCK_FILE_SIZE, 0, 0, 0, 0);
		unmapped = 1;
	}
	detach_all();
	printf("restored pid=%d blob=0x%" PRIx64 " unmapped=%s monotonic_ahead_ns=%" PRId64, T.pid,
	       blob, unmapped ? "yes" : "no", drift);
	print_fns();
	printf("\n");
	return 0;
}

static int cmd_show(void)
{
	open_mem(O_RDONLY);
	load_vdso();
	printf("pid=%d vdso=0x%" PRIx64, T.pid == 0 ? (int)getpid() : T.pid, T.vdso_start);
	for (int i = 0; i < SB_FN_COUNT; i++) {
		if (T.fn_addr[i] == 0)
			continue;
		const uint8_t *p = T.vdso + (T.fn_addr[i] - T.vdso_start);
		printf(" %s=", FN_KEYS[i]);
		for (int b = 0; b < SB_ORIGINAL_LEN; b++)
			printf("%02x", p[b]);
	}
	uint64_t blob = patched_blob(SB_FN_CLOCK_GETTIME, NULL);
	if (blob != 0)
		printf(" patched=0x%" PRIx64 "\n", blob);
	else
		printf(" patched=no\n");
	return 0;
}

static int usage(void)
{
	fputs("usage: clockinject patch PID STATE_PATH\n"
	      "       clockinject restore PID [--force]\n"
	      "       clockinject show PID|self\n",
	      stderr);
	return EXIT_USAGE;
}

static int parse_pid(const char *s, pid_t *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0 || v > 4194304)
		return 0;
	*out = (pid_t)v;
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	const char *cmd = argv[1];
	if (strcmp(cmd, "show") == 0 && argc == 3) {
		if (strcmp(argv[2], "self") == 0)
			T.pid = 0;
		else if (!parse_pid(argv[2], &T.pid))
			return usage();
		return cmd_show();
	}
	if (!parse_pid(argv[2], &T.pid))
		return usage();
	if (T.pid == getpid()) {
		fputs("clockinject: refusing to patch itself\n", stderr);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "patch") == 0 && argc == 4)
		return cmd_patch(argv[3]);
	if (strcmp(cmd, "restore") == 0 && (argc == 3 || (argc == 4 && strcmp(argv[3], "--force") == 0)))
		return cmd_restore(argc == 4);
	return usage();
}
