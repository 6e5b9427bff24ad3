/* hints.c - a failed job's sentence, made to say why and what to do (see hints.h).
 *
 * Two kinds of sentence are improved. A limit ("wall-clock timeout of 2 s reached",
 * "memory limit of 128 MB reached") gains how far the job got and the flag that raises
 * the limit with this host's maximum. A script's own failure ("script exited with
 * status 1; see the log") gains the script's last error line and, when that line or the
 * log has a known shape, one hint: what the runtime can import, where the fonts are,
 * that a job carries only its script, which interpreter parsed it, that nothing can be
 * installed. The hints only read the log tail and this host's file system (fonts, the
 * interpreter's real name); they never run anything.
 */
#define _GNU_SOURCE
#include "hints.h"

#include <ctype.h>
#include <errno.h>
#include <dirent.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How much of the script's error line a sentence quotes. */
#define HINT_LINE_MAX 200

void hints_init(struct hints *h, const struct job *job, const struct config *cfg)
{
	const struct runtime *rt = config_find_runtime(cfg, job->runtime);

	memset(h, 0, sizeof(*h));
	if (rt)
		h->rt = *rt;
	snprintf(h->script_name, sizeof(h->script_name), "%s", job->script_name);
	h->limits = job->limits;
	h->maxima = cfg->maxima;
	h->frames_total = job->frames;
}

static int starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

