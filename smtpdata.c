/*
 * smtpdata.c - the wire form of a queued message for SMTP DATA.
 *
 * Owns the conversion of a stored M file into what goes between DATA and
 * the final dot: canonical CRLF line ends, dot-stuffing, and no line
 * over 998 bytes (MIME-aware re-encoding, see below), and for mail to
 * another host the header addresses qualified (hdrqual.c).  It counts
 * (SIZE, 8BITMIME) and writes with the same walk.
 *
 * Side effects: reads the M file (already opened) and writes through the
 * smtp_conn of net.c only.  No privilege is used.  Memory is about
 * 170 kB per message, whatever its size or the length of its lines.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "dma.h"

#define SMTP_WIRE_MAX	998	/* octets of a line on the wire, CRLF excluded */
#define QP_LINE_MAX	76	/* RFC 2045 6.7 (5) */
#define B64_LINE	76
#define MIME_DEPTH_MAX	10	/* nesting of multiparts / message/rfc822 */
#define MIME_FIELD_MAX	2048	/* unfolded MIME header value we look at */
#define MIME_BOUNDARY_MAX 200	/* RFC 2046 says 70; be lenient */
#define MSG_BLOCK	65536	/* bytes read from the M file at once */
#define MSG_PIECE	16384	/* a longer line is handled in pieces */

/* ---- message wire form ----------------------------------------------- */

/*
 * The M file is streamed, never held in memory: any LF, CRLF or bare CR
 * ends a line, and a line longer than MSG_PIECE bytes is handled in
 * pieces, so memory does not depend on the size of the message or of its
 * lines.  A first pass finds what needs re-encoding (below) and counts;
 * when something does, a second pass counts again with it; the pass at
 * DATA writes.  The declared size is the size sent.
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
 * readers ignore them).  A boundary delimiter, a header field name and
 * the MIME fields are recognised within the first MSG_PIECE bytes of a
 * line.
 */

/* How the body lines of a leaf entity are sent. */
enum lmode {
	L_PLAIN,		/* as they are */
	L_QPSOFT,		/* quoted-printable given soft breaks */
	L_CUT,			/* base64 cut at B64_LINE */
	L_REENC,		/* encoded as quoted-printable */
};

/* What the lines of the innermost entity being walked are. */
enum fkind {
	F_HEAD,			/* header lines */
	F_LEAF,			/* body of a leaf */
	F_PRE,			/* multipart preamble, before the first delimiter */
	F_PART,			/* multipart: a part (the next frame) is open */
	F_EPI,			/* multipart epilogue, after the close delimiter */
	F_MSG,			/* message/rfc822: its message (next frame) is open */
	F_FIT,			/* message/rfc822 body without a header */
};

struct ent {
	int	 multipart, rfc822, mimever;
	char	 cte[32];	/* lower case, "" when absent */
	char	 boundary[MIME_BOUNDARY_MAX + 1];
};

/* One entity being walked. */
struct frame {
	enum fkind kind;
	int	 depth, top;
	unsigned ord;		/* entities in document order */
	struct ent h;
	size_t	 nhead;		/* header lines so far */
	int	 field;		/* collecting: 1 Content-Type, 2 -Transfer-Encoding */
	int	 skipping;	/* dropping an old Content-Transfer-Encoding */
	enum lmode mode;
	int	 need;		/* scan: a body line is too long */
	size_t	 linelen;	/* scan: of the body line so far */
};

/* A leaf that needs re-encoding, found by the scan. */
struct needed {
	unsigned ord;
	enum lmode mode;
};

struct smtp_msg {
	FILE	*fp;
	size_t	 size;		/* wire bytes, without the final ".\r\n" */
	int	 has8bit;
	int	 utf8hdr;	/* the top-level header has bytes >= 0x80 */
	struct needed *need;
	size_t	 nneed, capneed;
	/* the reader */
	unsigned char blk[MSG_BLOCK];
	size_t	 bpos, blen;
	char	*qdom;		/* qualify header addresses with it, or NULL */
	char	*qfrom;		/* REWRITEFROM: the new From address, or NULL */
	int	 midline;	/* in the middle of a line */
	int	 skiplf;	/* the last line ended in CR: an LF may follow */
	char	 piece[MSG_PIECE];
};

