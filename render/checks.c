/* checks.c - the byte patterns of known script mistakes in a raw frame stream.
 *
 * Every detector here answers one question about bytes a script wrote, and each was
 * chosen so that a sound picture cannot give a false "yes": a certain finding needs a
 * pattern that pixels do not make (a line of words at byte 0, an alpha byte that is
 * 255 in every 4-byte group, numbers that decode as floats in a pixel's range in every
 * group), a hint needs a statistic to stand out by a wide margin (rows that match at
 * another length five times better than at the job's). tests/it_mistakes.sh measures
 * the false positives over a corpus of sound scripts and keeps them at zero.
 */
#define _GNU_SOURCE
#include "checks.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A line longer than this at byte 0 is not a status message. */
#define TEXT_MAX 200
/* Byte pairs sampled per row-stride comparison. */
#define STRIDE_SAMPLES 8192
/* Two bytes "differ" when they are further apart than this (JPEG-ish noise is not). */
#define STRIDE_DIFF 24

static const struct {
	int w, h;
} common_sizes[] = {
    {3840, 2160}, {2560, 1440}, {1920, 1080}, {1280, 720}, {1024, 768}, {960, 540}, {854, 480},
    {800, 600},	  {640, 480},	{640, 360},   {480, 270},  {320, 240},	{320, 180},
};

