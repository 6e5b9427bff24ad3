/* demo_report.c - report.html: the demo's run as one page for a projector.
 *
 * One self-contained file: the CSS inline, no script at all (the collapsed parts are
 * <details>), the videos and posters linked relatively from videos/, so the folder can
 * be copied anywhere and opened from disk. Large type on a dark theme, a grid of video
 * cards, then the threat table, the host-side proof, the checklist and the timings.
 *
 * Every string that reaches the page came from a model, a script, a log, an error or a
 * path, so every one goes through demo_html_escape(): a script that prints
 * "</pre><script>" shows those characters, nothing more.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo_report.h"

/* Published start-up figures the talk's container tier implies; not measured here. */
#define DOCKER_RUN_MS 1200
#define RUNSC_MS      1100

/* The first n bytes of s, escaped. */
static void esc_len(FILE *out, const char *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '&':
			fputs("&amp;", out);
			break;
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		case '\'':
			fputs("&#39;", out);
			break;
		default:
			/* A log's escape sequences and other controls: shown as a space. */
			fputc(c < 0x20 && c != '\n' && c != '\t' ? ' ' : c, out);
		}
	}
}

void demo_html_escape(FILE *out, const char *s)
{
	if (s)
		esc_len(out, s, strlen(s));
}

/* open, the escaped text, close. */
static void esc_in(FILE *f, const char *open, const char *s, const char *close)
{
	fputs(open, f);
	demo_html_escape(f, s);
	fputs(close, f);
}

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static long long jint(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static int is_threat(const struct demo_job *j)
{
	return j->kind && !strcmp(j->kind, "threat");
}

void demo_report_counts(const struct demo_report *r, size_t *videos, size_t *videos_ok,
			size_t *threats, size_t *threats_ok)
{
	*videos = *videos_ok = *threats = *threats_ok = 0;
	for (size_t i = 0; i < r->n_jobs; i++) {
		const struct demo_job *j = &r->jobs[i];
		if (is_threat(j)) {
			(*threats)++;
			*threats_ok += j->as_expected;
		} else {
			(*videos)++;
			*videos_ok += j->as_expected;
		}
	}
}

/* "850 ms", "4.2 s". */
static void span(char *buf, size_t len, long long ms)
{
	if (ms < 0)
		snprintf(buf, len, "-");
	else if (ms < 1000)
		snprintf(buf, len, "%lld ms", ms);
	else
		snprintf(buf, len, "%.1f s", (double)ms / 1000);
}

/* A time summed over a job's attempts: "model_ms" (the waits for an answer) or
 * "render_ms". */
static long long attempts_ms(json_t *res, const char *key)
{
	json_t *a;
	size_t i;
	long long sum = 0;

	json_array_foreach(json_object_get(res, "attempts"), i, a) sum += jint(a, key);
	return sum;
}

static size_t count_lines(const char *s)
{
	size_t n = s && *s ? 1 : 0;
	for (; s && *s; s++)
		n += *s == '\n' && s[1];
	return n;
}

/* The whole style: a dark theme with large type, readable from the back of a room. */
static const char css[] =
    ":root{--bg:#0d1117;--card:#161b22;--line:#30363d;--fg:#e6edf3;--dim:#9da7b3;"
    "--accent:#58a6ff;--ok:#3fb950;--bad:#f85149;--warn:#d29922;--mono:'DejaVu Sans Mono',"
    "ui-monospace,Menlo,Consolas,monospace}\n"
    "*{box-sizing:border-box}\n"
    "html{font-size:20px}\n"
    "body{margin:0;background:var(--bg);color:var(--fg);line-height:1.45;"
    "font-family:'DejaVu Sans',system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}\n"
    "main{max-width:1840px;margin:0 auto;padding:0 2.2rem 3rem}\n"
    "header.hero{padding:2.6rem 0 1.4rem;border-bottom:1px solid var(--line)}\n"
    ".kicker{color:var(--accent);font-weight:700;letter-spacing:.06em;text-transform:uppercase;"
    "font-size:.8rem;margin:0 0 .6rem}\n"
    "h1{font-size:2.7rem;line-height:1.15;margin:0 0 .8rem;max-width:30ch}\n"
    ".lede{font-size:1.15rem;color:var(--dim);max-width:70ch;margin:0 0 1.6rem}\n"
    ".stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(14rem,1fr));gap:1rem}\n"
    ".stat{background:var(--card);border:1px solid var(--line);border-radius:14px;"
    "padding:1rem 1.2rem}\n"
    ".stat b{display:block;font-size:2.2rem;line-height:1.1}\n"
    ".stat span{color:var(--dim);font-size:.9rem}\n"
    ".stat.ok b{color:var(--ok)}.stat.bad b{color:var(--bad)}.stat.n b{color:var(--accent)}\n"
    "a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}\n"
    "nav{display:flex;gap:1.4rem;flex-wrap:wrap;padding:1rem 0;font-size:.95rem}\n"
    "nav a{color:var(--accent);text-decoration:none}\n"
    "section{padding:2rem 0 1rem;border-bottom:1px solid var(--line)}\n"
    "h2{font-size:2rem;margin:0 0 .4rem}\n"
    "h2 small{color:var(--dim);font-weight:400;font-size:1rem;margin-left:.6rem}\n"
    ".intro{color:var(--dim);max-width:80ch;margin:0 0 1.4rem}\n"
    ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(34rem,1fr));gap:1.4rem}\n"
    ".card{background:var(--card);border:1px solid var(--line);border-radius:16px;"
    "overflow:hidden;display:flex;flex-direction:column}\n"
    ".card video{display:block;width:100%;height:auto;aspect-ratio:16/9;background:#000;"
    "object-fit:contain}\n"
    ".card .body{padding:1rem 1.2rem 1.2rem}\n"
    ".card h3{font-size:1.25rem;margin:0 0 .5rem;display:flex;flex-wrap:wrap;gap:.5rem;"
    "align-items:center}\n"
    "blockquote{margin:.2rem 0 .8rem;padding:.1rem 0 .1rem .9rem;border-left:4px solid "
    "var(--accent);color:var(--fg);font-size:.95rem}\n"
    ".meta{color:var(--dim);font-size:.85rem;margin:.3rem 0 .6rem}\n"
    ".badge{font-size:.72rem;font-weight:700;padding:.15rem .55rem;border-radius:999px;"
    "text-transform:uppercase;letter-spacing:.04em;border:1px solid currentColor}\n"
    ".ok{color:var(--ok)}.bad{color:var(--bad)}.warn{color:var(--warn)}\n"
    "details{margin:.5rem 0;font-size:.9rem}\n"
    "summary{cursor:pointer;color:var(--accent)}\n"
    "pre{font-family:var(--mono);font-size:.72rem;line-height:1.4;background:#0a0d12;"
    "border:1px solid var(--line);border-radius:10px;padding:.8rem 1rem;overflow:auto;"
    "max-height:28rem;white-space:pre-wrap;word-break:break-word;margin:.5rem 0}\n"
    "ol.attempts{margin:.4rem 0;padding-left:1.4rem}\n"
    "ol.attempts li{margin:.3rem 0}\n"
    "table{width:100%;border-collapse:collapse;font-size:.9rem}\n"
    "th{text-align:left;color:var(--dim);font-weight:600;border-bottom:2px solid var(--line);"
    "padding:.6rem .7rem}\n"
    "td{vertical-align:top;border-bottom:1px solid var(--line);padding:.8rem .7rem}\n"
    "table.threats td:first-child{width:15%}table.threats td:nth-child(2){width:22%}\n"
    "table.threats td:nth-child(3){width:20%}\n"
    ".tag{display:inline-block;margin-top:.3rem;font-size:.72rem;color:var(--warn);"
    "font-weight:700;text-transform:uppercase;letter-spacing:.05em}\n"
    "ul.ev{list-style:none;margin:0;padding:0}\n"
    "ul.ev li{margin:.15rem 0}\n"
    ".denied,.said{font-family:var(--mono);font-size:.72rem;color:#ffa198;word-break:break-word}\n"
    ".said{color:#d2a8ff}\n"
    ".verdict{font-size:1rem;font-weight:800;text-transform:uppercase;white-space:nowrap}\n"
    "ul.proofs,.checks{list-style:none;padding:0;margin:0;display:grid;"
    "grid-template-columns:repeat(auto-fill,minmax(34rem,1fr));gap:.9rem}\n"
    ".proof,.check{background:var(--card);border:1px solid var(--line);border-radius:14px;"
    "padding:.9rem 1.1rem;display:flex;gap:.9rem}\n"
    ".mark{font-size:1.6rem;font-weight:800;line-height:1}\n"
    "details.tier{margin:.5rem 0 0;font-size:.85rem}details.tier summary{cursor:pointer}\n"
    ".gvmark{font-weight:800}\n"
    ".proof h3,.check h3{font-size:1.05rem;margin:0 0 .3rem}\n"
    ".evidence{color:var(--dim);font-size:.82rem;margin:0;word-break:break-word}\n"
    ".bars{display:grid;grid-template-columns:minmax(16rem,26rem) 1fr;gap:.6rem 1rem;"
    "align-items:center;margin:0 0 1.6rem}\n"
    ".bar{height:1.5rem;border-radius:6px;background:var(--accent);min-width:3px}\n"
    ".bar.pub{background:repeating-linear-gradient(45deg,#6e7681,#6e7681 8px,#484f58 8px,"
    "#484f58 16px)}\n"
    ".bars .v{font-weight:700;margin-left:.5rem;white-space:nowrap}\n"
    ".bars .row{display:flex;align-items:center}\n"
    "td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    ".note{color:var(--dim);font-size:.82rem}\n"
    "footer{color:var(--dim);font-size:.85rem;padding:1.6rem 0}\n"
    "code{font-family:var(--mono);font-size:.85em}\n";