__attribute__((format(printf, 3, 4))) static void append(char *buf, size_t len, const char *fmt,
							 ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

/* Cut s to at most max bytes without splitting a UTF-8 character; "..." marks a cut. */
static void cut_utf8(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return;
	n = max - 3;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	memcpy(s + n, "...", 4);
}

/* ---- the script's last error line ---- */

struct line {
	const char *p;
	size_t n;
};

/* Lines of the log, at most max, newest last. */
static size_t split_lines(const char *log, struct line *lines, size_t max)
{
	size_t k = 0;

	while (log && *log && k < max) {
		const char *nl = strchr(log, '\n');
		size_t n = nl ? (size_t)(nl - log) : strlen(log);

		lines[k++] = (struct line){log, n};
		log += n + (nl ? 1 : 0);
	}
	return k;
}

static int line_blank(const struct line *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (!isspace((unsigned char)l->p[i]))
			return 0;
	return 1;
}

static int line_indented(const struct line *l)
{
	return l->n && (l->p[0] == ' ' || l->p[0] == '\t');
}

static int line_starts(const struct line *l, const char *prefix)
{
	size_t n = strlen(prefix);

	return l->n >= n && !memcmp(l->p, prefix, n);
}

/* reelbox's own notes in the log, and the trailers node prints after an error. */
static int line_noise(const struct line *l)
{
	return line_blank(l) || line_starts(l, "reelbox: ") || line_starts(l, "Node.js v") ||
	       (l->n == 1 && l->p[0] == '}') || line_starts(l, "Require stack:") ||
	       line_starts(l, "stack traceback:");
}

/* "ValueError: ...", "subprocess.CalledProcessError: ...", "Error: Cannot find module". */
static int line_is_exception(const struct line *l)
{
	size_t i = 0;

	while (i < l->n && (isalnum((unsigned char)l->p[i]) || l->p[i] == '_' || l->p[i] == '.'))
		i++;
	if (i == 0 || (i < l->n && l->p[i] != ':'))
		return 0;
	for (size_t j = 0; j + 5 <= i; j++)
		if (!memcmp(l->p + j, "Error", 5) ||
		    (j + 9 <= i && !memcmp(l->p + j, "Exception", 9)))
			return 1;
	return 0;
}

static int line_mentions_error(const struct line *l)
{
	static const char *const words[] = {"rror",   "not found", "No such file", "denied",
					    "cannot", "can't",	   "failed",	   NULL};

	for (int w = 0; words[w]; w++)
		if (memmem(l->p, l->n, words[w], strlen(words[w])))
			return 1;
	return 0;
}

int hints_last_error_line(const char *log, char *out, size_t len)
{
	struct line lines[256];
	size_t n, i, tb = SIZE_MAX;
	const struct line *pick = NULL;

	out[0] = '\0';
	n = split_lines(log, lines, sizeof(lines) / sizeof(lines[0]));
	/* A Python traceback: its last unindented line names the exception. */
	for (i = 0; i < n; i++)
		if (line_starts(&lines[i], "Traceback (most recent call last):"))
			tb = i;
	for (i = n; tb != SIZE_MAX && i-- > tb + 1 && !pick;)
		if (!line_noise(&lines[i]) && !line_indented(&lines[i]))
			pick = &lines[i];
	for (i = n; i-- > 0 && !pick;)
		if (!line_noise(&lines[i]) && !line_indented(&lines[i]) &&
		    line_is_exception(&lines[i]))
			pick = &lines[i];
	for (i = n; i-- > 0 && !pick;)
		if (!line_noise(&lines[i]) && !line_indented(&lines[i]) &&
		    line_mentions_error(&lines[i]))
			pick = &lines[i];
	for (i = n; i-- > 0 && !pick;)
		if (!line_noise(&lines[i]) && !line_indented(&lines[i]))
			pick = &lines[i];
	for (i = n; i-- > 0 && !pick;)
		if (!line_noise(&lines[i]))
			pick = &lines[i];
	if (!pick || !len)
		return 0;
	snprintf(out, len, "%.*s", (int)pick->n, pick->p);
	/* One line of plain text: tabs to spaces, surrounding blanks gone. */
	for (char *p = out; *p; p++)
		if (*p == '\t')
			*p = ' ';
	for (i = strlen(out); i > 0 && out[i - 1] == ' '; i--)
		out[i - 1] = '\0';
	memmove(out, out + strspn(out, " "), strlen(out + strspn(out, " ")) + 1);
	return out[0] != '\0';
}

/* ---- facts of this host ---- */

/* "this host's python3 can import numpy, PIL" from the operator's list. */
static void packages_clause(const struct hints *h, char *buf, size_t len)
{
	const char *name = h->rt.name[0] ? h->rt.name : "runtime";
	int shell = !strcmp(h->rt.name, "sh");

	if (!h->rt.n_packages) {
		snprintf(buf, len,
			 "the operator lists no packages for %s (`reelbox runtimes` shows what it "
			 "has)",
			 name);
		return;
	}
	snprintf(buf, len, "this host's %s %s ", name, shell ? "has the commands" : "can import");
	for (int i = 0; i < h->rt.n_packages; i++)
		append(buf, len, "%s%s", i ? ", " : "", h->rt.packages[i]);
	append(buf, len, " (`reelbox runtimes` lists them)");
}

/* The interpreter's version from its real file name (/usr/bin/python3 -> python3.11):
 * no process is started for it. "" when the name carries none. */
static void interpreter_version(const char *path, char *out, size_t len)
{
	char *real = realpath(path, NULL);
	const char *base;

	out[0] = '\0';
	if (!real)
		return;
	base = strrchr(real, '/') ? strrchr(real, '/') + 1 : real;
	if (starts_with(base, "python") && isdigit((unsigned char)base[6]) && strchr(base, '.'))
		snprintf(out, len, "Python %s", base + 6);
	else if (starts_with(base, "lua") && isdigit((unsigned char)base[3]))
		snprintf(out, len, "Lua %s", base + 3);
	free(real);
}

static int is_font_name(const char *n)
{
	const char *dot = strrchr(n, '.');

	return dot &&
	       (!strcasecmp(dot, ".ttf") || !strcasecmp(dot, ".otf") || !strcasecmp(dot, ".ttc"));
}

/* Plain names first ("DejaVuSans.ttf" before "DejaVuSans-Bold.ttf"), then by name. */
static int cmp_font(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	const char *bx = strrchr(x, '/'), *by = strrchr(y, '/');
	int dx = (int)(bx - x), dy = (int)(by - y), c;

	if (dx != dy || strncmp(x, y, (size_t)dx))
		return strcmp(x, y);
	c = (strchr(bx, '-') != NULL) - (strchr(by, '-') != NULL);
	return c ? c : strcmp(bx, by);
}

struct font_scan {
	char *paths[128];
	int n;
};

static void scan_fonts(const char *dir, int depth, struct font_scan *fs)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)) && fs->n < (int)(sizeof(fs->paths) / sizeof(fs->paths[0]))) {
		char *p;

		if (e->d_name[0] == '.')
			continue;
		if (asprintf(&p, "%s/%s", dir, e->d_name) < 0)
			break;
		if (e->d_type == DT_DIR && depth > 0) {
			scan_fonts(p, depth - 1, fs);
			free(p);
		} else if ((e->d_type == DT_REG || e->d_type == DT_LNK) &&
			   is_font_name(e->d_name)) {
			fs->paths[fs->n++] = p;
		} else {
			free(p);
		}
	}
	closedir(d);
}

/* Plain styles first: a model asking for "Arial" wants a regular sans. */
static int font_plain(const char *base)
{
	static const char *const styled[] = {"Oblique", "Italic",      "Light", "Condensed",
					     "Math",	"BoldOblique", NULL};

	for (int i = 0; styled[i]; i++)
		if (strstr(base, styled[i]))
			return 0;
	return 1;
}

