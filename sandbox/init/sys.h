/* sys.h - what reelbox-init (init.c, its only includer) takes from the system.
 *
 * On x86-64 (REELBOX_INIT_NOLIBC, set by CMakeLists.txt) nothing from a libc: the
 * program's entry point and the handful of system calls, string functions and error
 * texts init.c uses are defined here, under the names and with the behaviour of the
 * libc functions they stand in for (-1 and errno on failure), and the binary is linked
 * with -nostdlib. A static glibc init was 690 KB, and its start-up (TLS, IRELATIVE
 * relocations, CPUID probes) cost every sandbox more than the init's own work. Other
 * architectures build init.c against the libc, as before.
 *
 * There is one thread and no signal handler (the init only ignores signals or restores
 * their defaults), so a plain errno variable and rt_sigaction without a restorer do.
 */
#ifndef REELBOX_INIT_SYS_H
#define REELBOX_INIT_SYS_H

#ifndef REELBOX_INIT_NOLIBC

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* fn(arg) in a forked child, which must end in execve or _exit (see the x86-64 one). */
static inline pid_t spawn(int (*fn)(void *), void *arg, int share_memory)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

#else /* REELBOX_INIT_NOLIBC */

#ifndef __x86_64__
#error "the libc-free reelbox-init is x86-64's only: build init.c with the libc elsewhere"
#endif

#include <stddef.h>
#include <asm/errno.h>
#include <asm/unistd.h>
#include <linux/fcntl.h>
#include <linux/poll.h>
#include <linux/prctl.h>
#include <linux/sched.h>
#include <linux/wait.h>

typedef long ssize_t;
typedef int pid_t;
typedef unsigned int uid_t;
typedef unsigned int gid_t;

/* The signals init.c names, as x86-64 numbers them, and glibc's NSIG: 1 to 64. */
#define SIGKILL 9
#define SIGCHLD 17
#define SIGSTOP 19
#define NSIG	65
#define SIG_DFL ((void (*)(int))0)
#define SIG_IGN ((void (*)(int))1)

#define WTERMSIG(s)    ((s)&0x7f)
#define WEXITSTATUS(s) (((s) >> 8) & 0xff)
#define WIFEXITED(s)   (WTERMSIG(s) == 0)

static int errno;

static inline long sys_call(long n, long a, long b, long c, long d, long e)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	long r;

	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
			 : "rcx", "r11", "memory");
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

#define SYS(n, a, b, c, d, e) sys_call(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e))

__attribute__((noreturn)) static inline void _exit(int code)
{
	for (;;)
		SYS(__NR_exit_group, code, 0, 0, 0, 0);
}

static inline ssize_t read(int fd, void *buf, size_t n)
{
	return SYS(__NR_read, fd, buf, n, 0, 0);
}

static inline ssize_t write(int fd, const void *buf, size_t n)
{
	return SYS(__NR_write, fd, buf, n, 0, 0);
}

static inline int open(const char *path, int flags)
{
	return (int)SYS(__NR_openat, AT_FDCWD, path, flags, 0, 0);
}

static inline int close(int fd)
{
	return (int)SYS(__NR_close, fd, 0, 0, 0, 0);
}

static inline int close_range(unsigned int first, unsigned int last, int flags)
{
	return (int)SYS(__NR_close_range, first, last, flags, 0, 0);
}

static inline int dup2(int from, int to)
{
	return (int)SYS(__NR_dup2, from, to, 0, 0, 0);
}

static inline int fcntl(int fd, int cmd, long arg)
{
	return (int)SYS(__NR_fcntl, fd, cmd, arg, 0, 0);
}

static inline int pipe2(int fds[2], int flags)
{
	return (int)SYS(__NR_pipe2, fds, flags, 0, 0, 0);
}

static inline int poll(struct pollfd *fds, unsigned long n, int timeout_ms)
{
	return (int)SYS(__NR_poll, fds, n, timeout_ms, 0, 0);
}

static inline int prctl(int option, unsigned long a, unsigned long b, unsigned long c,
			unsigned long d)
{
	return (int)SYS(__NR_prctl, option, a, b, c, d);
}

static inline int setgroups(size_t n, const gid_t *groups)
{
	return (int)SYS(__NR_setgroups, n, groups, 0, 0, 0);
}

static inline int setgid(gid_t gid)
{
	return (int)SYS(__NR_setgid, gid, 0, 0, 0, 0);
}

static inline int setuid(uid_t uid)
{
	return (int)SYS(__NR_setuid, uid, 0, 0, 0, 0);
}

static inline uid_t getuid(void)
{
	return (uid_t)SYS(__NR_getuid, 0, 0, 0, 0, 0);
}

static inline pid_t getpid(void)
{
	return (pid_t)SYS(__NR_getpid, 0, 0, 0, 0, 0);
}

/* The raw clone behind spawn(): the child starts on stack_top with fn(arg) and exits
 * with what it returns; the parent gets the child's pid, or -errno. */
long init_clone(unsigned long flags, void *stack_top, int (*fn)(void *), void *arg);