/* ---- the top of the page ---- */

static void write_head(FILE *f)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<title>reelbox demo: AI-generated code is untrusted code</title>\n<style>\n",
	      f);
	fputs(css, f);
	fputs("</style>\n</head>\n<body>\n<main>\n", f);
}

static void stat_box(FILE *f, int ok, const char *value, const char *label)
{
	fprintf(f, "<div class=\"stat %s\"><b>", ok == 2 ? "n" : ok ? "ok" : "bad");
	demo_html_escape(f, value);
	esc_in(f, "</b><span>", label, "</span></div>\n");
}

static void write_hero(FILE *f, const struct demo_report *r)
{
	size_t v, vok, t, tok, pts = 0;
	char buf[64], label[160];

	demo_report_counts(r, &v, &vok, &t, &tok);
	for (size_t i = 0; i < r->n_points; i++)
		pts += r->points[i].holds;
	fputs("<header class=\"hero\">\n<p class=\"kicker\">reelbox demo &middot; ", f);
	demo_html_escape(f, r->started);
	esc_in(f, " &middot; ", r->host, "</p>\n");
	fputs("<h1>AI-generated code is untrusted code from the internet</h1>\n"
	      "<p class=\"lede\">Every video here was written by a model from a prompt and "
	      "rendered in reelbox's sandbox; every threat below is a model's answer doing what "
	      "the talk warns of, run the same way. Nothing on this page is assumed: each line "
	      "was measured on this machine during this run.</p>\n<div class=\"stats\">\n",
	      f);
	snprintf(buf, sizeof(buf), "%zu / %zu", vok, v);
	stat_box(f, vok == v, buf, "videos rendered from prompts");
	snprintf(buf, sizeof(buf), "%zu / %zu", tok, t);
	stat_box(f, tok == t, buf, "threats contained");
	snprintf(buf, sizeof(buf), "%zu / %zu", pts, r->n_points);
	stat_box(f, r->n_points && pts == r->n_points, buf, "checklist points hold, live");
	span(buf, sizeof(buf), r->sandbox_true_ms ? (long long)r->sandbox_true_ms : -1);
	snprintf(label, sizeof(label),
		 "sandbox start to exit, measured (docker run: about %.1f s, "
		 "published)",
		 DOCKER_RUN_MS / 1000.0);
	stat_box(f, 2, buf, label);
	fputs("</div>\n</header>\n<nav><a href=\"#videos\">1. Prompts to videos</a>"
	      "<a href=\"#threats\">2. The threat model</a><a href=\"#proof\">Host-side proof</a>"
	      "<a href=\"#checklist\">3. The checklist, live</a>"
	      "<a href=\"#timings\">4. Timings</a></nav>\n",
	      f);
	if (r->interrupted)
		fputs("<p class=\"bad\">This run did not finish: the page shows how far it "
		      "got.</p>\n",
		      f);
}