/* "fonts are in /usr/share/fonts/truetype/dejavu/ (DejaVuSans.ttf, ...)" from what this
 * host has: the sandbox shows the host's /usr read-only. */
static void fonts_clause(const struct hints *h, char *buf, size_t len)
{
	const char *root = h->fonts_dir ? h->fonts_dir : "/usr/share/fonts";
	struct font_scan fs = {.n = 0};
	int shown = 0;
	char dir[PATH_MAX] = "";

	scan_fonts(root, 4, &fs);
	qsort(fs.paths, (size_t)fs.n, sizeof(fs.paths[0]), cmp_font);
	if (!fs.n) {
		snprintf(buf, len,
			 "this host has no font files under %s: use ImageFont.load_default()",
			 root);
		return;
	}
	/* The directory of the first plain font, and plain fonts from it. */
	for (int i = 0; i < fs.n && !dir[0]; i++) {
		const char *slash = strrchr(fs.paths[i], '/');
		if (font_plain(slash + 1))
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - fs.paths[i]), fs.paths[i]);
	}
	if (!dir[0]) {
		const char *slash = strrchr(fs.paths[0], '/');
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - fs.paths[0]), fs.paths[0]);
	}
	snprintf(buf, len, "fonts are in %s/ (", dir);
	for (int i = 0; i < fs.n && shown < 4; i++) {
		const char *slash = strrchr(fs.paths[i], '/');
		if ((size_t)(slash - fs.paths[i]) == strlen(dir) &&
		    !strncmp(fs.paths[i], dir, strlen(dir)) && font_plain(slash + 1))
			append(buf, len, "%s%s", shown++ ? ", " : "", slash + 1);
	}
	append(buf, len, "%s): open one by its full path, or use ImageFont.load_default()",
	       fs.n > shown ? ", ..." : "");
	for (int i = 0; i < fs.n; i++)
		free(fs.paths[i]);
}

/* The last quoted name after marker in log: "No module named 'cv2'" -> cv2. */
static int quoted_after(const char *log, const char *marker, char *out, size_t len)
{
	const char *p = NULL, *q;

	for (const char *s = log; s && (s = strstr(s, marker)); s += strlen(marker))
		p = s;
	if (!p)
		return 0;
	p += strlen(marker);
	if (*p == '\'' || *p == '"')
		p++;
	q = p + strcspn(p, "'\"\n ");
	if (q == p || (size_t)(q - p) >= len)
		return 0;
	snprintf(out, len, "%.*s", (int)(q - p), p);
	return 1;
}

/* lua: "module 'foo' not found:" (not Python's "module 'numpy' has no attribute"). */
static int lua_module(const char *log, char *out, size_t len)
{
	const char *p = log, *end;

	while (p && (p = strstr(p, "module '"))) {
		p += 8;
		end = strchr(p, '\'');
		if (end && end > p && starts_with(end, "' not found") && (size_t)(end - p) < len) {
			snprintf(out, len, "%.*s", (int)(end - p), p);
			return 1;
		}
	}
	return 0;
}

static int has(const char *s, const char *needle)
{
	return s && strstr(s, needle);
}

/* A missing module: what this runtime offers instead, or, when the operator lists it,
 * that the host is at fault. */
static void module_hint(const struct hints *h, const char *mod, char *buf, size_t len)
{
	char top[64];

	snprintf(top, sizeof(top), "%.*s", (int)strcspn(mod, "./"), mod);
	for (int i = 0; i < h->rt.n_packages; i++)
		if (!strcmp(h->rt.packages[i], top)) {
			snprintf(buf, len,
				 "the operator lists %s for %s but this host cannot import it: "
				 "tell the operator (`reelbox runtimes` checks it)",
				 top, h->rt.name);
			return;
		}
	packages_clause(h, buf, len);
	append(buf, len, ", and nothing can be installed: jobs have no network");
}

/* Which interpreter parsed the script, for a syntax error. */
static void syntax_hint(const struct hints *h, char *buf, size_t len)
{
	char ver[64];

	if (!h->rt.path[0]) {
		buf[0] = '\0';
		return;
	}
	interpreter_version(h->rt.path, ver, sizeof(ver));
	if (ver[0])
		snprintf(buf, len, "%.200s is %s: use syntax that version knows", h->rt.path, ver);
	else
		snprintf(buf, len, "it was parsed by %.200s", h->rt.path);
}

/* What the script wanted from outside the box: packages to install, a module, a font,
 * the network. 1 with the hint in buf when one applies. */
