/*
 * smtpdata.c - the wire form of a queued message for SMTP DATA.
 *
 * Owns the conversion of a stored M file into what goes between DATA and
 * the final dot: canonical CRLF line ends, dot-stuffing, and no line
 * over 998 bytes (MIME-aware re-encoding, see below).  It counts (SIZE,
 * 8BITMIME) and writes with the same walk.
 *
 * Side effects: writes through the smtp_conn of net.c only.  No
 * privilege is used; the M file arrives already opened.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dma.h"

#define SMTP_WIRE_MAX	998	/* octets of a line on the wire, CRLF excluded */
#define QP_LINE_MAX	76	/* RFC 2045 6.7 (5) */
#define B64_LINE	76
#define MIME_DEPTH_MAX	10	/* nesting of multiparts / message/rfc822 */
#define MIME_FIELD_MAX	2048	/* unfolded MIME header value we look at */
#define MIME_BOUNDARY_MAX 200	/* RFC 2046 says 70; be lenient */

/* ---- message wire form ----------------------------------------------- */

/*
 * The M file is loaded whole and indexed by lines; any LF, CRLF or bare
 * CR ends a line.  The same walk first counts (SIZE, 8BITMIME) and then
 * writes, so the declared size is the size sent.
 *
 * Lines over 998 bytes cannot be sent as they are.  The walk follows the
 * MIME structure (multipart and message/rfc822, nested up to
 * MIME_DEPTH_MAX) down to each leaf entity and re-encodes only a leaf
 * whose body has such a line, so the recipient decodes the same content:
 *   quoted-printable  long lines get soft line breaks ("=" CRLF);
 *   base64            long lines are cut (decoders ignore line breaks);
 *   anything else     (7bit, 8bit, binary, none, unknown tokens) the body
 *                     is encoded as quoted-printable, the entity's old
 *                     Content-Transfer-Encoding field is dropped and a new
 *                     one added; MIME-Version added to a message header
 *                     missing it.
 * Overlong header lines are folded before a space or TAB (unfolding gives
 * the original); a header line without such a place is cut and continued
 * with an added space (XXX: that changes the field, no exact way exists).
 * Overlong multipart preamble/epilogue/delimiter lines are cut (MIME
 * readers ignore them).
 */
struct sline {
	size_t	 off, len;
};

struct smtp_msg {
	char	*buf;
	size_t	 len;
	struct sline *ln;
	size_t	 n, cap;
	size_t	 size;		/* wire bytes, without the final ".\r\n" */
	int	 has8bit;
};

struct emit {
	struct smtp_conn *c;	/* NULL: count only */
	const struct smtp_msg *m;
	size_t	 size;
	int	 has8bit;
};

struct ent {
	size_t	 hb, he;	/* header lines [hb, he) */
	size_t	 bb, be;	/* body lines [bb, be) */
	int	 blank;		/* a blank line at he separates them */
	int	 multipart, rfc822, mimever;
	char	 cte[32];	/* lower case, "" when absent */
	char	 boundary[MIME_BOUNDARY_MAX + 1];
};

#define LP(m, i)	((m)->buf + (m)->ln[i].off)
#define LL(m, i)	((m)->ln[i].len)

static void
msg_addline(struct smtp_msg *m, size_t off, size_t len)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 256;
		m->ln = xrealloc(m->ln, m->cap * sizeof(*m->ln));
	}
	m->ln[m->n].off = off;
	m->ln[m->n].len = len;
	m->n++;
}

static void
msg_free(struct smtp_msg *m)
{
	free(m->buf);
	free(m->ln);
	memset(m, 0, sizeof(*m));
}