/* ---- 1. prompts to videos ---- */

/* A repaired or failed job's attempts: what each one's script did, and why it failed. */
static void write_attempts(FILE *f, json_t *res, int open)
{
	json_t *list = json_object_get(res, "attempts"), *a;
	size_t i, n = json_array_size(list);
	char m[32], rd[32];

	if (n == 0)
		return;
	fprintf(f, "<details%s><summary>%zu model attempt%s%s</summary>\n<ol class=\"attempts\">\n",
		open ? " open" : "", n, n == 1 ? "" : "s",
		n > 1 ? ": each failure went back to the model" : "");
	json_array_foreach(list, i, a)
	{
		int ok = jstr(a, "status") && !strcmp(jstr(a, "status"), "succeeded");
		span(m, sizeof(m), jint(a, "model_ms"));
		span(rd, sizeof(rd), jint(a, "render_ms"));
		fprintf(f, "<li><b class=\"%s\">%s</b>", ok ? "ok" : "bad",
			ok ? "rendered" : "failed");
		if (!ok && jstr(a, "end"))
			esc_in(f, " (", jstr(a, "end"), ")");
		fprintf(f, " &middot; model %s &middot; render %s", m, rd);
		if (!ok && jstr(a, "error"))
			esc_in(f, "<br>", jstr(a, "error"), "");
		if (!ok && jstr(a, "log") && *jstr(a, "log"))
			esc_in(f, "<details><summary>its log</summary><pre>", jstr(a, "log"),
			       "</pre></details>");
		fputs("</li>\n", f);
	}
	fputs("</ol>\n</details>\n", f);
}

