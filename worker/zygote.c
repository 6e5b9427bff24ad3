/* zygote.c - the python3 zygote behind the warm pool (sandbox.h, "zygotes").
 *
 * `reelbox __zygote PYTHON` (run as "python3 __zygote PYTHON"; started by zygote_start with its
 * socket on fd 3, the runtime's base environment and nothing else of the worker's) loads the
 * interpreter's shared library (libpython3.N, the one PYTHON is), starts it as PYTHON would start,
 * runs the loader's imports (numpy, Pillow) once, says it is ready, and then only clones sandboxes
 * (sandbox_zygote_serve). Each sandbox's command is member(): the interpreter that was warmed here,
 * in the new sandbox, running the pool's loader (pool.c), which waits for the job's script on stdin
 * as an exec'd loader does. So a member costs a clone and a fork instead of an interpreter start
 * and ~0.15 s of imports.
 *
 * What a forked interpreter would otherwise share with its siblings, put right in
 * member() before the loader runs: Python's fork hooks (the random module reseeds) and
 * numpy's global random state (new from the kernel). The signal dispositions are the
 * interpreter's own from its start (proc.c leaves them to a zygote's command).
 */
#define _GNU_SOURCE
#include "zygote.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wchar.h>

#include "loader.h"

#define ZYGOTE_FD     3
#define READY_WAIT_MS 30000

static const char *zygote_program = "/proc/self/exe";

/* ---- the worker's side --------------------------------------------------------------- */

/* The interpreter starts on the host, as root: a variable that makes it read files
 * (PYTHONPATH, PYTHONSTARTUP, PYTHONHOME, PYTHONUSERBASE, ...) would have it read the
 * host's, where a cold start reads the sandbox's. Only these change nothing of the
 * kind; a runtime that sets any other PYTHON* variable gets no zygote. */
static const char *const python_vars_ok[] = {
    "PYTHONDONTWRITEBYTECODE=", "PYTHONUNBUFFERED=", "PYTHONIOENCODING=",   "PYTHONUTF8=",
    "PYTHONHASHSEED=",		"PYTHONWARNINGS=",   "PYTHONFAULTHANDLER=", NULL};

static const char *python_var_refused(char *const *envp)
{
	for (; envp && *envp; envp++) {
		int ok = 0;
		if (strncmp(*envp, "PYTHON", 6))
			continue;
		for (const char *const *v = python_vars_ok; *v; v++)
			ok |= !strncmp(*envp, *v, strlen(*v));
		if (!ok)
			return *envp;
	}
	return NULL;
}

/* The zygote's process: a fresh exec with its socket on ZYGOTE_FD. Async-signal-safe
 * only (the worker may have threads); nothing of the worker's memory, its secrets
 * included, reaches the zygote or any sandbox it clones. */
__attribute__((noreturn)) static void exec_zygote(const char *python, char *const *envp, int sock,
						  pid_t parent)
{
	/* "python3": what a member's own /proc/self/cmdline begins with (reelbox's name is
	 * not the job's business) */
	char *argv[] = {"python3", "__zygote", (char *)python, NULL};
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != parent)
		_exit(127);
	if (devnull < 0 || dup2(sock, ZYGOTE_FD) < 0 || dup2(devnull, 0) < 0 ||
	    dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0)
		_exit(127);
	/* Nothing else of the worker's: its Redis connections are not close-on-exec. */
	if (close_range(ZYGOTE_FD + 1, ~0U, 0) < 0)
		_exit(127);
	execve(zygote_program, argv, envp);
	_exit(127);
}

/* The zygote's first message on sock: "R" once warm (the handle), or why it cannot be. */
static struct sandbox_zygote *wait_ready(int sock, char *err, size_t errlen)
{
	struct pollfd p = {.fd = sock, .events = POLLIN};
	struct sandbox_zygote *z;
	char msg[256];
	ssize_t n;
	int r;

