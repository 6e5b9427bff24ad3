/* promptmsg.h - the words a prompt job says to the model.
 *
 * The system prompt is docs/writing-scripts.md's model prompt, generated into the build
 * (cmake/model_prompt.cmake) so a person pasting it and the worker sending it use one
 * text, followed by what this job and host offer. The user's prompt and a failed
 * attempt's log are untrusted text: each goes inside a fence longer than any run of
 * backticks it holds, so nothing in it can end the quoting and pass for the worker's own
 * words. Pure functions: no I/O, no model call (model.c), no loop (jobrun.c).
 */
#ifndef REELBOX_PROMPTMSG_H
#define REELBOX_PROMPTMSG_H

#include <stddef.h>

struct config;
struct job;

/* The most of a failed attempt's log the repair turn quotes: its last bytes. */
#define PROMPTMSG_LOG_TAIL_MAX 2048

extern const char model_prompt_text[]; /* generated from docs/writing-scripts.md */

/* The system prompt for a job: model_prompt_text, then what this job and host offer: the
 * runtimes the job may use (if job->runtime is set, only that one; else every runtime in
 * cfg with its packages, e.g. "python3 (numpy, PIL)"), the job's WIDTH, HEIGHT, FPS,
 * FRAMES and PIX_FMT, and how to answer (one fenced code block tagged with the language).
 * malloc'd, NULL without memory. */
char *promptmsg_system(const struct config *cfg, const struct job *job);

/* The first user turn: the user's prompt, quoted as data (it is untrusted text; the turn
 * says it is the request). Bytes that are not UTF-8 become U+FFFD and NUL bytes go, so
 * the turn is a C string the JSON encoder accepts. malloc'd, NULL without memory. */
char *promptmsg_request(const char *prompt, size_t len);

/* The user turn after a failed attempt: the failure sentence, the log tail (bounded: its
 * last PROMPTMSG_LOG_TAIL_MAX bytes, from a line start where one is near, in a fenced
 * block), and the ask for the whole corrected script in one fenced block. The model's
 * previous answer is sent as the assistant turn by the caller, not repeated here. error
 * and log_tail may be NULL. malloc'd, NULL without memory. */
char *promptmsg_repair(const char *error, const char *log_tail);

/* The runtimes an answer may name, as model_extract_script's `offered` list
 * (NULL-terminated, pointing into cfg): job->runtime alone when set (none when cfg does
 * not have it), else every runtime in cfg. max is the capacity of names, the NULL
 * included: at most max - 1 names are written. Returns the count. */
size_t promptmsg_offered(const struct config *cfg, const struct job *job, const char **names,
			 size_t max);

#endif