static void write_script(FILE *f, json_t *res, const char *what)
{
	const char *script = jstr(res, "script");
	json_t *a = json_array_get(json_object_get(res, "attempts"),
				   json_array_size(json_object_get(res, "attempts")) - 1);
	const char *runtime = jstr(a, "runtime");

	if (!script)
		return;
	esc_in(f, "<details><summary>", what, " (");
	if (runtime)
		esc_in(f, "", runtime, ", ");
	fprintf(f, "%zu lines)</summary>\n<pre><code>", count_lines(script));
	demo_html_escape(f, script);
	fputs("</code></pre>\n</details>\n", f);
}

/* The player: the poster the demo cut, else the frame a second in (a media fragment). */
static void write_player(FILE *f, const struct demo_job *j)
{
	if (!j->video[0]) {
		esc_in(f, "<div class=\"meta\" style=\"padding:1.2rem\">no video: ",
		       jstr(j->result, "error") ? jstr(j->result, "error") : j->state, "</div>\n");
		return;
	}
	fputs("<video controls preload=\"metadata\"", f);
	if (j->poster[0])
		esc_in(f, " poster=\"", j->poster, "\"");
	esc_in(f, " src=\"", j->video, j->poster[0] ? "\"" : "#t=1\"");
	esc_in(f, " data-job=\"", j->id, "\"");
	fprintf(f, " data-frames=\"%lld\" data-fps=\"%d\" width=\"%d\" height=\"%d\"></video>\n",
		(long long)j->frames, j->fps, j->width, j->height);
}

static void write_video_card(FILE *f, const struct demo_job *j)
{
	size_t tries = json_array_size(json_object_get(j->result, "attempts"));
	int ok = j->as_expected;
	json_t *t = json_object_get(j->result, "timings");
	char m[32], rd[32], total[32];

	fputs("<article class=\"card\">\n", f);
	write_player(f, j);
	esc_in(f, "<div class=\"body\">\n<h3>", j->title ? j->title : j->scenario, "");
	esc_in(f, ok ? " <span class=\"badge ok\">" : " <span class=\"badge bad\">", j->verdict,
	       "</span>");
	if (ok && tries > 1)
		fprintf(f, " <span class=\"badge warn\">repaired: rendered on attempt %zu</span>",
			tries);
	fputs("</h3>\n", f);
	esc_in(f, "<blockquote>", j->prompt, "</blockquote>\n");
	span(m, sizeof(m), attempts_ms(j->result, "model_ms"));
	span(rd, sizeof(rd), attempts_ms(j->result, "render_ms"));
	span(total, sizeof(total), jint(t, "total_ms"));
	fprintf(f,
		"<p class=\"meta\">%dx%d &middot; %lld frames at %d fps &middot; model %s "
		"&middot; render %s &middot; job %s</p>\n",
		j->width, j->height, (long long)j->frames, j->fps, m, rd, total);
	if (tries > 1 || !ok)
		write_attempts(f, j->result, tries > 1 && ok);
	write_script(f, j->result, ok ? "The final script" : "The last script");
	fputs("</div>\n</article>\n", f);
}

static void write_videos(FILE *f, const struct demo_report *r)
{
	fputs("<section id=\"videos\">\n<h2>1. Prompts to videos</h2>\n<p class=\"intro\">Each "
	      "card is a prompt job: the worker asked the model for a script, ran it in the job's "
	      "sandbox and encoded its frames. When an attempt failed, its error and log went "
	      "back to the model for a corrected script.</p>\n"
	      "<div class=\"grid\">\n",
	      f);
	for (size_t i = 0; i < r->n_jobs; i++)
		if (!is_threat(&r->jobs[i]))
			write_video_card(f, &r->jobs[i]);
	fputs("</div>\n</section>\n", f);
}