#define SYS_STR_(x) #x
#define SYS_STR(x)  SYS_STR_(x)
__asm__(".text\n"
	".type init_clone, @function\n"
	"init_clone:\n"
	"	and $-16, %rsi\n"
	"	sub $16, %rsi\n"
	"	mov %rdx, (%rsi)\n" /* fn and arg, for the child to pop */
	"	mov %rcx, 8(%rsi)\n"
	"	xor %edx, %edx\n" /* no parent_tid, child_tid or tls */
	"	xor %r10d, %r10d\n"
	"	xor %r8d, %r8d\n"
	"	mov $" SYS_STR(__NR_clone) ", %eax\n"
					   "	syscall\n"
					   "	test %rax, %rax\n"
					   "	jnz 1f\n"
					   "	xor %ebp, %ebp\n"
					   "	pop %rax\n"
					   "	pop %rdi\n"
					   "	call *%rax\n"
					   "	mov %eax, %edi\n"
					   "	mov $" SYS_STR(__NR_exit_group) ", %eax\n"
										"	syscall\n"
										"	hlt\n"
										"1:	ret\n");

/* Runs fn(arg) in a child process that must end in execve or _exit; returns its pid. The
 * child runs on a stack of its own, never on this one's frames. With share_memory, a
 * vfork: the child uses this process's memory, this process waiting until the child's
 * exec or exit, so nothing is copied. It then writes only its stack, errno and strerror's
 * buffer (which this process reads only after a failed call of its own has set them),
 * and it has no signal handler that could run; its ids, descriptors and signal
 * dispositions are still its own, but set*id() would change the shared memory's
 * dumpability: leave those to an unshared child. Without, a plain fork as glibc's. */
static inline pid_t spawn(int (*fn)(void *), void *arg, int share_memory)
{
	static char stack[16384] __attribute__((aligned(16)));
	unsigned long flags = SIGCHLD | (share_memory ? CLONE_VM | CLONE_VFORK : 0);
	long r = init_clone(flags, stack + sizeof(stack), fn, arg);

	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return (pid_t)r;
}

static inline int execve(const char *path, char *const argv[], char *const envp[])
{
	return (int)SYS(__NR_execve, path, argv, envp, 0, 0);
}

static inline pid_t waitpid(pid_t pid, int *status, int options)
{
	return (pid_t)SYS(__NR_wait4, pid, status, options, 0, 0);
}

static inline int kill(pid_t pid, int sig)
{
	return (int)SYS(__NR_kill, pid, sig, 0, 0, 0);
}

/* SIG_IGN or SIG_DFL only: no handler ever runs, so no sa_restorer (x86-64's kernel
 * needs one only to return from a handler). 0, or -1 for KILL, STOP and past 64. */
static inline int signal(int sig, void (*disposition)(int))
{
	struct {
		void (*handler)(int);
		unsigned long flags;
		void (*restorer)(void);
		unsigned long mask;
	} act = {disposition, 0, NULL, 0};

	return (int)SYS(__NR_rt_sigaction, sig, &act, NULL, sizeof(act.mask), 0);
}

static inline size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

static inline int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

/* glibc's texts for the errors the init's calls can meet (exec's above all). */
static inline const char *strerror(int e)
{
	static const char *const text[] = {
	    [EPERM] = "Operation not permitted",
	    [ENOENT] = "No such file or directory",
	    [EINTR] = "Interrupted system call",
	    [EIO] = "Input/output error",
	    [E2BIG] = "Argument list too long",
	    [ENOEXEC] = "Exec format error",
	    [EBADF] = "Bad file descriptor",
	    [EAGAIN] = "Resource temporarily unavailable",
	    [ENOMEM] = "Cannot allocate memory",
	    [EACCES] = "Permission denied",
	    [EFAULT] = "Bad address",
	    [ENOTDIR] = "Not a directory",
	    [EISDIR] = "Is a directory",
	    [EINVAL] = "Invalid argument",
	    [ENFILE] = "Too many open files in system",
	    [EMFILE] = "Too many open files",
	    [ETXTBSY] = "Text file busy",
	    [ENAMETOOLONG] = "File name too long",
	    [ENOSYS] = "Function not implemented",
	    [ELOOP] = "Too many levels of symbolic links",
	    [ELIBBAD] = "Accessing a corrupted shared library",
	};
	static char unknown[32]; /* bss: a .data section would cost the exec a page fault */
	const char *prefix = "Unknown error ";
	char digits[12], *p = unknown;
	unsigned int v = e < 0 ? 0U - (unsigned int)e : (unsigned int)e;
	int n = 0;

	if (e > 0 && (size_t)e < sizeof(text) / sizeof(text[0]) && text[e])
		return text[e];
	while (*prefix)
		*p++ = *prefix++;
	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	if (e < 0)
		*p++ = '-';
	while (n > 0)
		*p++ = digits[--n];
	*p = '\0';
	return unknown;
}

/* The compiler may call these for a struct or array it copies or clears. Not left to
 * C loops, which it could turn back into calls to themselves. */
void *memset(void *dst, int c, size_t n)
{
	void *d = dst;

	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return dst;
}

void *memcpy(void *dst, const void *src, size_t n)
{
	void *d = dst;

	__asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
	return dst;
}

int main(int argc, char **argv, char **envp);

/* The entry point: the kernel leaves argc, then argv's pointers and a NULL, then
 * envp's, at the stack pointer (16-byte aligned). */
__attribute__((used, noreturn)) static void init_start(long argc, char **argv)
{
	_exit(main((int)argc, argv, argv + argc + 1));
}

__asm__(".text\n"
	".global _start\n"
	".type _start, @function\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	mov (%rsp), %rdi\n"
	"	lea 8(%rsp), %rsi\n"
	"	and $-16, %rsp\n"
	"	call init_start\n"
	"	hlt\n");

#endif /* REELBOX_INIT_NOLIBC */
#endif /* REELBOX_INIT_SYS_H */