const char *checks_grouped(char *buf, size_t n, uint64_t v)
{
	char digits[24];
	int len = snprintf(digits, sizeof(digits), "%" PRIu64, v);
	size_t o = 0;

	for (int i = 0; i < len && o + 1 < n; i++) {
		if (i > 0 && (len - i) % 3 == 0 && o + 2 < n)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

static void add_warning(struct render_checks *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add_warning(struct render_checks *c, const char *fmt, ...)
{
	va_list ap;

	if (c->n_warnings >= RENDER_MAX_WARNINGS)
		return;
	va_start(ap, fmt);
	vsnprintf(c->warnings[c->n_warnings++], RENDER_WARNING_LEN, fmt, ap);
	va_end(ap);
}

static void refuse(struct render_checks *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void refuse(struct render_checks *c, const char *fmt, ...)
{
	va_list ap;

	if (c->refused)
		return;
	c->refused = 1;
	va_start(ap, fmt);
	vsnprintf(c->refusal, sizeof(c->refusal), fmt, ap);
	va_end(ap);
}

void checks_init(struct render_checks *c, enum AVPixelFormat fmt, const char *name, int width,
		 int height, size_t frame_bytes, int64_t frames_wanted)
{
	memset(c, 0, sizeof(*c));
	c->width = width;
	c->height = height;
	c->frame_bytes = frame_bytes;
	c->frames_wanted = frames_wanted > 0 ? frames_wanted : 0;
	snprintf(c->fmt, sizeof(c->fmt), "%s", name ? name : "raw");
	switch (fmt) {
	case AV_PIX_FMT_RGB24:
	case AV_PIX_FMT_BGR24:
		c->bpp = 3;
		c->patterns = 1;
		break;
	case AV_PIX_FMT_RGBA:
		c->bpp = 4;
		break;
	case AV_PIX_FMT_GRAY8:
		c->bpp = 1;
		break;
	default:
		c->bpp = 0; /* planar: only the length and the text checks apply */
		break;
	}
	c->black_watch = c->bpp > 0;
	c->all_black = 1;
}

/* ---- text --------------------------------------------------------------------------- */

static int is_letter(uint8_t b)
{
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z');
}

/* A solid colour or a flat run of pixels repeats with a short period; text does not. */
static int periodic(const uint8_t *p, size_t n)
{
	for (size_t per = 1; per <= 6 && 2 * per <= n; per++) {
		size_t j = per;
		while (j < n && p[j] == p[j - per])
			j++;
		if (j == n)
			return 1;
	}
	return 0;
}

enum check_text check_text_line(const uint8_t *p, size_t n, size_t *line_len)
{
	size_t i, end, letters = 0, spaces = 0, digits = 0, smooth = 0, wordish = 0;

	*line_len = 0;
	if (n > TEXT_MAX + 1)
		n = TEXT_MAX + 1;
	for (i = 0; i < n && p[i] != '\n'; i++)
		if ((p[i] < 0x20 || p[i] > 0x7e) && p[i] != '\t' && p[i] != '\r')
			return CHECK_TEXT_NONE;
	if (i == n || i == 0)
		return CHECK_TEXT_NONE; /* no newline, or a lone one (a pixel value of 10) */
	end = i;
	while (end > 0 && p[end - 1] == '\r')
		end--;
	if (end == 0 || periodic(p, end))
		return CHECK_TEXT_NONE;
	for (size_t j = 0; j < end; j++) {
		letters += is_letter(p[j]);
		spaces += p[j] == ' ';
		digits += p[j] >= '0' && p[j] <= '9';
		wordish +=
		    is_letter(p[j]) || (p[j] >= '0' && p[j] <= '9') || strchr(".:!_-/%", p[j]);
		/* neighbouring pixels' channels: a smooth image row changes little every 3 bytes */
		if (j >= 3 && abs((int)p[j] - (int)p[j - 3]) <= 3)
			smooth++;
	}
	if (end > 6 && smooth * 2 > end - 3)
		return CHECK_TEXT_NONE;
	*line_len = i;
	/* Words with a space between them, or one word of letters ("Rendering...", "done"). */
	if (letters >= 3 && spaces >= 1 && (letters + spaces + digits) * 10 >= end * 7)
		return CHECK_TEXT_STRONG;
	if (letters >= 4 && is_letter(p[0]) && wordish == end)
		return CHECK_TEXT_STRONG;
	return CHECK_TEXT_WEAK;
}

/* Whether the n bytes that end a stream are text (printable, blanks, newlines, a letter
 * at least): the length to quote (trailing blanks and newlines dropped), else 0. */
static size_t tail_text(const uint8_t *p, size_t n)
{
	size_t letters = 0;

	if (n > TEXT_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if ((p[i] < 0x20 || p[i] > 0x7e) && p[i] != '\n' && p[i] != '\r' && p[i] != '\t')
			return 0;
		letters += is_letter(p[i]);
	}
	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' '))
		n--;
	return letters ? n : 0;
}

/* The line as a quoted excerpt for a sentence: printable, at most 40 characters. */
static void quote_text(char *dst, size_t dstlen, const uint8_t *p, size_t n)
{
	size_t o = 0, max = n > 40 ? 37 : n;

	for (size_t i = 0; i < max && o + 1 < dstlen; i++)
		dst[o++] = p[i] == '"' ? '\'' : (p[i] < 0x20 || p[i] > 0x7e) ? ' ' : (char)p[i];
	if (max < n)
		for (int k = 0; k < 3 && o + 1 < dstlen; k++)
			dst[o++] = '.';
	dst[o] = '\0';
}

/* ---- values wider than a byte -------------------------------------------------------- */

/* The little-endian float64 (k 8) or float32 (k 4) at p, reading exactly k bytes. */
static double le_float(const uint8_t *p, size_t k)
{
	uint64_t v = 0;

	for (size_t i = k; i-- > 0;)
		v = v << 8 | p[i];
	if (k == 8) {
		double d;
		memcpy(&d, &v, sizeof(d));
		return d;
	} else {
		uint32_t b32 = (uint32_t)v;
		float f;
		memcpy(&f, &b32, sizeof(f));
		return f;
	}
}

/* Every group of k bytes decodes to 0 or to a normal number no larger than 1e5, all but
 * 1 in 100 of them a number a pixel could be (1e-4 and up: a fade leaves some smaller
 * ones), at least 16 are not 0 and not all alike, and the low bytes look like numbers:
 * mostly 0 (whole values) or spread over many values (fractions). Pixels fail the
 * first tests in some group of any picture with content: its every k-th byte would have
 * to sit in a narrow band around 64. */
static int floats_ok(const uint8_t *p, size_t n, size_t k)
{
	size_t groups = n / k, nonzero = 0, low_zero = 0, low_kinds = 0, tiny = 0;
	uint8_t seen[256] = {0};
	double first = 0;
	int varied = 0;

	if (groups < 64)
		return 0;
	for (size_t g = 0; g < groups; g++) {
		const uint8_t *q = p + g * k;
		double v = le_float(q, k);

		if (v == 0)
			continue;
		if (!isfinite(v) || fabs(v) < (k == 8 ? 1e-300 : 1e-37) || fabs(v) > 1e5)
			return 0;
		tiny += fabs(v) < 1e-4;
		if (nonzero++ == 0)
			first = v;
		else if (v != first)
			varied = 1;
		if (q[0] == 0 && q[1] == 0)
			low_zero++;
		if (!seen[q[0]]) {
			seen[q[0]] = 1;
			low_kinds++;
		}
	}
	return nonzero >= 16 && varied && tiny * 100 <= nonzero &&
	       (low_zero * 2 >= nonzero || low_kinds >= 32);
}

/* Little-endian integers of k bytes holding 0..255: every byte but the lowest is 0, and
 * the lowest is not always 0. */
static int ints_ok(const uint8_t *p, size_t n, size_t k)
{
	size_t groups = n / k, nonzero = 0;

	if (groups < 64)
		return 0;
	for (size_t g = 0; g < groups; g++) {
		const uint8_t *q = p + g * k;
		for (size_t j = 1; j < k; j++)
			if (q[j])
				return 0;
		nonzero += q[0] != 0;
	}
	return nonzero * 20 >= groups;
}

enum check_wide check_wide_values(const uint8_t *p, size_t n)
{
	if (ints_ok(p, n, 8))
		return CHECK_WIDE_INT64;
	if (ints_ok(p, n, 4))
		return CHECK_WIDE_INT32;
	if (ints_ok(p, n, 2))
		return CHECK_WIDE_INT16;
	if (floats_ok(p, n, 8))
		return CHECK_WIDE_FLOAT64;
	if (floats_ok(p, n, 4))
		return CHECK_WIDE_FLOAT32;
	return CHECK_WIDE_NONE;
}

/* Whether every float in the first frame is at most 1: values that want scaling by 255. */
static int unit_floats(const uint8_t *p, size_t n, size_t k)
{
	for (size_t g = 0; g < n / k; g++)
		if (fabs(le_float(p + g * k, k)) > 1.0)
			return 0;
	return 1;
}

/* ---- alpha -------------------------------------------------------------------------- */

int check_alpha_bytes(const uint8_t *p, size_t n)
{
	size_t groups = n / 4, other = 0;
	int all255[4] = {1, 1, 1, 1}, cls = -1;

	if (groups < 64)
		return -1;
	for (size_t i = 0; i < groups * 4; i++)
		if (p[i] != 255)
			all255[i & 3] = 0;
	for (int k = 0; k < 4 && cls < 0; k++)
		if (all255[k])
			cls = k;
	if (cls < 0)
		return -1;
	/* The other three bytes must not be 255 too (a white frame), in at least 1 group
	 * of 200: an image is more than a few stray pixels. */
	for (size_t g = 0; g < groups; g++)
		for (int k = 0; k < 4; k++)
			if (k != cls && p[g * 4 + k] != 255) {
				other++;
				break;
			}
	return other * 200 >= groups ? cls : -1;
}

/* ---- row stride --------------------------------------------------------------------- */

/* The share of sampled byte pairs s apart that differ by more than STRIDE_DIFF; -1 when
 * the frame is too short for the distance. The sampling step is odd and not a multiple
 * of 3, so every channel and every column phase is visited. */
static double differ(const uint8_t *p, size_t n, size_t s)
{
	size_t step, count = 0, hits = 0;

	if (s == 0 || s >= n)
		return -1;
	step = (n - s) / STRIDE_SAMPLES;
	step |= 1;
	while (step % 3 == 0)
		step += 2;
	for (size_t i = 0; i + s < n; i += step) {
		count++;
		hits += abs((int)p[i] - (int)p[i + s]) > STRIDE_DIFF;
	}
	return count ? (double)hits / (double)count : -1;
}

/* A candidate row length s stands out when rows s apart (and 2s apart) match at least
 * five times better than the job's rows do, one and two rows down, and half a row s
 * does not: a flat row (horizontal bands) matches at every shift and proves nothing. */
static int stands_out(const uint8_t *p, size_t n, size_t s, int bpp, double base, double *d)
{
	double d1 = differ(p, n, s), d2 = differ(p, n, 2 * s);
	size_t half = s / 2 - (s / 2) % (size_t)bpp;
	double dh = half ? differ(p, n, half) : -1;

	*d = d1;
	return d1 >= 0 && d2 >= 0 && dh >= 0 && d1 * 5 <= base && d2 * 2 <= base &&
	       dh * 2 >= base && dh >= d1 * 4;
}

void check_row_stride(const uint8_t *p, size_t n, int width, int height, int bpp,
		      struct check_stride_guess *g)
{
	size_t row = (size_t)width * (size_t)bpp;
	double d1 = differ(p, n, row), d2 = differ(p, n, 2 * row), base, d;

	memset(g, 0, sizeof(*g));
	if (d1 < 0 || d2 < 0)
		return;
	base = d1 < d2 ? d1 : d2;
	g->job = base;
	/* Rows that hardly differ anywhere: a flat or nearly flat picture says nothing. */
	if (base < 0.02)
		goto multiples;
#define TRY(kind_, width_, stride_)                                                                \
	do {                                                                                       \
		size_t s_ = (stride_);                                                             \
		if (s_ && s_ != row && s_ % row && 2 * s_ < n && (!g->kind || s_ % g->stride) &&   \
		    stands_out(p, n, s_, bpp, base, &d) &&                                         \
		    (!g->kind || d < g->found || g->stride % s_ == 0)) {                           \
			g->kind = (kind_);                                                         \
			g->width = (width_);                                                       \
			g->stride = s_;                                                            \
			g->found = d;                                                              \
		}                                                                                  \
	} while (0)
	if (height != width)
		TRY(CHECK_STRIDE_TRANSPOSED, height, (size_t)height * (size_t)bpp);
	for (size_t i = 0; i < sizeof(common_sizes) / sizeof(common_sizes[0]); i++)
		if (common_sizes[i].w != width && common_sizes[i].w != height)
			TRY(CHECK_STRIDE_WIDTH, common_sizes[i].w, (size_t)common_sizes[i].w * bpp);
	if (bpp == 3) {
		TRY(CHECK_STRIDE_GRAY, width, (size_t)width);
		TRY(CHECK_STRIDE_RGBA, width, (size_t)width * 4);
	}
#undef TRY
multiples:
	/* Whole multiples of the job's width: measured against one job row only (two job
	 * rows may be the candidate's one). */
	for (size_t i = 0; i < sizeof(common_sizes) / sizeof(common_sizes[0]); i++) {
		size_t s = (size_t)common_sizes[i].w * (size_t)bpp;
		double mbase = d1;

		if (common_sizes[i].w == width || s % row || 2 * s >= n)
			continue;
		if (s != 2 * row && d2 < mbase)
			mbase = d2;
		if (mbase >= 0.02 && stands_out(p, n, s, bpp, mbase, &d)) {
			g->multiple_width = common_sizes[i].w;
			break;
		}
	}
}

/* ---- black -------------------------------------------------------------------------- */

int check_solid_black(const uint8_t *p, size_t n, int bpp)
{
	if (bpp <= 0 || n < (size_t)bpp)
		return 0;
	if (bpp == 4)
		return !p[0] && !p[1] && !p[2] && !memcmp(p, p + 4, n - 4);
	return !p[0] && !memcmp(p, p + 1, n - 1);
}

/* ---- the driver ---------------------------------------------------------------------- */

static const char *wide_name(enum check_wide w)
{
	switch (w) {
	case CHECK_WIDE_FLOAT64:
		return "float64";
	case CHECK_WIDE_FLOAT32:
		return "float32";
	case CHECK_WIDE_INT64:
		return "int64";
	case CHECK_WIDE_INT32:
		return "int32";
	case CHECK_WIDE_INT16:
		return "16-bit integer";
	default:
		return "?";
	}
}

static size_t wide_bytes(enum check_wide w)
{
	switch (w) {
	case CHECK_WIDE_FLOAT64:
	case CHECK_WIDE_INT64:
		return 8;
	case CHECK_WIDE_FLOAT32:
	case CHECK_WIDE_INT32:
		return 4;
	default:
		return 2;
	}
}

static void stride_sentence(const struct render_checks *c, char *buf, size_t n)
{
	const struct check_stride_guess *g = &c->stride;

	switch (g->kind) {
	case CHECK_STRIDE_TRANSPOSED:
		snprintf(buf, n,
			 "rows of the first frame line up every %d pixels, not %d: a numpy array "
			 "shaped (WIDTH, HEIGHT, 3)? make it (HEIGHT, WIDTH, 3), e.g. "
			 "np.zeros((H, W, 3), np.uint8)",
			 c->height, c->width);
		break;
	case CHECK_STRIDE_WIDTH:
		snprintf(buf, n,
			 "rows of the first frame line up every %d pixels, not %d: does the script "
			 "hard-code its size? use WIDTH and HEIGHT from the environment",
			 g->width, c->width);
		break;
	case CHECK_STRIDE_GRAY:
		snprintf(buf, n,
			 "rows of the first frame line up every %d bytes, not %d: 1-byte gray "
			 "pixels sent as %s? convert to RGB or run with --pix-fmt gray",
			 c->width, c->width * 3, c->fmt);
		break;
	case CHECK_STRIDE_RGBA:
		snprintf(buf, n,
			 "rows of the first frame line up every %d bytes, not %d: 4-byte RGBA "
			 "pixels sent as %s? send RGB (a[..., :3]) or run with --pix-fmt rgba",
			 c->width * 4, c->width * 3, c->fmt);
		break;
	default:
		buf[0] = '\0';
	}
}

static const char *const print_fix =
    "print to stderr instead (Python: print(..., file=sys.stderr))";

void checks_first_frame(struct render_checks *c, const uint8_t *f)
{
	size_t n = c->frame_bytes, len = 0;
	char a[32], b[32];
	int cls;
	enum check_wide w;

	c->text = check_text_line(f, n, &len);
	if (c->text) {
		const uint8_t *after = f + len + 1;
		size_t left = n - len - 1;
		const char *what = "";

		quote_text(c->text_quote, sizeof(c->text_quote), f, len);
		if (left >= 10 && !memcmp(after, "YUV4MPEG2 ", 10))
			what = " before its Y4M header";
		else if (left >= 3 && after[0] == 'P' && after[1] == '6')
			what = " before its PPM header";
		if (c->text == CHECK_TEXT_STRONG || what[0])
			refuse(c,
			       "the stream starts with the text \"%s\"%s: the script printed to "
			       "stdout, which shifts every pixel after it; %s",
			       c->text_quote, what, print_fix);
		return; /* the bytes after a text line are shifted: no other pattern holds */
	}
	if (!c->patterns)
		return;
	if ((w = check_wide_values(f, n)) != CHECK_WIDE_NONE) {
		size_t k = wide_bytes(w);
		int unit =
		    (w == CHECK_WIDE_FLOAT64 || w == CHECK_WIDE_FLOAT32) && unit_floats(f, n, k);
		refuse(c,
		       "the first frame reads as %s numbers, not bytes: a numpy array written "
		       "without .astype(np.uint8) (%zu bytes a value, %s bytes a frame, not %s); "
		       "write %s.astype(np.uint8).tobytes()",
		       wide_name(w), k, checks_grouped(a, sizeof(a), (uint64_t)n * k),
		       checks_grouped(b, sizeof(b), n),
		       unit ? "(np.clip(a, 0, 1) * 255)" : "np.clip(a, 0, 255)");
		return;
	}
	if ((cls = check_alpha_bytes(f, n)) >= 0) {
		refuse(c,
		       "every 4th byte of the first frame is 255 and the rest vary: 4-byte pixels "
		       "with alpha (RGBA or BGRA, %dx%dx4 = %s bytes a frame) sent as %s (%s); "
		       "send 3-byte RGB (Pillow: img.convert(\"RGB\"), numpy: a[..., :3]) or run "
		       "with --pix-fmt rgba",
		       c->width, c->height,
		       checks_grouped(a, sizeof(a), (uint64_t)c->width * (uint64_t)c->height * 4),
		       c->fmt, checks_grouped(b, sizeof(b), n));
		return;
	}
	check_row_stride(f, n, c->width, c->height, c->bpp, &c->stride);
}

void checks_frame(struct render_checks *c, const uint8_t *f)
{
	c->frames_seen++;
	if (c->black_watch && c->all_black)
		c->all_black = check_solid_black(f, c->frame_bytes, c->bpp);
}

/* Another frame size the length may be a whole multiple of. */
struct size_guess {
	uint64_t bytes;
	int w, h;  /* a common size, or the job's with another depth */
	int depth; /* bytes a pixel */
	const char *what;
};

static size_t size_guesses(const struct render_checks *c, struct size_guess *out, size_t max)
{
	uint64_t px = (uint64_t)c->width * (uint64_t)c->height;
	int bpp = c->bpp ? c->bpp : 3;
	size_t k = 0;

#define ADD(b_, w_, h_, d_, what_)                                                                 \
	do {                                                                                       \
		if (k < max && (b_) != c->frame_bytes)                                             \
			out[k++] = (struct size_guess){(b_), (w_), (h_), (d_), (what_)};           \
	} while (0)
	/* Most likely first. A float or int64 stream in a pixel's range is refused at its
	 * first frame already, so those come last (their sizes collide with common ones:
	 * 320x180x12 is 640x360x3). */
	if (bpp != 4)
		ADD(px * 4, c->width, c->height, 4, "rgba");
	if (bpp != 1)
		ADD(px, c->width, c->height, 1, "gray");
	for (size_t i = 0; i < sizeof(common_sizes) / sizeof(common_sizes[0]); i++)
		if (common_sizes[i].w != c->width || common_sizes[i].h != c->height)
			ADD((uint64_t)common_sizes[i].w * (uint64_t)common_sizes[i].h *
				(uint64_t)bpp,
			    common_sizes[i].w, common_sizes[i].h, bpp, "size");
	ADD(px * (uint64_t)bpp * 8, c->width, c->height, bpp * 8, "float64");
	ADD(px * (uint64_t)bpp * 4, c->width, c->height, bpp * 4, "float32");
#undef ADD
	return k;
}

/* Whether the first frame's row stride says the same as a size guess. */
static int stride_agrees(const struct render_checks *c, const struct size_guess *s)
{
	if (!strcmp(s->what, "size") && s->w == c->stride.multiple_width)
		return 1;
	switch (c->stride.kind) {
	case CHECK_STRIDE_WIDTH:
		return !strcmp(s->what, "size") && s->w == c->stride.width;
	case CHECK_STRIDE_GRAY:
		return !strcmp(s->what, "gray");
	case CHECK_STRIDE_RGBA:
		return !strcmp(s->what, "rgba");
	default:
		return 0;
	}
}

/* "that is ..." / "N bytes a frame is ...": the clause a size guess stands for. */
static void guess_clause(const struct render_checks *c, const struct size_guess *s, uint64_t frames,
			 int certain, char *buf, size_t n)
{
	char a[32];

	checks_grouped(a, sizeof(a), s->bytes);
	if (!strcmp(s->what, "size"))
		snprintf(buf, n,
			 "that is %" PRIu64 " frames of %dx%d %s: %s use WIDTH and HEIGHT from "
			 "the environment",
			 frames, s->w, s->h, c->fmt,
			 certain ? "the script hard-codes its size;"
				 : "does the script hard-code its size?");
	else if (!strcmp(s->what, "rgba"))
		snprintf(buf, n,
			 "%s bytes a frame is %dx%dx4: RGBA? send 3-byte RGB (a[..., :3]) or run "
			 "with --pix-fmt rgba",
			 a, s->w, s->h);
	else if (!strcmp(s->what, "gray"))
		snprintf(buf, n,
			 "%s bytes a frame is %dx%dx1: gray pixels? convert to RGB or run with "
			 "--pix-fmt gray",
			 a, s->w, s->h);
	else
		snprintf(buf, n,
			 "%s bytes a frame is %dx%dx%d: %s (or int%d) values? write "
			 "a.astype(np.uint8)",
			 a, s->w, s->h, s->depth, s->what, !strcmp(s->what, "float64") ? 64 : 32);
}

void checks_end(struct render_checks *c, uint64_t total, int complete)
{
	struct size_guess g[24];
	size_t ng;
	char sentence[RENDER_REFUSAL_LEN], a[32];
	int promoted = 0;

	if (c->black_watch && c->all_black && c->frames_seen >= 2)
		add_warning(c,
			    "all %" PRId64 " frames are solid black: did the drawing reach the "
			    "frames? (an array never filled, shapes drawn outside the picture)",
			    c->frames_seen);
	if (complete && c->frames_wanted && total && total % c->frame_bytes == 0) {
		ng = size_guesses(c, g, sizeof(g) / sizeof(g[0]));
		for (size_t i = 0; i < ng; i++) {
			if (total != (uint64_t)c->frames_wanted * g[i].bytes)
				continue;
			guess_clause(c, &g[i], (uint64_t)c->frames_wanted, stride_agrees(c, &g[i]),
				     sentence, sizeof(sentence));
			if (stride_agrees(c, &g[i])) {
				/* Two independent findings agree: the length and the rows. */
				refuse(
				    c,
				    "the script wrote %s bytes, exactly FRAMES (%" PRId64
				    ") frames of another shape, and the first frame's rows agree: "
				    "%s",
				    checks_grouped(a, sizeof(a), total), c->frames_wanted,
				    sentence);
				promoted = 1;
			} else {
				add_warning(c,
					    "the script wrote exactly FRAMES (%" PRId64
					    ") frames of "
					    "another shape: %s",
					    c->frames_wanted, sentence);
			}
			break;
		}
	}
	if (c->stride.kind && !promoted) {
		stride_sentence(c, sentence, sizeof(sentence));
		add_warning(c, "%s", sentence);
	}
}

void checks_explain_length(const struct render_checks *c, int width, int height, const char *fmt,
			   size_t frame_bytes, uint64_t total, const uint8_t *tail, size_t tail_len,
			   char *err, size_t errlen)
{
	uint64_t whole = total / frame_bytes, extra = total % frame_bytes;
	char t[32], x[32], fb[32], hint[RENDER_REFUSAL_LEN], q[48];
	size_t len = 0;

	checks_grouped(t, sizeof(t), total);
	checks_grouped(x, sizeof(x), extra);
	checks_grouped(fb, sizeof(fb), frame_bytes);
	snprintf(hint, sizeof(hint), "did the script print text to stdout?");
	if (c && c->refused) {
		snprintf(hint, sizeof(hint), "%s", c->refusal);
	} else if (c && c->text) {
		snprintf(hint, sizeof(hint), "the stream starts with the text \"%s\": %s",
			 c->text_quote, print_fix);
	} else if (tail && whole == 0 && check_text_line(tail, tail_len, &len)) {
		quote_text(q, sizeof(q), tail, len);
		snprintf(hint, sizeof(hint), "the stream starts with the text \"%s\": %s", q,
			 print_fix);
	} else if (tail && tail_len && tail_len == extra && (len = tail_text(tail, tail_len))) {
		quote_text(q, sizeof(q), tail, len);
		snprintf(hint, sizeof(hint),
			 "its last %s bytes are the text \"%s\": the script printed to stdout; %s",
			 x, q, print_fix);
	} else if (c) {
		struct size_guess g[24];
		size_t ng = size_guesses(c, g, sizeof(g) / sizeof(g[0])), pick = ng;

		/* The guess that makes it exactly FRAMES frames, else the one the rows agree
		 * with, else the first that divides the length. */
		for (size_t i = 0; i < ng && pick == ng; i++)
			if (total % g[i].bytes == 0 && c->frames_wanted &&
			    total / g[i].bytes == (uint64_t)c->frames_wanted)
				pick = i;
		for (size_t i = 0; i < ng && pick == ng; i++)
			if (total % g[i].bytes == 0 && stride_agrees(c, &g[i]))
				pick = i;
		for (size_t i = 0; i < ng && pick == ng; i++)
			if (total % g[i].bytes == 0)
				pick = i;
		if (pick < ng)
			guess_clause(c, &g[pick], total / g[pick].bytes, stride_agrees(c, &g[pick]),
				     hint, sizeof(hint));
		else if (c->stride.kind)
			stride_sentence(c, hint, sizeof(hint));
	}
	if (whole == 0)
		snprintf(err, errlen, "%s bytes, less than one frame of %dx%d %s (%s bytes): %s", t,
			 width, height, fmt, fb, hint);
	else
		snprintf(err, errlen,
			 "%s bytes: %s bytes more than %" PRIu64 " frame%s of %dx%d %s: %s", t, x,
			 whole, whole == 1 ? "" : "s", width, height, fmt, hint);
}