	do
		r = poll(&p, 1, READY_WAIT_MS);
	while (r < 0 && errno == EINTR);
	n = r > 0 ? recv(sock, msg, sizeof(msg) - 1, 0) : -1;
	if (n == 1 && msg[0] == 'R') {
		if (!(z = sandbox_zygote_new(sock)))
			snprintf(err, errlen, "out of memory");
		return z;
	}
	if (n > 1) {
		msg[n] = '\0';
		snprintf(err, errlen, "%s", msg);
	} else {
		snprintf(err, errlen, "the zygote %s",
			 r == 0 ? "was not ready within 30 s" : "ended before it was ready");
	}
	return NULL;
}

struct sandbox_zygote *zygote_start(const char *python, char *const *envp, pid_t *pid_out,
				    char *err, size_t errlen)
{
	struct sandbox_zygote *z;
	const char *refused;
	pid_t parent = getpid(), pid;
	int sv[2];

	*pid_out = -1;
#if defined(__SANITIZE_ADDRESS__)
	/* Python forked from an AddressSanitizer process would carry its runtime into
	 * every job (and its leak report into every exit status). */
	snprintf(err, errlen, "no zygote in an AddressSanitizer build");
	return NULL;
#endif
	if ((refused = python_var_refused(envp))) {
		snprintf(err, errlen,
			 "the runtime sets %.*s, which a zygote would resolve on the host",
			 (int)strcspn(refused, "="), refused);
		return NULL;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, errlen, "cannot create the zygote's socket: %s", strerror(errno));
		return NULL;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "cannot start the zygote: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return NULL;
	}
	if (pid == 0)
		exec_zygote(python, envp, sv[1], parent);
	close(sv[1]);
	if ((z = wait_ready(sv[0], err, errlen))) {
		*pid_out = pid;
		return z;
	}
	close(sv[0]);
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return NULL;
}

/* ---- the zygote's side --------------------------------------------------------------- */

static struct {
	void (*set_program_name)(const wchar_t *);
	void (*initialize_ex)(int);
	int (*run_simple)(const char *, void *);
	void (*after_fork_child)(void);
	int (*finalize_ex)(void);
	void *(*compile)(const char *, const char *, int);
	void *(*eval_code)(void *, void *, void *);
	void *(*add_module)(const char *);
	void *(*module_dict)(void *);
	void (*err_print)(void);
	void *(*obj_malloc)(size_t);
	void (*obj_free)(void *);
	int *no_user_site; /* Py_NoUserSiteDirectory */
	/* compiled once in the zygote: a member only runs them */
	void *prelude, *loader, *globals;
} py;

#define PY_FILE_INPUT 257 /* Py_file_input */