struct emit {
	struct smtp_conn *c;	/* NULL: count only */
	struct smtp_msg *m;
	int	 scan;		/* first pass: find the leaves to re-encode */
	size_t	 size;
	int	 has8bit;
	struct frame st[MIME_DEPTH_MAX + 2];
	int	 nst;
	unsigned nord;		/* entities begun */
	size_t	 cursor;	/* next of m->need */
	char	 fval[MIME_FIELD_MAX];	/* the MIME field being collected */
	size_t	 flen;
	/* a line handled in pieces: what is left of it */
	char	 cy[MSG_PIECE + SMTP_WIRE_MAX + 8];
	size_t	 cylen;
	int	 cont;		/* folding: the next segment needs a space */
	char	 seg[QP_LINE_MAX + 4];	/* quoted-printable encoding */
	size_t	 col;
	int	 pend;		/* a held back blank, or -1 */
	/* an address field of the message's header, held (hdrqual.c) */
	int	 hqon;		/* 1 held, 2 too long: passed on as it is */
	int	 hqopen;	/* its last line is not complete yet */
	size_t	 hqlen;
	char	 hq[HDRQUAL_FIELD_MAX];
};

/* ---- reading the M file ---------------------------------------------- */

/*
 * msg_rewind - to the start of the message in its M file (the one place
 * that knows where it starts)
 */
static int
msg_rewind(FILE *fp)
{
	clearerr(fp);
	return (fseeko(fp, 0, SEEK_SET));
}

/* rd_fill - the next block: 1, 0 at the end, -1 on a read error */
static int
rd_fill(struct smtp_msg *m)
{
	size_t r = fread(m->blk, 1, sizeof(m->blk), m->fp);

	m->bpos = 0;
	m->blen = r;
	if (r == 0 && ferror(m->fp))
		return (-1);
	return (r > 0);
}

/*
 * rd_piece - the next line, or the next MSG_PIECE bytes of a longer one,
 * into m->piece, without its line end: 1 (*first: a line begins, *last:
 * it ends here), 0 after the last line, -1 on a read error (errno)
 */
static int
rd_piece(struct smtp_msg *m, size_t *np, int *first, int *last)
{
	const unsigned char *s;
	size_t n = 0, k, lim;
	int r;

	*first = !m->midline;
	for (;;) {
		if (m->bpos == m->blen) {
			if ((r = rd_fill(m)) < 0)
				return (-1);
			if (r == 0) {
				m->skiplf = 0;
				if (n == 0 && !m->midline)
					return (0);
				m->midline = 0;
				*np = n;
				*last = 1;
				return (1);
			}
		}
		if (m->skiplf) {
			m->skiplf = 0;
			if (m->blk[m->bpos] == '\n') {
				m->bpos++;
				continue;
			}
		}
		s = m->blk + m->bpos;
		lim = m->blen - m->bpos;
		if (lim > MSG_PIECE - n)
			lim = MSG_PIECE - n;
		for (k = 0; k < lim && s[k] != '\n' && s[k] != '\r'; k++)
			;
		memcpy(m->piece + n, s, k);
		n += k;
		m->bpos += k;
		if (k < lim) {
			m->skiplf = s[k] == '\r';
			m->bpos++;
			m->midline = 0;
			*np = n;
			*last = 1;
			return (1);
		}
		if (n == MSG_PIECE) {
			m->midline = 1;
			*np = n;
			*last = 0;
			return (1);
		}
	}
}

/* ---- writing --------------------------------------------------------- */

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

/*
 * The runners below send a line, or what has come of a long line so far
 * (last: the line ends here), and return the bytes they used; what they
 * leave waits for the next piece (carry).
 */

/* run_cut - lines of w bytes while more than w are left */
static size_t
run_cut(struct emit *e, const char *p, size_t n, size_t w, int last)
{
	size_t o = 0;

	while (n - o > w) {
		emit_line(e, p + o, w);
		o += w;
	}
	if (last) {
		emit_line(e, p + o, n - o);
		o = n;
	}
	return (o);
}