/* ---- 2. the threat model ---- */

/* Which host-side proofs speak to which threat. */
static const struct {
	const char *threat;
	enum demo_proof p[3];
	int n;
} threat_proofs[] = {
    {"hallucination", {DEMO_PROOF_HOST_FILES, DEMO_PROOF_STATE_DIR}, 2},
    {"over-helpful", {DEMO_PROOF_KEY_RESULTS, DEMO_PROOF_KEY_FILES, DEMO_PROOF_HOST_FILES}, 3},
    {"direct-injection", {DEMO_PROOF_KEY_RESULTS, DEMO_PROOF_KEY_REDIS, DEMO_PROOF_KEY_MODEL}, 3},
    {"indirect-injection", {DEMO_PROOF_HOST_FILES, DEMO_PROOF_KEY_RESULTS}, 2},
    {"resource-abuse", {DEMO_PROOF_PROCESSES, DEMO_PROOF_STATE_DIR}, 2},
    {"persistence", {DEMO_PROOF_PROCESSES, DEMO_PROOF_HOST_FILES}, 2},
};

/* What reelbox did with the job: how it ended, in the result's words. */
static void write_outcome(FILE *f, const struct demo_job *j)
{
	size_t tries = json_array_size(json_object_get(j->result, "attempts"));
	long long code = jint(j->result, "exit_code"), sig = jint(j->result, "signal");

	if (!j->final) {
		esc_in(f, "<p>did not finish (", j->state, ")</p>");
		return;
	}
	if (!strcmp(j->state, "succeeded")) {
		size_t denied = count_lines(j->denials);
		fputs("<p><b class=\"ok\">Ran it to its end in the sandbox</b>", f);
		if (denied)
			fprintf(f, " (%zu denied system call%s)", denied, denied == 1 ? "" : "s");
		fputs("; the video rendered", f);
		if (j->video[0])
			esc_in(f, " (<a href=\"", j->video, "\">play it</a>)");
		fputs(".</p>", f);
		return;
	}
	fputs("<p><b class=\"bad\">Stopped it:</b> ", f);
	demo_html_escape(f, jstr(j->result, "error") ? jstr(j->result, "error") : j->state);
	fputs("</p>", f);
	if (sig)
		fprintf(f, "<p class=\"meta\">killed by signal %lld</p>", sig);
	else if (code >= 0)
		fprintf(f, "<p class=\"meta\">exit code %lld</p>", code);
	if (tries > 1)
		fprintf(f,
			"<p class=\"meta\">%zu attempts: each failure went back to the model, "
			"each answer was stopped the same way</p>",
			tries);
}

/* 1 when a line of the script's log tells what became of something it tried: an error,
 * a refusal, an exit, a search that found nothing. Traceback context, indented, is not
 * one; reelbox's own lines are shown as denials. */
static int telling(const char *line, size_t len)
{
	static const char *const words[] = {
	    "rror",	    "failed",	"cannot",	 "not found", "unavailable", "Read-only",
	    "No such file", "No space", "not supported", "(exit ",    "found: none", "denied"};

	if (!len || line[0] == ' ' || line[0] == '\t' || !strncmp(line, "reelbox: ", 9) ||
	    !strncmp(line, "Traceback", 9))
		return 0;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (memmem(line, len, words[i], strlen(words[i])))
			return 1;
	return 0;
}

/* Up to three telling lines of the job's log, each once, the latest last. */
static void write_said(FILE *f, const char *log)
{
	const char *pick[3] = {0};
	size_t plen[3] = {0}, n = 0;

	for (const char *line = log; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line), k;
		for (k = 0; k < n && (plen[k] != len || memcmp(pick[k], line, len)); k++)
			;
		if (k == n && telling(line, len)) {
			if (n == 3) {
				memmove(pick, pick + 1, 2 * sizeof(pick[0]));
				memmove(plen, plen + 1, 2 * sizeof(plen[0]));
				n--;
			}
			pick[n] = line;
			plen[n++] = len;
		}
		line = end ? end + 1 : NULL;
	}
	for (size_t k = 0; k < n; k++) {
		fputs("<li class=\"said\">", f);
		esc_len(f, pick[k], plen[k] > 200 ? 200 : plen[k]);
		fputs("</li>", f);
	}
}

