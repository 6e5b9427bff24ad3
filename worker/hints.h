/* hints.h - a failed job's sentence, made to say why and what to do.
 *
 * The runner decides that a job failed and how ("script exited with status 1; see the
 * log", "wall-clock timeout of 2 s reached"). That is true but rarely enough: the log
 * may not be shown (submit --wait, a prompt job's repair loop), and the fix is often one
 * fact about this host the author cannot see (what can be imported, where fonts are,
 * which interpreter parsed the script, which flag raises a limit and how far). Here the
 * sentence gains the script's own last error line and, when its shape is known, one
 * targeted hint. Unknown sentences pass through untouched.
 */
#ifndef REELBOX_HINTS_H
#define REELBOX_HINTS_H

#include <stddef.h>
#include <stdint.h>

#include "job.h"

/* What the hints need of a job, copied when it starts so that they outlive the job's
 * config. */
struct hints {
	struct runtime rt; /* the job's runtime; rt.name is "" when unknown */
	char script_name[JOB_NAME_MAX];
	struct job_limits limits; /* what the job got */
	struct job_limits maxima; /* the operator's maxima */
	int64_t frames_total;
	const char *fonts_dir; /* where fonts are looked for; NULL: /usr/share/fonts */
};

void hints_init(struct hints *h, const struct job *job, const struct config *cfg);

/* Rewrite err (len bytes, NUL-terminated) for a failed job: log is the tail of the
 * script's stderr (may be NULL), frames_done how far it got. */
void hints_explain(const struct hints *h, const char *log, int64_t frames_done, char *err,
		   size_t len);

/* The script's own last error line in a log tail: the last line of a traceback, or
 * the last non-empty line that is not reelbox's own note. Copied into out (cut to
 * len); 0 when there is none. */
int hints_last_error_line(const char *log, char *out, size_t len);

/* A sandbox that could not start for an unprivileged user (rc -EACCES or -EPERM, euid
 * not 0): err gains what reelbox needs without root and what to do. */
void hints_privilege(char *err, size_t len, int rc);

#endif