/* run_qpsoft - an already quoted-printable line, given soft breaks */
static size_t
run_qpsoft(struct emit *e, const char *p, size_t n, int last)
{
	char seg[QP_LINE_MAX + 1];
	const char *q;
	size_t cut, o = 0;

	while (n - o > QP_LINE_MAX) {
		q = p + o;
		cut = QP_LINE_MAX - 1;
		if (q[cut - 1] == '=')
			cut -= 1;
		else if (q[cut - 2] == '=')
			cut -= 2;
		memcpy(seg, q, cut);
		seg[cut] = '=';
		emit_line(e, seg, cut + 1);
		o += cut;
	}
	if (last) {
		emit_line(e, p + o, n - o);
		o = n;
	}
	return (o);
}

static int
is_wsp(char ch)
{
	return (ch == ' ' || ch == '\t');
}

/* has_8bit - some byte of p is >= 0x80 */
static int
has_8bit(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((unsigned char)p[i] >= 0x80)
			return (1);
	}
	return (0);
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

/* run_fold - a long header line, folded before whitespace */
static size_t
run_fold(struct emit *e, const char *p, size_t n, int last)
{
	char seg[SMTP_WIRE_MAX + 1];
	const char *q;
	size_t lim, i, cut, fnw, left, o = 0;
	int cont = e->cont;	/* this piece needs a leading space */

	while (n - o + (size_t)cont > SMTP_WIRE_MAX - 1) {
		q = p + o;
		left = n - o;
		lim = SMTP_WIRE_MAX - 1 - (size_t)cont;
		for (fnw = 0; fnw < left && is_wsp(q[fnw]); fnw++)
			;
		cut = 0;
		for (i = lim; i > fnw; i--) {
			if (is_wsp(q[i])) {
				cut = i;
				break;
			}
		}
		if (cut == 0) {
			/* no blank: cut at a character, not inside a UTF-8 one */
			cut = lim;
			for (i = 0; i < 3 && cut > fnw + 1 &&
			    ((unsigned char)q[cut] & 0xc0) == 0x80; i++)
				cut--;
		}
		seg[0] = ' ';
		memcpy(seg + cont, q, cut);
		emit_line(e, seg, cut + (size_t)cont);
		cont = !is_wsp(q[cut]);
		o += cut;
	}
	e->cont = cont;
	if (last) {
		seg[0] = ' ';
		memcpy(seg + cont, p + o, n - o);
		emit_line(e, seg, n - o + (size_t)cont);
		o = n;
		e->cont = 0;
	}
	return (o);
}

enum run {
	R_FIT,			/* cut at SMTP_WIRE_MAX - 1 */
	R_B64,			/* cut at B64_LINE */
	R_QPSOFT,
	R_FOLD,
};

/* run - runner k over p; the bytes it used */
static size_t
run(struct emit *e, enum run k, const char *p, size_t n, int last)
{
	switch (k) {
	case R_FIT:
		return (run_cut(e, p, n, SMTP_WIRE_MAX - 1, last));
	case R_B64:
		return (run_cut(e, p, n, B64_LINE, last));
	case R_QPSOFT:
		return (run_qpsoft(e, p, n, last));
	case R_FOLD:
		return (run_fold(e, p, n, last));
	}
	return (n);
}

/* feed - a piece of a line through runner k, with the carry */
static void
feed(struct emit *e, enum run k, const char *p, size_t n, int last)
{
	size_t used;

	if (e->cylen == 0) {
		used = run(e, k, p, n, last);
		memcpy(e->cy, p + used, n - used);
		e->cylen = n - used;
		return;
	}
	memcpy(e->cy + e->cylen, p, n);
	e->cylen += n;
	used = run(e, k, e->cy, e->cylen, last);
	memmove(e->cy, e->cy + used, e->cylen - used);
	e->cylen -= used;
}

/*
 * fit_piece - a multipart preamble, delimiter or epilogue line, or one
 * of a message/rfc822 body without a header: sent as is when it fits on
 * the wire, cut only when it does not (a line in pieces never fits).
 */