static int outside_hint(const struct hints *h, const char *log, const char *line, char *buf,
			size_t len)
{
	char name[128];

	if (has(log, "externally-managed-environment") || has(log, "--break-system-packages") ||
	    has(log, "No module named pip") || has(log, "pip: not found") ||
	    has(log, "pip3: not found") || has(log, "pip: command not found") ||
	    (has(log, "pip") && has(log, "Could not find a version"))) {
		char pk[400];

		packages_clause(h, pk, sizeof(pk));
		snprintf(buf, len, "packages cannot be installed: jobs have no network; %s", pk);
		return 1;
	}
	if (quoted_after(log, "No module named ", name, sizeof(name)) ||
	    quoted_after(log, "Cannot find module ", name, sizeof(name)) ||
	    lua_module(log, name, sizeof(name))) {
		module_hint(h, name, buf, len);
		return 1;
	}
	if (has(line, "cannot open resource") || has(log, "findfont: ") ||
	    ((has(line, "No such file") || has(line, "cannot open")) &&
	     (has(line, ".ttf") || has(line, ".otf") || has(line, ".ttc") || has(line, "font")))) {
		fonts_clause(h, buf, len);
		return 1;
	}
	if (has(log, "Temporary failure in name resolution") ||
	    has(log, "Name or service not known") || has(log, "Network is unreachable") ||
	    has(log, "Could not resolve host") || has(log, "urlopen error") ||
	    has(log, "getaddrinfo") || has(log, "Connection refused")) {
		snprintf(buf, len,
			 "jobs have no network: nothing can be downloaded, so draw or embed "
			 "what the script needs");
		return 1;
	}
	return 0;
}

/* What the script met in the box's files: a full scratch dir, a read-only path, a
 * command or a file that is not there. 1 with the hint in buf when one applies. */
static int files_hint(const struct hints *h, const char *line, char *buf, size_t len)
{
	if (has(line, "No space left on device") || has(line, "Disk quota exceeded")) {
		snprintf(buf, len, "the scratch dir is full at %u MB: ", h->limits.scratch_mb);
		if (h->limits.scratch_mb < h->maxima.scratch_mb)
			append(buf, len, "raise --scratch (this host allows up to %u MB)",
			       h->maxima.scratch_mb);
		else
			append(buf, len, "that is this host's maximum, so keep less in it");
		return 1;
	}
	if (has(line, "Read-only file system") ||
	    (has(line, "Permission denied") && !has(line, "/scratch"))) {
		snprintf(buf, len,
			 "only the working directory ($SCRATCH) is writable; /job and the "
			 "system are read-only");
		return 1;
	}
	/* sh: "sh: 1: convert: not found", bash: "convert: command not found". */
	if (has(line, ": not found") || has(line, "command not found")) {
		snprintf(buf, len,
			 "that command is not installed on this host: scripts see the host's "
			 "programs, read-only; ");
		packages_clause(h, buf + strlen(buf), len - strlen(buf));
		return 1;
	}
	if (has(line, "No such file or directory") || starts_with(line, "FileNotFoundError") ||
	    has(line, "ENOENT")) {
		snprintf(buf, len,
			 "a job carries only its script (/job/%s): generate or embed the data "
			 "it needs, and write files in the working directory ($SCRATCH)",
			 h->script_name[0] ? h->script_name : "SCRIPT");
		return 1;
	}
	return 0;
}

/* The interpreter's own complaints: the syntax of another version, its memory. */
static void interpreter_hint(const struct hints *h, const char *line, char *buf, size_t len)
{
	if (starts_with(line, "SyntaxError") || starts_with(line, "IndentationError") ||
	    starts_with(line, "TabError")) {
		syntax_hint(h, buf, len);
		return;
	}
	if (starts_with(line, "MemoryError")) {
		snprintf(buf, len, "the script ran out of its %u MB: ", h->limits.memory_mb);
		if (h->limits.memory_mb < h->maxima.memory_mb)
			append(buf, len, "raise --memory (this host allows up to %u MB) or ",
			       h->maxima.memory_mb);
		append(buf, len, "hold fewer frames in memory");
	}
}

/* The one hint for a script's own failure, from its last error line and its log: the
 * first that applies, in this order. */
static void script_hint(const struct hints *h, const char *log, const char *line, char *buf,
			size_t len)
{
	buf[0] = '\0';
	if (!outside_hint(h, log, line, buf, len) && !files_hint(h, line, buf, len))
		interpreter_hint(h, line, buf, len);
}