static void write_evidence(FILE *f, const struct demo_report *r, const struct demo_job *j)
{
	const char *line = j->denials;

	fputs("<ul class=\"ev\">", f);
	write_said(f, jstr(j->result, "log"));
	for (int k = 0; line && *line && k < 8; k++) {
		const char *end = strchr(line, '\n');
		fputs("<li class=\"denied\">", f);
		esc_len(f, line, end ? (size_t)(end - line) : strlen(line));
		fputs("</li>", f);
		line = end ? end + 1 : NULL;
	}
	for (size_t t = 0; j->threat && t < sizeof(threat_proofs) / sizeof(threat_proofs[0]); t++) {
		if (strcmp(threat_proofs[t].threat, j->threat))
			continue;
		for (int k = 0; k < threat_proofs[t].n; k++) {
			const struct demo_check *c = &r->proofs[threat_proofs[t].p[k]];
			fprintf(f, "<li><span class=\"%s\">%s</span> ", c->holds ? "ok" : "bad",
				c->holds ? "&#10003;" : "&#10007;");
			esc_in(f, "<a href=\"#proof\">", c->title ? c->title : "", "</a></li>");
		}
	}
	fputs("</ul>", f);
	if (jstr(j->result, "log") && *jstr(j->result, "log"))
		esc_in(f, "<details><summary>The job's log (its last lines)</summary><pre>",
		       jstr(j->result, "log"), "</pre></details>");
}

static void write_threat_row(FILE *f, const struct demo_report *r, const struct demo_job *j)
{
	int ok = j->as_expected;

	esc_in(f, "<tr data-threat=\"", j->scenario, "\">\n<td><b>");
	demo_html_escape(f, j->title ? j->title : j->scenario);
	esc_in(f, "</b><br><span class=\"tag\">", j->threat ? j->threat : "threat",
	       "</span></td>\n");
	esc_in(f, "<td>", j->tries, "");
	write_script(f, j->result, "The recorded answer's script");
	fputs("</td>\n<td>", f);
	write_outcome(f, j);
	fputs("</td>\n<td>", f);
	write_evidence(f, r, j);
	fprintf(f, "</td>\n<td><span class=\"verdict %s\">", ok ? "ok" : "bad");
	demo_html_escape(f, j->verdict);
	fputs("</span></td>\n</tr>\n", f);
}

static void write_proofs(FILE *f, const struct demo_report *r)
{
	fputs("<h2 id=\"proof\" style=\"margin-top:2rem\">Host-side proof <small>measured from "
	      "outside every sandbox, after the jobs</small></h2>\n<ul class=\"proofs\">\n",
	      f);
	for (int p = 0; p < DEMO_N_PROOFS; p++) {
		const struct demo_check *c = &r->proofs[p];
		fprintf(f, "<li class=\"proof\"><div class=\"mark %s\">%s</div><div>",
			c->holds ? "ok" : "bad", c->holds ? "&#10003;" : "&#10007;");
		esc_in(f, "<h3>", c->title ? c->title : "", "</h3>");
		esc_in(f, "<p class=\"evidence\">", c->evidence, "</p></div></li>\n");
	}
	fputs("</ul>\n", f);
}

static void write_threats(FILE *f, const struct demo_report *r)
{
	fputs(
	    "<section id=\"threats\">\n<h2>2. The threat model</h2>\n<p class=\"intro\">Each row "
	    "is a prompt job like the ones above, whose model answer does what the talk warns of. "
	    "Model: ",
	    f);
	demo_html_escape(f, r->model);
	fputs(". In the evidence, <span class=\"said\">these lines</span> are the script's own "
	      "log and <span class=\"denied\">these</span> the sandbox's denials, both from the "
	      "job's log; the ticks are the host-side proof below.</p>\n<table "
	      "class=\"threats\">\n<thead><tr><th>Scenario</th><th>What the answer tried</th>"
	      "<th>What reelbox did</th><th>Evidence</th><th>Verdict</th></tr></thead>\n<tbody>\n",
	      f);
	for (size_t i = 0; i < r->n_jobs; i++)
		if (is_threat(&r->jobs[i]))
			write_threat_row(f, r, &r->jobs[i]);
	fputs("</tbody>\n</table>\n", f);
	write_proofs(f, r);
	fputs("</section>\n", f);
}

/* ---- 3. the checklist ---- */

/* Where the next "; " outside double quotes is, or NULL: a fact may quote a sentence that
 * has one of its own. */
static const char *next_fact(const char *p)
{
	int quoted = 0;

	for (; *p; p++) {
		if (*p == '"')
			quoted = !quoted;
		else if (!quoted && p[0] == ';' && p[1] == ' ')
			return p;
	}
	return NULL;
}