static void
fit_piece(struct emit *e, const char *p, size_t n, int first, int last)
{
	if (first && last && !line_long(p, n))
		emit_line(e, p, n);
	else
		feed(e, R_FIT, p, n, last);
}

/* fold_piece - a header line, folded when too long */
static void
fold_piece(struct emit *e, const char *p, size_t n, int first, int last)
{
	if (first && last && !line_long(p, n))
		emit_line(e, p, n);
	else
		feed(e, R_FOLD, p, n, last);
}

/* plain_piece - a line as it is, dot-stuffed */
static void
plain_piece(struct emit *e, const char *p, size_t n, int first, int last)
{
	if (first && n > 0 && p[0] == '.')
		emit_raw(e, ".", 1);
	emit_raw(e, p, n);
	if (last)
		emit_raw(e, "\r\n", 2);
}

/* qp_byte - one byte of a line encoded as quoted-printable (RFC 2045 6.7) */
static void
qp_byte(struct emit *e, unsigned char ch, int end)
{
	static const char hex[] = "0123456789ABCDEF";
	int enc = ch == '=' || ch >= 0x7f || (ch < 0x20 && ch != '\t') ||
	    (is_wsp((char)ch) && end);
	size_t w = enc ? 3 : 1;

	if (e->col + w > QP_LINE_MAX - 1) {
		e->seg[e->col++] = '=';
		emit_line(e, e->seg, e->col);
		e->col = 0;
	}
	if (enc) {
		e->seg[e->col++] = '=';
		e->seg[e->col++] = hex[ch >> 4];
		e->seg[e->col++] = hex[ch & 15];
	} else
		e->seg[e->col++] = (char)ch;
}

/* qp_piece - a body line encoded; a blank ending a piece waits for the next */
static void
qp_piece(struct emit *e, const char *p, size_t n, int first, int last)
{
	size_t i;

	if (first) {
		e->col = 0;
		e->pend = -1;
	}
	if (e->pend >= 0) {
		qp_byte(e, (unsigned char)e->pend, last && n == 0);
		e->pend = -1;
	}
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (i == n - 1 && !last && is_wsp((char)ch)) {
			e->pend = ch;
			break;
		}
		qp_byte(e, ch, last && i == n - 1);
	}
	if (last)
		emit_line(e, e->seg, e->col);
}

/* ---- the MIME walk ---------------------------------------------------- */

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

static int
cte_identity(const char *cte)
{
	return (cte[0] == '\0' || strcasecmp(cte, "7bit") == 0 ||
	    strcasecmp(cte, "8bit") == 0 || strcasecmp(cte, "binary") == 0);
}

/* push - an entity begins (its header first) */
static void
push(struct emit *e, int depth, int top)
{
	struct frame *f = &e->st[e->nst++];
	struct smtp_msg *m = e->m;

	memset(f, 0, sizeof(*f));
	f->kind = F_HEAD;
	f->depth = depth;
	f->top = top;
	f->ord = e->nord++;
	f->mode = L_PLAIN;
	if (!e->scan && e->cursor < m->nneed && m->need[e->cursor].ord == f->ord)
		f->mode = m->need[e->cursor++].mode;
}

/*
 * The address fields (From, To, Cc, Reply-To, Sender) of the header of a
 * message leaving for another host are held whole, up to
 * HDRQUAL_FIELD_MAX bytes, and sent once they end with their addresses
 * qualified (hdrqual.c); a longer one is sent as it is.  Held lines are
 * joined by '\n' and go out through fold_piece like any header line, so
 * the scan, the count and the write see the same bytes.
 */

/* hq_emit - b (lines joined by '\n'); open: its last line goes on */
static void
hq_emit(struct emit *e, const char *b, size_t len, int open)
{
	const char *nl;
	size_t k, o, c;
	int lastline;

	for (;;) {
		nl = memchr(b, '\n', len);
		k = nl != NULL ? (size_t)(nl - b) : len;
		lastline = nl == NULL;
		o = 0;
		do {
			c = k - o > MSG_PIECE ? MSG_PIECE : k - o;
			fold_piece(e, b + o, c, o == 0,
			    o + c == k && !(lastline && open));
			o += c;
		} while (o < k);
		if (lastline)
			return;
		b += k + 1;
		len -= k + 1;
	}
}