/* Put right what a fork shares and a fresh interpreter would not have (see the top). */
static const char member_prelude[] =
    "import sys as _sys\n"
    "if 'numpy' in _sys.modules:\n"
    "    # numpy's global generator, from the kernel: its state set directly (seed()\n"
    "    # would touch three times the zygote's pages, each a copy in this process)\n"
    "    import os as _os\n"
    "    _np = _sys.modules['numpy']\n"
    "    _np.random.mtrand._rand._bit_generator.state = {'bit_generator': 'MT19937',\n"
    "        'state': {'key': _np.frombuffer(_os.urandom(2496), dtype=_np.uint32), 'pos': 624}}\n"
    "    del _np, _os\n"
    "del _sys\n"
    "def _reelbox_touch(take):\n"
    "    # The loader's take (pool.c) once before the job, on a message like a job's: a\n"
    "    # job's variables before the base environment, and a render script's first lines\n"
    "    # (imports, the environment read, a small frame made and dropped); then undone.\n"
    "    # The pages that writes (the compiler's, the allocators' next blocks, interned\n"
    "    # names, the environment's) are this process's copies by then, not copied from\n"
    "    # the zygote's after the job has started (each copy a page fault: 0.05-0.1 ms\n"
    "    # here). A longer script (defs, a class, loops) saves a few more faults but costs\n"
    "    # every member ~5 ms of CPU and ~1 MiB more.\n"
    "    import os, sys, linecache\n"
    "    # the environment as this process's own objects: the job's take frees them, not\n"
    "    # the zygote's (a free writes into the page that held the object)\n"
    "    env = {bytes(bytearray(k)): bytes(bytearray(v)) for k, v in os.environb.items()}\n"
    "    main, argv, path0 = sys.modules['__main__'], list(sys.argv), sys.path[0]\n"
    "    jenv = [(b'WIDTH', b'64'), (b'HEIGHT', b'48'), (b'FPS', b'30'), (b'FRAMES', b'150'),\n"
    "            (b'PIX_FMT', b'rgb24')] + list(env.items())\n"
    "    # as read: 64 KiB chunks joined (malloc's heap pages), then the take\n"
    "    msg = b''.join([bytes(65536), b'reelbox-touch.py\\0' +\n"
    "                    b'\\0'.join(k + b'=' + v for k, v in jenv) + b'\\0\\0' + "
    "_reelbox_rehearsal])\n"
    "    code, m = take(msg[65536:])\n"
    "    exec(code, m.__dict__)\n"
    "    linecache.cache.pop('/job/reelbox-touch.py', None)\n"
    "    os.environ.clear()\n"
    "    os.environb.update(env)\n"
    "    sys.modules['__main__'] = main\n"
    "    sys.argv[:] = argv\n"
    "    sys.path[0] = path0\n"
    "# The rehearsal's script: a render script's first lines (it writes nothing)\n"
    "_reelbox_rehearsal = rb'''import os, sys, time, math\n"
    "import numpy as np\n"
    "W = int(os.environ.get(\"WIDTH\", \"64\"))\n"
    "H = int(os.environ[\"HEIGHT\"]) if \"HEIGHT\" in os.environ else 48\n"
    "FPS = float(os.environ.get(\"FPS\", \"30\"))\n"
    "FRAMES = int(os.environ.get(\"FRAMES\", str(round(FPS * 5))))\n"
    "PIX_FMT = os.environ.get(\"PIX_FMT\", \"rgb24\")\n"
    "t0 = time.time_ns()\n"
    "if __name__ == \"__main__\":\n"
    "    x = np.full((H, W, 3), 7, np.uint8).tobytes()\n"
    "    s = \"%d %s %.3f\" % (len(x), PIX_FMT, math.sqrt(FPS))\n"
    "'''\n"
    "import gc as _gc, os as _os, sys as _sys, atexit as _ax, signal as _sg\n"
    "import traceback as _tbm\n"
    "def _reelbox_exit(status, sigint, box, _collect=_gc.collect, _exit=_os._exit,\n"
    "                  _kill=_os.kill, _getpid=_os.getpid, _sys=_sys, _atexit=_ax._run_exitfuncs,\n"
    "                  _signal=_sg.signal, _SIGINT=_sg.SIGINT, _DFL=_sg.SIG_DFL,\n"
    "                  _print_exc=_tbm.print_exc, _print=print, _isinstance=isinstance,\n"
    "                  _getattr=getattr, _int=int, _exc=Exception, _base=BaseException):\n"
    "    # A cold exit's steps (threads joined, atexit, the script's module released so\n"
    "    # its objects are finalized with their globals intact, cycles collected, stdio\n"
    "    # flushed) without the module teardown: that would touch every object the\n"
    "    # zygote made, a copy of each page. Bound at definition: a script may have\n"
    "    # replaced gc.collect or os._exit.\n"
    "    if sigint or status is None:\n"
    "        code = 0\n"
    "    elif _isinstance(status, _int):\n"
    "        code = status & 0xff\n"
    "    else:\n"
    "        try:\n"
    "            _print(status, file=_sys.stderr)\n"
    "        except _exc:\n"
    "            pass\n"
    "        code = 1\n"
    "    try:\n"
    "        t = _sys.modules.get('threading')\n"
    "        if t is not None:\n"
    "            t._shutdown()\n"
    "    except _base:\n"
    "        pass\n"
    "    try:\n"
    "        _atexit()\n"
    "    except _base:\n"
    "        pass\n"
    "    main = box.pop()\n"
    "    if _sys.modules.get('__main__') is main:\n"
    "        del _sys.modules['__main__']\n"
    "    del main\n"
    "    _collect()\n"
    "    for name in ('stdout', 'stderr'):\n"
    "        f = _getattr(_sys, name, None)\n"
    "        if f is None or _getattr(f, 'closed', False):\n"
    "            continue\n"
    "        try:\n"
    "            f.flush()\n"
    "        except _exc:\n"
    "            code = 120\n"
    "            try:\n"
    "                _sys.__stderr__.write('Exception ignored on flushing sys.%s:\\n' % name)\n"
    "                _print_exc(file=_sys.__stderr__)\n"
    "            except _exc:\n"
    "                pass\n"
    "    if sigint:\n"
    "        _signal(_SIGINT, _DFL)\n"
    "        _kill(_getpid(), _SIGINT)\n"
    "    _exit(code)\n";