/* msg_load - read fp from its start and index its lines */
static int
msg_load(FILE *fp, struct smtp_msg *m, char *why, size_t whylen)
{
	size_t cap = 65536, i, start;
	size_t r;

	memset(m, 0, sizeof(*m));
	if (fp == NULL) {
		snprintf(why, whylen, "queued message not open");
		return (-1);
	}
	rewind(fp);
	m->buf = xmalloc(cap);
	while ((r = fread(m->buf + m->len, 1, cap - m->len, fp)) > 0) {
		m->len += r;
		if (m->len == cap) {
			cap *= 2;
			m->buf = xrealloc(m->buf, cap);
		}
	}
	if (ferror(fp)) {
		snprintf(why, whylen, "cannot read the queued message: %s", strerror(errno));
		msg_free(m);
		return (-1);
	}
	for (i = start = 0; i < m->len; ) {
		char ch = m->buf[i];

		if (ch != '\n' && ch != '\r') {
			i++;
			continue;
		}
		msg_addline(m, start, i - start);
		if (ch == '\r' && i + 1 < m->len && m->buf[i + 1] == '\n')
			i++;
		start = ++i;
	}
	if (start < m->len)
		msg_addline(m, start, m->len - start);
	return (0);
}

static void
emit_raw(struct emit *e, const char *p, size_t n)
{
	size_t i;

	e->size += n;
	if (!e->has8bit) {
		for (i = 0; i < n; i++) {
			if ((unsigned char)p[i] >= 0x80) {
				e->has8bit = 1;
				break;
			}
		}
	}
	if (e->c != NULL)
		smtp_conn_put(e->c, p, n, smtp_timeout(SMTP_TMO_BLOCK));
}

/* emit_line - one line (at most SMTP_WIRE_MAX wire bytes), dot-stuffed */
static void
emit_line(struct emit *e, const char *p, size_t n)
{
	if (n > 0 && p[0] == '.')
		emit_raw(e, ".", 1);
	emit_raw(e, p, n);
	emit_raw(e, "\r\n", 2);
}

static int
line_long(const char *p, size_t n)
{
	return (n + (n > 0 && p[0] == '.') > SMTP_WIRE_MAX);
}

/* emit_cut - a line cut into pieces of at most w bytes (w < SMTP_WIRE_MAX) */
static void
emit_cut(struct emit *e, const char *p, size_t n, size_t w)
{
	while (n > w) {
		emit_line(e, p, w);
		p += w;
		n -= w;
	}
	emit_line(e, p, n);
}

/*
 * emit_fit - a multipart preamble, delimiter or epilogue line, or one of
 * a message/rfc822 body without a header: sent as is when it fits on the
 * wire, cut only when it does not.
 */
static void
emit_fit(struct emit *e, const char *p, size_t n)
{
	if (line_long(p, n))
		emit_cut(e, p, n, SMTP_WIRE_MAX - 1);
	else
		emit_line(e, p, n);
}

/* emit_folded - a header line, folded before whitespace when too long */
static void
emit_folded(struct emit *e, const char *p, size_t n)
{
	char seg[SMTP_WIRE_MAX + 1];
	size_t lim, i, cut, fnw;
	int cont = 0;		/* this piece needs a leading space */

	if (!line_long(p, n)) {
		emit_line(e, p, n);
		return;
	}
	while (n + (size_t)cont > SMTP_WIRE_MAX - 1) {
		lim = SMTP_WIRE_MAX - 1 - (size_t)cont;
		for (fnw = 0; fnw < n && (p[fnw] == ' ' || p[fnw] == '\t'); fnw++)
			;
		cut = 0;
		for (i = lim; i > fnw; i--) {
			if (p[i] == ' ' || p[i] == '\t') {
				cut = i;
				break;
			}
		}
		if (cut == 0)
			cut = lim;
		seg[0] = ' ';
		memcpy(seg + cont, p, cut);
		emit_line(e, seg, cut + (size_t)cont);
		cont = !(p[cut] == ' ' || p[cut] == '\t');
		p += cut;
		n -= cut;
	}
	seg[0] = ' ';
	memcpy(seg + cont, p, n);
	emit_line(e, seg, n + (size_t)cont);
}

/* emit_qp_soft - an already quoted-printable line, given soft breaks */
static void
emit_qp_soft(struct emit *e, const char *p, size_t n)
{
	char seg[QP_LINE_MAX + 1];
	size_t cut;

	while (n > QP_LINE_MAX) {
		cut = QP_LINE_MAX - 1;
		if (p[cut - 1] == '=')
			cut -= 1;
		else if (p[cut - 2] == '=')
			cut -= 2;
		memcpy(seg, p, cut);
		seg[cut] = '=';
		emit_line(e, seg, cut + 1);
		p += cut;
		n -= cut;
	}
	emit_line(e, p, n);
}