/* hq_add - a piece of a held field; one too long is sent as it is */
static void
hq_add(struct emit *e, const char *p, size_t n, int first, int last)
{
	size_t sep = first && e->hqlen > 0;

	if (e->hqlen + sep + n > sizeof(e->hq)) {
		hq_emit(e, e->hq, e->hqlen, e->hqopen);
		e->hqon = 2;
		fold_piece(e, p, n, first, last);
		return;
	}
	if (sep)
		e->hq[e->hqlen++] = '\n';
	memcpy(e->hq + e->hqlen, p, n);
	e->hqlen += n;
	e->hqopen = !last;
}

/* hq_end - the held field ended: sent, qualified where it parses */
static void
hq_end(struct emit *e)
{
	struct smtp_msg *m = e->m;
	char *out = NULL;
	const char *colon;
	size_t outlen = 0;
	int r;

	if (e->hqon != 1) {
		e->hqon = 0;
		return;
	}
	e->hqon = 0;
	if (m->qfrom != NULL && hdrqual_is_from(e->hq, e->hqlen))
		r = hdrqual_from(e->hq, e->hqlen, m->qfrom, &out, &outlen);
	else if (m->qdom != NULL)
		r = hdrqual_field(e->hq, e->hqlen, m->qdom, &out, &outlen);
	else
		r = 0;
	if (r < 0 && e->scan) {
		colon = memchr(e->hq, ':', e->hqlen);
		log_msg(LOG_DEBUG, "header field `%.*s' not parsed: sent as it is",
		    colon != NULL ? (int)(colon - e->hq) : 0, e->hq);
	}
	if (r == 1)
		hq_emit(e, out, outlen, 0);
	else
		hq_emit(e, e->hq, e->hqlen, 0);
	free(out);
}

/* field_add - more of the value of the MIME field being collected */
static void
field_add(struct emit *e, const char *p, size_t n)
{
	size_t k = MIME_FIELD_MAX - 1 - e->flen;

	if (n < k)
		k = n;
	memcpy(e->fval + e->flen, p, k);
	e->flen += k;
}

/* field_end - the MIME field being collected is complete: read it */
static void
field_end(struct emit *e, struct frame *f)
{
	char *val = e->fval;
	size_t k;

	hq_end(e);
	if (f->field == 0)
		return;
	val[e->flen] = '\0';
	for (k = 0; k < e->flen; k++) {
		/* control characters (but TAB) are not part of a value */
		if (((unsigned char)val[k] < 0x20 && val[k] != '\t') || val[k] == 0x7f)
			val[k] = '?';
	}
	if (f->field == 1)
		ctype_parse(val, &f->h);
	else {
		k = strspn(val, " \t");
		strlcpy(f->h.cte, val + k, sizeof(f->h.cte));
		f->h.cte[strcspn(f->h.cte, " \t(")] = '\0';
	}
	f->field = 0;
}

/* pop - the innermost entity ends; the scan notes a leaf to re-encode */
static void
pop(struct emit *e)
{
	struct frame *f = &e->st[e->nst - 1];
	struct smtp_msg *m = e->m;

	if (f->kind == F_HEAD)
		field_end(e, f);
	if (e->scan && f->kind == F_LEAF && f->need) {
		if (m->nneed == m->capneed) {
			m->capneed = m->capneed ? m->capneed * 2 : 8;
			m->need = xrealloc(m->need, m->capneed * sizeof(*m->need));
		}
		m->need[m->nneed].ord = f->ord;
		m->need[m->nneed].mode = strcasecmp(f->h.cte, "quoted-printable") == 0 ?
		    L_QPSOFT : strcasecmp(f->h.cte, "base64") == 0 ? L_CUT : L_REENC;
		m->nneed++;
	}
	e->nst--;
}