/* The next blocks of each allocator's size classes, this process's own before the job:
 * a block handed out writes its page (the free lists' links, the block itself), and a
 * page the zygote last wrote is copied on that write. A few blocks of each class are
 * taken and given back in reverse, so the next ones taken (the rehearsal's, the job's)
 * come from pages copied here. Python's small-object allocator: classes of 16 bytes up
 * to 512; malloc: the sizes the compiler, the parser and setenv ask for. */
static void warm_allocators(void)
{
	static const size_t sizes[] = {24,  40,	  56,	72,   100,  136,   200,	 264,
				       520, 1040, 2064, 4100, 8200, 16400, 33000};
	void *volatile blocks[8]; /* volatile: the calls stay */

	for (size_t size = 16; size <= 512; size += 16) {
		for (int i = 0; i < 8; i++)
			blocks[i] = py.obj_malloc(size);
		for (int i = 7; i >= 0; i--)
			py.obj_free(blocks[i]);
	}
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		for (int i = 0; i < 4; i++)
			blocks[i] = malloc(sizes[k]);
		for (int i = 3; i >= 0; i--)
			free(blocks[i]);
	}
}

/* pid 2 of a new sandbox (sandbox_zygote_serve): the job's interpreter. */
__attribute__((noreturn)) static void member(void *opaque)
{
	int r;

	(void)opaque;
	prctl(PR_SET_NAME, "python3", 0, 0, 0); /* the name a cold start's exec gives */
	py.after_fork_child();
	warm_allocators();
	if (!py.eval_code(py.prelude, py.globals, py.globals)) {
		py.err_print();
		_exit(1);
	}
	/* The loader ends the process itself (_reelbox_exit); a SystemExit that escapes it
	 * (a syntax error's) is python3's to handle: PyErr_Print exits with its status. */
	r = py.eval_code(py.loader, py.globals, py.globals) ? 0 : 1;
	if (r)
		py.err_print();
	if (py.finalize_ex() < 0)
		_exit(120); /* as python3 does when flushing stdout fails at exit */
	_exit(r);
}

/* "python3.11" -> "libpython3.11.so.1.0": the library the interpreter is built from. */
static int library_of(const char *python, char *so, size_t len, char *why, size_t whylen)
{
	char real[PATH_MAX];
	const char *base;
	unsigned maj, min;
	char tail;

	if (!realpath(python, real)) {
		snprintf(why, whylen, "%.200s: %s", python, strerror(errno));
		return -1;
	}
	base = strrchr(real, '/') ? strrchr(real, '/') + 1 : real;
	if (sscanf(base, "python%u.%u%c", &maj, &min, &tail) != 2 || maj != 3) {
		snprintf(why, whylen, "%.200s is not a python3.N interpreter", real);
		return -1;
	}
	snprintf(so, len, "libpython%u.%u.so.1.0", maj, min);
	return 0;
}