/* emit_qp_encode - one body line encoded as quoted-printable (RFC 2045 6.7) */
static void
emit_qp_encode(struct emit *e, const char *p, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	char seg[QP_LINE_MAX + 4];
	size_t i, col = 0;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		int enc = ch == '=' || ch >= 0x7f || (ch < 0x20 && ch != '\t') ||
		    ((ch == ' ' || ch == '\t') && i == n - 1);
		size_t w = enc ? 3 : 1;

		if (col + w > QP_LINE_MAX - 1) {
			seg[col++] = '=';
			emit_line(e, seg, col);
			col = 0;
		}
		if (enc) {
			seg[col++] = '=';
			seg[col++] = hex[ch >> 4];
			seg[col++] = hex[ch & 15];
		} else
			seg[col++] = (char)ch;
	}
	emit_line(e, seg, col);
}

static int
is_wsp(char ch)
{
	return (ch == ' ' || ch == '\t');
}

/* field_line - p is "name:" with a printable name */
static int
field_line(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && p[i] != ':'; i++) {
		if ((unsigned char)p[i] <= 32 || (unsigned char)p[i] >= 127)
			return (0);
	}
	return (i > 0 && i < n);
}

static int
field_is(const char *p, size_t n, const char *name)
{
	size_t k = strlen(name);

	return (n > k && strncasecmp(p, name, k) == 0 && p[k] == ':');
}

/* field_value - unfolded value of the field at line i (capped) */
static void
field_value(const struct smtp_msg *m, size_t i, size_t end, char *out, size_t outlen)
{
	const char *p = (const char *)memchr(LP(m, i), ':', LL(m, i)) + 1;
	size_t n = LL(m, i) - (size_t)(p - LP(m, i)), o = 0;

	for (;;) {
		size_t k = n < outlen - 1 - o ? n : outlen - 1 - o;

		memcpy(out + o, p, k);
		o += k;
		if (++i >= end || LL(m, i) == 0 || !is_wsp(LP(m, i)[0]))
			break;
		p = LP(m, i);
		n = LL(m, i);
	}
	out[o] = '\0';
	smtp_sanitise(out, o);
}

/* skip_qstring - past a quoted-string starting at *p, collecting it */
static const char *
skip_qstring(const char *p, char *val, size_t vlen)
{
	size_t o = 0;

	for (p++; *p != '\0' && *p != '"'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		if (o + 1 < vlen)
			val[o++] = *p;
	}
	if (vlen > 0)
		val[o] = '\0';
	return (*p == '"' ? p + 1 : p);
}

/* ctype_parse - type and boundary parameter of a Content-Type value */
static void
ctype_parse(const char *p, struct ent *h)
{
	char val[MIME_BOUNDARY_MAX + 2];
	const char *name;
	size_t k, nl;

	p += strspn(p, " \t");
	k = strcspn(p, "; \t");
	if (k > 10 && strncasecmp(p, "multipart/", 10) == 0)
		h->multipart = 1;
	else if (k == 14 && strncasecmp(p, "message/rfc822", 14) == 0)
		h->rfc822 = 1;
	p += k;
	for (;;) {
		p += strspn(p, " \t");
		if (*p == '\0')
			break;
		if (*p != ';') {
			p = *p == '"' ? skip_qstring(p, val, 0) : p + 1;
			continue;
		}
		p++;
		p += strspn(p, " \t");
		name = p;
		nl = strcspn(p, "=; \t");
		p += nl;
		p += strspn(p, " \t");
		if (*p != '=')
			continue;
		p++;
		p += strspn(p, " \t");
		if (*p == '"')
			p = skip_qstring(p, val, sizeof(val));
		else {
			k = strcspn(p, "; \t");
			if (k >= sizeof(val))
				k = sizeof(val) - 1;
			memcpy(val, p, k);
			val[k] = '\0';
			p += strcspn(p, "; \t");
		}
		if (nl == 8 && strncasecmp(name, "boundary", 8) == 0 &&
		    val[0] != '\0' && strlen(val) <= MIME_BOUNDARY_MAX)
			strlcpy(h->boundary, val, sizeof(h->boundary));
	}
}