/* head_end - the header of f ended (at a blank line or not): the body's kind */
static void
head_end(struct emit *e, struct frame *f, int blank)
{
	static const char mv[] = "MIME-Version: 1.0";
	static const char qp[] = "Content-Transfer-Encoding: quoted-printable";

	field_end(e, f);
	if (f->depth < MIME_DEPTH_MAX && f->h.multipart && f->h.boundary[0] != '\0') {
		f->kind = F_PRE;
		f->mode = L_PLAIN;
	} else if (f->depth < MIME_DEPTH_MAX && f->h.rfc822 && cte_identity(f->h.cte)) {
		f->kind = blank ? F_MSG : F_FIT;
		f->mode = L_PLAIN;
	} else
		f->kind = F_LEAF;
	if (f->kind == F_LEAF && f->mode == L_REENC) {
		if (f->top && !f->h.mimever)
			emit_line(e, mv, sizeof(mv) - 1);
		emit_line(e, qp, sizeof(qp) - 1);
		blank = 1;
	}
	if (blank)
		emit_line(e, "", 0);
	if (f->kind == F_MSG)
		push(e, f->depth + 1, 1);
}

/*
 * head_piece - a header line of f (or a piece of one).  0 when it is not
 * one: the header ended before it and it belongs to the body.
 */
static int
head_piece(struct emit *e, struct frame *f, const char *p, size_t n, int first,
    int last)
{
	const char *v;

	if (first && n == 0 && last) {
		head_end(e, f, 1);
		return (1);
	}
	if (first && !(n > 0 && is_wsp(p[0]) && f->nhead > 0)) {
		if (!field_line(p, n)) {
			head_end(e, f, 0);
			return (0);
		}
		field_end(e, f);
		if (field_is(p, n, "Content-Type"))
			f->field = 1;
		else if (field_is(p, n, "Content-Transfer-Encoding"))
			f->field = 2;
		else if (field_is(p, n, "MIME-Version"))
			f->h.mimever = 1;
		f->skipping = f->mode == L_REENC && f->field == 2;
		if (f->depth == 0 && (e->m->qdom != NULL || e->m->qfrom != NULL) &&
		    hdrqual_wants(p, n)) {
			e->hqon = 1;
			e->hqlen = 0;
		}
		if (f->field != 0) {
			e->flen = 0;
			v = (const char *)memchr(p, ':', n) + 1;
			field_add(e, v, n - (size_t)(v - p));
		}
	} else if (f->field != 0)
		field_add(e, p, n);
	if (first)
		f->nhead++;
	if (e->scan && f->depth == 0 && !e->m->utf8hdr && has_8bit(p, n))
		e->m->utf8hdr = 1;
	if (e->hqon == 1)
		hq_add(e, p, n, first, last);
	else if (!f->skipping)
		fold_piece(e, p, n, first, last);
	return (1);
}

/* leaf_piece - a body line of a leaf (or a piece of one) */
static void
leaf_piece(struct emit *e, struct frame *f, const char *p, size_t n, int first,
    int last)
{
	if (e->scan) {
		if (first)
			f->linelen = n > 0 && p[0] == '.';
		f->linelen += n;
		if (f->linelen > SMTP_WIRE_MAX)
			f->need = 1;
	}
	switch (f->mode) {
	case L_PLAIN:
		plain_piece(e, p, n, first, last);
		break;
	case L_QPSOFT:
		feed(e, R_QPSOFT, p, n, last);
		break;
	case L_CUT:
		feed(e, R_B64, p, n, last);
		break;
	case L_REENC:
		qp_piece(e, p, n, first, last);
		break;
	}
}

/*
 * feed_line - one line (or piece of one) of the message.  A delimiter of
 * an open multipart (the outermost first) ends every entity inside it;
 * anything else belongs to the innermost entity.
 */
static void
feed_line(struct emit *e, const char *p, size_t n, int first, int last)
{
	struct frame *f;
	int k, d;

again:
	d = 0;
	if (first && last) {
		for (k = 0; k < e->nst; k++) {
			f = &e->st[k];
			if ((f->kind == F_PRE || f->kind == F_PART) &&
			    (d = delim(p, n, f->h.boundary)) != 0)
				break;
		}
		if (d != 0) {
			while (e->nst > k + 1)
				pop(e);
			fit_piece(e, p, n, 1, 1);
			if (d == 2)
				f->kind = F_EPI;
			else {
				f->kind = F_PART;
				push(e, f->depth + 1, 0);
			}
			return;
		}
	}
	f = &e->st[e->nst - 1];
	switch (f->kind) {
	case F_HEAD:
		if (head_piece(e, f, p, n, first, last))
			return;
		goto again;	/* the header ended before this line */
	case F_LEAF:
		leaf_piece(e, f, p, n, first, last);
		return;
	default:
		fit_piece(e, p, n, first, last);
		return;
	}
}