static int load_python(const char *so, char *why, size_t whylen)
{
	/* GLOBAL: extension modules (numpy's) resolve the interpreter's symbols in it. */
	void *h = dlopen(so, RTLD_NOW | RTLD_GLOBAL);

	if (!h) {
		snprintf(why, whylen, "cannot load %s: %s", so, dlerror());
		return -1;
	}
	py.set_program_name = (void (*)(const wchar_t *))dlsym(h, "Py_SetProgramName");
	py.initialize_ex = (void (*)(int))dlsym(h, "Py_InitializeEx");
	py.run_simple = (int (*)(const char *, void *))dlsym(h, "PyRun_SimpleStringFlags");
	py.after_fork_child = (void (*)(void))dlsym(h, "PyOS_AfterFork_Child");
	py.finalize_ex = (int (*)(void))dlsym(h, "Py_FinalizeEx");
	py.compile = (void *(*)(const char *, const char *, int))dlsym(h, "Py_CompileString");
	py.eval_code = (void *(*)(void *, void *, void *))dlsym(h, "PyEval_EvalCode");
	py.add_module = (void *(*)(const char *))dlsym(h, "PyImport_AddModule");
	py.module_dict = (void *(*)(void *))dlsym(h, "PyModule_GetDict");
	py.err_print = (void (*)(void))dlsym(h, "PyErr_Print");
	py.obj_malloc = (void *(*)(size_t))dlsym(h, "PyObject_Malloc");
	py.obj_free = (void (*)(void *))dlsym(h, "PyObject_Free");
	py.no_user_site = (int *)dlsym(h, "Py_NoUserSiteDirectory");
	if (!py.set_program_name || !py.initialize_ex || !py.run_simple || !py.after_fork_child ||
	    !py.finalize_ex || !py.compile || !py.eval_code || !py.add_module || !py.module_dict ||
	    !py.err_print || !py.obj_malloc || !py.obj_free || !py.no_user_site) {
		snprintf(why, whylen, "%s lacks the embedding API", so);
		return -1;
	}
	return 0;
}

static void say(const char *msg)
{
	if (send(ZYGOTE_FD, msg, strlen(msg), MSG_NOSIGNAL) < 0) {
		/* the worker is gone: nobody to tell */
	}
}

/* The imports a member would make (the loader's list, and what the member's prelude and
 * exit use), once. */
static const char warm_code[] =
    "for _m in ('numpy', 'PIL.Image', 'PIL.ImageDraw', "
    "'PIL.ImageFont', 'linecache', 'traceback', 'types', "
    "'signal', 'atexit', 'importlib.util', 'tokenize'):\n"
    "    try:\n"
    "        __import__(_m)\n"
    "    except Exception:\n"
    "        pass\n"
    "del _m\n"
    "import gc, sys\n"
    "sys.path.insert(0, '')  # as `python3 -c` has it; the loader puts /job there\n"
    "gc.freeze()  # members' collections skip the zygote's objects\n";

int zygote_main(int argc, char **argv)
{
	static wchar_t program[PATH_MAX];
	char so[64], why[400];

	if (argc != 2 || fcntl(ZYGOTE_FD, F_GETFD) < 0) {
		fprintf(stderr, "reelbox: __zygote is started by the worker's pool, not by hand\n");
		return 2;
	}
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() == 1)
		return 1;
	if (library_of(argv[1], so, sizeof(so), why, sizeof(why)) < 0 ||
	    load_python(so, why, sizeof(why)) < 0 ||
	    mbstowcs(program, argv[1], PATH_MAX - 1) == (size_t)-1) {
		say(why);
		return 1;
	}
	/* No user site directory: it is under $HOME, which is the sandbox's scratch dir for a
	 * job and whatever that path is on the host for this root process (a .pth file there
	 * would run as root); a job's own /scratch/.local has nothing at a member's start
	 * either. And nothing relative to the worker's directory. */
	*py.no_user_site = 1;
	if (chdir("/") < 0) {
		say("the zygote cannot change to /");
		return 1;
	}
	/* As `python3` starts: the same program name (sys.executable, prefixes), the
	 * same environment (the runtime's base one, the exec gave us), its signal set-up. */
	py.set_program_name(program);
	py.initialize_ex(1);
	if (py.run_simple(warm_code, NULL) != 0) {
		say("the zygote's imports failed");
		return 1;
	}
	/* As PyRun_SimpleString runs them: in __main__'s namespace, as "<string>" */
	py.globals = py.module_dict(py.add_module("__main__"));
	py.prelude = py.compile(member_prelude, "<string>", PY_FILE_INPUT);
	py.loader = py.compile(pool_python_loader, "<string>", PY_FILE_INPUT);
	if (!py.globals || !py.prelude || !py.loader) {
		say("the zygote cannot compile the loader");
		return 1;
	}
	say("R");
	return sandbox_zygote_serve(ZYGOTE_FD, member, NULL) < 0 ? 1 : 0;
}