/* ent_parse - split lines [beg, end) into header and body, read MIME fields */
static void
ent_parse(const struct smtp_msg *m, size_t beg, size_t end, struct ent *h)
{
	char val[MIME_FIELD_MAX];
	size_t i, k;

	memset(h, 0, sizeof(*h));
	h->hb = beg;
	h->be = end;
	for (i = beg; i < end; i++) {
		const char *p = LP(m, i);
		size_t n = LL(m, i);

		if (n == 0) {
			h->blank = 1;
			break;
		}
		if (is_wsp(p[0]) && i > beg)
			continue;
		if (!field_line(p, n))
			break;
		if (field_is(p, n, "Content-Type")) {
			field_value(m, i, end, val, sizeof(val));
			ctype_parse(val, h);
		} else if (field_is(p, n, "Content-Transfer-Encoding")) {
			field_value(m, i, end, val, sizeof(val));
			k = strspn(val, " \t");
			strlcpy(h->cte, val + k, sizeof(h->cte));
			h->cte[strcspn(h->cte, " \t(")] = '\0';
		} else if (field_is(p, n, "MIME-Version"))
			h->mimever = 1;
	}
	h->he = i;
	h->bb = h->blank ? i + 1 : i;
}

/* emit_header - header lines of h; rewrite drops CTE and declares QP */
static void
emit_header(struct emit *e, const struct ent *h, int rewrite, int top)
{
	size_t i;
	int skipping = 0;

	for (i = h->hb; i < h->he; i++) {
		const char *p = LP(e->m, i);
		size_t n = LL(e->m, i);

		if (skipping && n > 0 && is_wsp(p[0]))
			continue;
		skipping = rewrite && field_is(p, n, "Content-Transfer-Encoding");
		if (!skipping)
			emit_folded(e, p, n);
	}
	if (rewrite) {
		static const char mv[] = "MIME-Version: 1.0";
		static const char qp[] = "Content-Transfer-Encoding: quoted-printable";

		if (top && !h->mimever)
			emit_line(e, mv, sizeof(mv) - 1);
		emit_line(e, qp, sizeof(qp) - 1);
	}
	if (h->blank || (rewrite && h->bb < h->be))
		emit_line(e, "", 0);
}

static void
emit_leaf(struct emit *e, const struct ent *h, int top)
{
	const struct smtp_msg *m = e->m;
	size_t i;
	int need = 0;

	for (i = h->bb; i < h->be && !need; i++)
		need = line_long(LP(m, i), LL(m, i));
	if (!need) {
		emit_header(e, h, 0, top);
		for (i = h->bb; i < h->be; i++)
			emit_line(e, LP(m, i), LL(m, i));
	} else if (strcasecmp(h->cte, "quoted-printable") == 0) {
		emit_header(e, h, 0, top);
		for (i = h->bb; i < h->be; i++)
			emit_qp_soft(e, LP(m, i), LL(m, i));
	} else if (strcasecmp(h->cte, "base64") == 0) {
		emit_header(e, h, 0, top);
		for (i = h->bb; i < h->be; i++)
			emit_cut(e, LP(m, i), LL(m, i), B64_LINE);
	} else {
		emit_header(e, h, 1, top);
		for (i = h->bb; i < h->be; i++)
			emit_qp_encode(e, LP(m, i), LL(m, i));
	}
}

/* delim - 1 for a boundary delimiter line, 2 for the close delimiter */
static int
delim(const char *p, size_t n, const char *b)
{
	size_t bl = strlen(b), i = bl + 2;
	int kind = 1;

	if (n < i || p[0] != '-' || p[1] != '-' || memcmp(p + 2, b, bl) != 0)
		return (0);
	if (n >= i + 2 && p[i] == '-' && p[i + 1] == '-') {
		kind = 2;
		i += 2;
	}
	for (; i < n; i++) {
		if (!is_wsp(p[i]))
			return (0);
	}
	return (kind);
}