/* msg_pass - one walk over the message: scan, count or write */
static int
msg_pass(struct smtp_msg *m, struct emit *e, char *why, size_t whylen)
{
	size_t n;
	int first, last, r;

	e->m = m;
	e->pend = -1;
	push(e, 0, 1);
	m->bpos = m->blen = 0;
	m->midline = m->skiplf = 0;
	if (msg_rewind(m->fp) != 0) {
		snprintf(why, whylen, "cannot read the queued message: %s", strerror(errno));
		return (-1);
	}
	while ((r = rd_piece(m, &n, &first, &last)) > 0)
		feed_line(e, m->piece, n, first, last);
	while (e->nst > 0)
		pop(e);
	if (r < 0) {
		snprintf(why, whylen, "cannot read the queued message: %s", strerror(errno));
		return (-1);
	}
	return (0);
}

/* smtp_msg_load - measure the M file's wire form; NULL with why set */
struct smtp_msg *
smtp_msg_load(FILE *fp, char *why, size_t whylen)
{
	return (smtp_msg_load_hdr(fp, NULL, why, whylen));
}

struct smtp_msg *
smtp_msg_load_hdr(FILE *fp, const struct smtp_hdr *h, char *why, size_t whylen)
{
	struct smtp_msg *m;
	struct emit *e;

	if (fp == NULL) {
		snprintf(why, whylen, "queued message not open");
		return (NULL);
	}
	m = xcalloc(1, sizeof(*m));
	e = xcalloc(1, sizeof(*e));
	m->fp = fp;
	if (h != NULL && h->domain != NULL)
		m->qdom = xstrdup(h->domain);
	if (h != NULL && h->from != NULL && h->from[0] != '\0')
		m->qfrom = xstrdup(h->from);
	e->scan = 1;
	if (msg_pass(m, e, why, whylen) != 0)
		goto fail;
	if (m->nneed > 0) {
		memset(e, 0, sizeof(*e));
		if (msg_pass(m, e, why, whylen) != 0)
			goto fail;
	}
	m->size = e->size;
	m->has8bit = e->has8bit;
	free(e);
	return (m);
fail:
	free(e);
	smtp_msg_free(m);
	return (NULL);
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

int
smtp_msg_utf8hdr(const struct smtp_msg *m)
{
	return (m->utf8hdr);
}

/* smtp_msg_send - the message in wire form, without the final dot */
int
smtp_msg_send(struct smtp_conn *c, struct smtp_msg *m, char *why, size_t whylen)
{
	struct emit *e = xcalloc(1, sizeof(*e));
	int ret;

	e->c = c;
	ret = msg_pass(m, e, why, whylen);
	free(e);
	return (ret);
}

void
smtp_msg_free(struct smtp_msg *m)
{
	if (m == NULL)
		return;
	free(m->need);
	free(m->qdom);
	free(m->qfrom);
	free(m);
}

int
smtp_data_write(struct smtp_conn *c, FILE *msg, size_t *size, int *has8bit,
    char *why, size_t whylen)
{
	struct smtp_msg *m;

	if ((m = smtp_msg_load(msg, why, whylen)) == NULL)
		return (-1);
	*size = m->size;
	*has8bit = m->has8bit;
	if (c != NULL && smtp_msg_send(c, m, why, whylen) != 0) {
		smtp_msg_free(m);
		return (-1);
	}
	smtp_msg_free(m);
	if (c != NULL && smtp_conn_flush(c, smtp_timeout(SMTP_TMO_BLOCK)) != 0) {
		snprintf(why, whylen, "write error: %s", strerror(c->err));
		return (-1);
	}
	return (0);
}