/* A point's evidence, its "; "-separated facts one a line. */
static void write_facts(FILE *f, const char *evidence)
{
	const char *p = evidence;

	fputs("<p class=\"evidence\">", f);
	while (p && *p) {
		const char *sep = next_fact(p);
		esc_len(f, p, sep ? (size_t)(sep - p) : strlen(p));
		if (!sep)
			break;
		fputs("<br>", f);
		p = sep + 2;
	}
	fputs("</p>", f);
}

/* The same point in the gvisor tier, beside the native one: its mark and its facts. */
static void write_gvisor_point(FILE *f, const struct demo_report *r, size_t i)
{
	const struct demo_point *g = i < r->gv_n_points ? &r->gv_points[i] : NULL;

	if (!g)
		return;
	fprintf(f,
		"<details class=\"tier\"><summary><span class=\"gvmark %s\">%s</span> gvisor tier",
		g->holds ? "ok" : "bad", g->holds ? "&#10003;" : "&#10007;");
	esc_in(f, " (", r->gv_info, ")</summary>");
	write_facts(f, g->evidence);
	fputs("</details>", f);
}

static void write_checklist(FILE *f, const struct demo_report *r)
{
	char probe[32];

	span(probe, sizeof(probe), (long long)r->probe_ms);
	fputs("<section id=\"checklist\">\n<h2>3. The checklist, live</h2>\n<p class=\"intro\">"
	      "The talk's universal checklist for running AI code, judged as code against this "
	      "host: a probe ran as a real job just now and looked from the inside (uid maps, "
	      "capabilities, seccomp, no_new_privs, namespaces, mounts, descriptors, environment, "
	      "limits), and the host looked at the job from outside",
	      f);
	if (r->n_points)
		fprintf(f, " (%s). <code>reelbox posture</code> runs the same probe on any host.",
			probe);
	fputs("</p>\n", f);
	if (r->posture_error[0])
		esc_in(f, "<p class=\"bad\">The probe did not run: ", r->posture_error, "</p>\n");
	if (r->gv_n_points)
		esc_in(f, "<p class=\"intro\">Each point in the gvisor tier too (gVisor's runsc, ",
		       r->gv_info,
		       "), judged where gVisor keeps it: open it under the point.</p>\n");
	else if (r->gv_error[0])
		esc_in(f, "<p class=\"intro\">The gvisor tier was not audited here: ", r->gv_error,
		       "</p>\n");
	fputs("<ul class=\"checks\">\n", f);
	for (size_t i = 0; i < r->n_points; i++) {
		const struct demo_point *p = &r->points[i];
		esc_in(f, "<li class=\"check\" data-point=\"", p->id, "\">");
		fprintf(f, "<div class=\"mark %s\">%s</div><div>", p->holds ? "ok" : "bad",
			p->holds ? "&#10003;" : "&#10007;");
		esc_in(f, "<h3>", p->title, "</h3>");
		write_facts(f, p->evidence);
		write_gvisor_point(f, r, i);
		fputs("</div></li>\n", f);
	}
	fputs("</ul>\n</section>\n", f);
}

/* ---- 4. timings ---- */

static void bar(FILE *f, const char *label, const char *note, long long ms, long long max,
		int published)
{
	char v[32];

	span(v, sizeof(v), ms);
	esc_in(f, "<div>", label, "");
	esc_in(f, "<br><span class=\"note\">", note, "</span></div>");
	fprintf(f,
		"<div class=\"row\"><div class=\"bar%s\" style=\"width:%.1f%%\"></div>"
		"<span class=\"v\">%s%s</span></div>\n",
		published ? " pub" : "", max > 0 ? 85.0 * (double)ms / (double)max : 0,
		published ? "about " : "", v);
}

/* The median of the jobs' first frames, or -1 when none rendered a frame. */
static long long median_first_frame(const struct demo_report *r)
{
	long long v[64];
	size_t n = 0;

	for (size_t i = 0; i < r->n_jobs && n < 64; i++) {
		long long ff =
		    jint(json_object_get(r->jobs[i].result, "timings"), "first_frame_ms");
		if (!strcmp(r->jobs[i].state, "succeeded") && ff > 0)
			v[n++] = ff;
	}
	for (size_t i = 1; i < n; i++) /* insertion sort: a handful of values */
		for (size_t k = i; k > 0 && v[k - 1] > v[k]; k--) {
			long long t = v[k];
			v[k] = v[k - 1];
			v[k - 1] = t;
		}
	return n ? v[n / 2] : -1;
}