static void walk(struct emit *e, size_t beg, size_t end, int depth, int top);

static void
walk_multipart(struct emit *e, const struct ent *h, int depth)
{
	const struct smtp_msg *m = e->m;
	size_t i = h->bb, j;
	int kind;

	emit_header(e, h, 0, 0);
	for (; i < h->be && delim(LP(m, i), LL(m, i), h->boundary) == 0; i++)
		emit_fit(e, LP(m, i), LL(m, i));
	while (i < h->be) {
		kind = delim(LP(m, i), LL(m, i), h->boundary);
		emit_fit(e, LP(m, i), LL(m, i));
		i++;
		if (kind == 2) {
			for (; i < h->be; i++)
				emit_fit(e, LP(m, i), LL(m, i));
			break;
		}
		for (j = i; j < h->be && delim(LP(m, j), LL(m, j), h->boundary) == 0; j++)
			;
		walk(e, i, j, depth + 1, 0);
		i = j;
	}
}

static int
cte_identity(const char *cte)
{
	return (cte[0] == '\0' || strcasecmp(cte, "7bit") == 0 ||
	    strcasecmp(cte, "8bit") == 0 || strcasecmp(cte, "binary") == 0);
}

/* walk - emit the entity in lines [beg, end) */
static void
walk(struct emit *e, size_t beg, size_t end, int depth, int top)
{
	struct ent h;
	size_t i;

	ent_parse(e->m, beg, end, &h);
	if (depth < MIME_DEPTH_MAX && h.multipart && h.boundary[0] != '\0') {
		walk_multipart(e, &h, depth);
	} else if (depth < MIME_DEPTH_MAX && h.rfc822 && cte_identity(h.cte)) {
		emit_header(e, &h, 0, top);
		if (h.blank)
			walk(e, h.bb, h.be, depth + 1, 1);
		else {
			for (i = h.bb; i < h.be; i++)
				emit_fit(e, LP(e->m, i), LL(e->m, i));
		}
	} else
		emit_leaf(e, &h, top);
}

int
smtp_data_write(struct smtp_conn *c, FILE *msg, size_t *size, int *has8bit,
    char *why, size_t whylen)
{
	struct smtp_msg m;
	struct emit e;

	if (msg_load(msg, &m, why, whylen) != 0)
		return (-1);
	memset(&e, 0, sizeof(e));
	e.c = c;
	e.m = &m;
	walk(&e, 0, m.n, 0, 1);
	msg_free(&m);
	*size = e.size;
	*has8bit = e.has8bit;
	if (c != NULL && smtp_conn_flush(c, smtp_timeout(SMTP_TMO_BLOCK)) != 0) {
		snprintf(why, whylen, "write error: %s", strerror(c->err));
		return (-1);
	}
	return (0);
}


/* smtp_msg_load - load and measure the M file; NULL with why set */
struct smtp_msg *
smtp_msg_load(FILE *fp, char *why, size_t whylen)
{
	struct smtp_msg *m = xcalloc(1, sizeof(*m));
	struct emit e;

	if (msg_load(fp, m, why, whylen) != 0) {
		free(m);
		return (NULL);
	}
	memset(&e, 0, sizeof(e));
	e.m = m;
	walk(&e, 0, m->n, 0, 1);
	m->size = e.size;
	m->has8bit = e.has8bit;
	return (m);
}

size_t
smtp_msg_size(const struct smtp_msg *m)
{
	return (m->size);
}

int
smtp_msg_has8bit(const struct smtp_msg *m)
{
	return (m->has8bit);
}

/* smtp_msg_send - the message in wire form, without the final dot */
void
smtp_msg_send(struct smtp_conn *c, const struct smtp_msg *m)
{
	struct emit e;

	memset(&e, 0, sizeof(e));
	e.c = c;
	e.m = m;
	walk(&e, 0, m->n, 0, 1);
}

void
smtp_msg_free(struct smtp_msg *m)
{
	if (m == NULL)
		return;
	msg_free(m);
	free(m);
}