/* ", raise --timeout (this host allows up to 600 s)" or the advice at the maximum. */
static void raise_clause(char *err, size_t len, const char *flag, const char *unit, uint32_t have,
			 uint32_t max, const char *otherwise)
{
	if (max && have < max)
		append(err, len, ": raise %s (this host allows up to %u%s) or %s", flag, max, unit,
		       otherwise);
	else if (max)
		append(err, len, ": that is this host's maximum, so %s", otherwise);
}

/* A limit's sentence (the wall clock, memory, pids, CPU seconds) gains the flag that
 * raises it and this host's maximum. 1 if err was one. */
static int explain_limit(const struct hints *h, int64_t frames_done, char *err, size_t len)
{
	if (starts_with(err, "wall-clock timeout of ")) {
		if (!strstr(err, "frames") && h->frames_total > 0)
			append(err, len, " after %lld of %lld frames", (long long)frames_done,
			       (long long)h->frames_total);
		raise_clause(err, len, "--timeout", " s", h->limits.timeout_s, h->maxima.timeout_s,
			     "render fewer or simpler frames");
		return 1;
	}
	if (starts_with(err, "memory limit of ")) {
		raise_clause(err, len, "--memory", " MB", h->limits.memory_mb, h->maxima.memory_mb,
			     "hold fewer frames in memory (write each as it is drawn)");
		return 1;
	}
	if (starts_with(err, "process limit of ")) {
		raise_clause(err, len, "--pids", "", h->limits.pids, h->maxima.pids,
			     "start fewer processes and threads");
		return 1;
	}
	if (starts_with(err, "CPU time limit of ")) {
		/* The sandbox's CPU seconds follow the wall clock: twice it plus 10 s. */
		raise_clause(err, len, "--timeout", " s", h->limits.timeout_s, h->maxima.timeout_s,
			     "use fewer threads");
		return 1;
	}
	return 0;
}

/* A sentence cut at len must not end inside a UTF-8 character. */
static void mend_cut_end(char *err, size_t len)
{
	size_t n = strlen(err), i = n;

	if (n + 1 != len)
		return;
	while (i > 0 && ((unsigned char)err[i - 1] & 0xc0) == 0x80)
		i--;
	if (i > 0 && ((unsigned char)err[i - 1] & 0x80))
		err[i - 1] = '\0';
}

void hints_explain(const struct hints *h, const char *log, int64_t frames_done, char *err,
		   size_t len)
{
	char line[HINT_LINE_MAX + 8], hint[512];

	if (!err || !len || !err[0] || explain_limit(h, frames_done, err, len))
		return;
	if (!starts_with(err, "script exited with status ") &&
	    !starts_with(err, "script was killed by signal "))
		return;

	if (!hints_last_error_line(log, line, sizeof(line)))
		return;
	cut_utf8(line, HINT_LINE_MAX);
	script_hint(h, log, line, hint, sizeof(hint));
	/* pip's own advice (--break-system-packages) is wrong here: the hint replaces it. */
	if (strstr(line, "break-system-packages") || strstr(line, "PEP 668") ||
	    strstr(line, "externally-managed"))
		line[0] = '\0';

	char *see = strstr(err, "; see the log");
	if (see && !see[13])
		*see = '\0';
	/* "...exit status 1." then "; hint": the line's own closing punctuation goes. */
	if (hint[0] && line[0] && strchr(".:;", line[strlen(line) - 1]))
		line[strlen(line) - 1] = '\0';
	if (line[0])
		append(err, len, ": %s", line);
	if (hint[0])
		append(err, len, "; %s", hint);
	else if (!line[0] && see)
		append(err, len, "; see the log");
	mend_cut_end(err, len);
}

/* A container engine leaves one of these at its root (Docker, podman). */
static int in_container(void)
{
	return access("/.dockerenv", F_OK) == 0 || access("/run/.containerenv", F_OK) == 0;
}

void hints_privilege(char *err, size_t len, int rc)
{
	if (geteuid() == 0 || (rc != -EACCES && rc != -EPERM) || !err ||
	    strstr(err, "without root") || strstr(err, "in a container reelbox"))
		return;
	/* In a container the engine's profile is the usual cause, not the kernel's setting. */
	if (in_container()) {
		append(err, len,
		       "; in a container reelbox needs the seccomp profile docker/seccomp.json, "
		       "/proc unmasked and, where AppArmor is on, apparmor=unconfined "
		       "(docker/README.md)");
		return;
	}
	append(
	    err, len,
	    "; without root reelbox needs unprivileged user namespaces (user.max_user_namespaces "
	    "above 0, kernel.unprivileged_userns_clone=1 where it exists, no AppArmor "
	    "restriction of them) and a state dir it owns alone (REELBOX_STATE_DIR), or run it "
	    "as root");
}