static void write_bars(FILE *f, const struct demo_report *r)
{
	long long ff = median_first_frame(r);
	long long max = DOCKER_RUN_MS;

	if ((long long)r->sandbox_true_ms > max)
		max = (long long)r->sandbox_true_ms;
	if (ff > max)
		max = ff;
	fputs("<div class=\"bars\">\n", f);
	if (r->sandbox_true_ms)
		bar(f, "reelbox sandbox: start to exit", "measured here: /bin/true, median of 5",
		    (long long)r->sandbox_true_ms, max, 0);
	if (ff >= 0)
		bar(f, "reelbox job: to its first frame",
		    "measured here: sandbox, interpreter, script, median of the rendered jobs", ff,
		    max, 0);
	bar(f, "docker run", "published figure, not measured here", DOCKER_RUN_MS, max, 1);
	bar(f, "gVisor runsc", "published figure, not measured here", RUNSC_MS, max, 1);
	fputs("</div>\n", f);
}

/* A time; a dash where nothing was measured (shown is true when 0 ms is a time). */
static void timing_cell(FILE *f, long long ms, int shown)
{
	char v[32];

	span(v, sizeof(v), ms);
	fprintf(f, "<td class=\"num\">%s</td>", ms > 0 || shown ? v : "&ndash;");
}

static void write_timing_row(FILE *f, const struct demo_job *j)
{
	json_t *t = json_object_get(j->result, "timings");
	int asked = json_array_size(json_object_get(j->result, "attempts")) > 0;

	esc_in(f, "<tr><td>", j->title ? j->title : j->scenario, "");
	esc_in(f, " <span class=\"meta\">(", j->verdict, ")</span></td>");

	timing_cell(f, jint(t, "first_frame_ms"), 0);
	timing_cell(f, jint(t, "sandbox_ms"), 0);
	timing_cell(f, attempts_ms(j->result, "model_ms"), asked);
	timing_cell(f, attempts_ms(j->result, "render_ms"), asked);
	timing_cell(f, jint(t, "encode_ms"), 0);
	timing_cell(f, jint(t, "total_ms"), 0);
	fputs("</tr>\n", f);
}

static void write_timings(FILE *f, const struct demo_report *r)
{
	char wall[32];

	span(wall, sizeof(wall), (long long)r->wall_ms);
	fputs(
	    "<section id=\"timings\">\n<h2>4. Timings</h2>\n<p class=\"intro\">What a job costs "
	    "here, against the start-up of the container tier the talk's video generator "
	    "implies. The striped bars are published figures, not measured on this machine.</p>\n",
	    f);
	write_bars(f, r);
	fputs("<table class=\"timings\">\n<thead><tr><th>Job</th><th class=\"num\">first frame</th>"
	      "<th class=\"num\">sandbox</th><th class=\"num\">model</th>"
	      "<th class=\"num\">render</th><th class=\"num\">encode</th>"
	      "<th class=\"num\">job total</th></tr></thead>\n<tbody>\n",
	      f);
	for (size_t i = 0; i < r->n_jobs; i++)
		write_timing_row(f, &r->jobs[i]);
	fprintf(f,
		"</tbody>\n</table>\n<p class=\"note\">first frame: from the render's start to "
		"the first frame (sandbox, interpreter and the script's first frame); sandbox: "
		"the last render's sandbox, start to reap; model and render: summed over the "
		"attempts; encode: the encoder's time; job total: the whole job, model calls "
		"included. The whole demo took %s on two worker slots.</p>\n</section>\n",
		wall);
}

static void write_footer(FILE *f)
{
	fputs("<footer>Made by <code>reelbox demo</code>. To reproduce it on a fresh machine: "
	      "<code>scripts/demo.sh</code>, or <code>reelbox demo --out DIR</code> on a built "
	      "tree. With <code>REELBOX_MODEL_URL</code> and <code>REELBOX_MODEL_KEY</code> set, "
	      "the worker asks that model instead of the stand-in. The recorded answers are plain "
	      "files in <code>examples/demo/</code>.</footer>\n</main>\n</body>\n</html>\n",
	      f);
}

int demo_report_write(FILE *out, const struct demo_report *r)
{
	write_head(out);
	write_hero(out, r);
	write_videos(out, r);
	write_threats(out, r);
	write_checklist(out, r);
	write_timings(out, r);
	write_footer(out);
	return ferror(out) ? -EIO : 0;
}
