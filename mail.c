/*
 * mail.c - message intake and bounce composition.
 *
 * Owns the shape of a stored message: the Received header written first,
 * the header scan (Bcc removal, added Date/Message-Id/From), recipient
 * extraction for -t and the RFC 5322 address-list parser it uses, and
 * the text of a bounce.  Side effects: reads the given input stream and writes
 * only to the stream handed in by the caller (a spool temporary file); it
 * never opens spool files itself.  Runs setgid mail during submission and
 * as the queue runner for bounces; the input is untrusted user data.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dma.h"

/* ---- binary-safe line reader ------------------------------------- */

struct linebuf {
	char	*buf;
	size_t	 len;
	size_t	 cap;
};

static void
lb_putc(struct linebuf *lb, int c)
{
	if (lb->len + 1 >= lb->cap) {
		lb->cap = lb->cap == 0 ? 256 : lb->cap * 2;
		lb->buf = xrealloc(lb->buf, lb->cap);
	}
	lb->buf[lb->len++] = (char)c;
}

static void
lb_append(struct linebuf *lb, const char *p, size_t n)
{
	/* Room for n bytes and a NUL, compared so that nothing can wrap. */
	if (lb->cap - lb->len <= n) {
		while (lb->cap - lb->len <= n)
			lb->cap = lb->cap == 0 ? 256 : lb->cap * 2;
		lb->buf = xrealloc(lb->buf, lb->cap);
	}
	memcpy(lb->buf + lb->len, p, n);
	lb->len += n;
}

/* The input, read a getline() chunk at a time. */
struct reader {
	FILE	*in;
	char	*buf;
	size_t	 cap;
	size_t	 len, pos;	/* unread bytes are buf[pos, len) */
};

/*
 * read_line - read one line of rd into lb with its end normalised to LF.
 *
 * CRLF, bare CR and LF all end a line; a last line without an end gets
 * LF.  Lines have no length limit and may contain NUL bytes: lb->len is
 * the only length.  Returns 1 for a line, 0 at end of input, -1 on a read
 * error (errno set by stdio).  A chunk from getline() ends in LF except at
 * the end of input, so a CRLF pair is never split between two chunks.
 */
static int
read_line(struct reader *rd, struct linebuf *lb)
{
	const char *p, *cr;
	size_t n;
	ssize_t got;

	lb->len = 0;
	if (rd->pos >= rd->len) {
		got = getline(&rd->buf, &rd->cap, rd->in);
		if (got < 0)
			return (ferror(rd->in) ? -1 : 0);
		rd->len = (size_t)got;
		rd->pos = 0;
	}
	p = rd->buf + rd->pos;
	n = rd->len - rd->pos;
	cr = memchr(p, '\r', n);
	if (cr != NULL) {
		lb_append(lb, p, (size_t)(cr - p));
		rd->pos += (size_t)(cr - p) + 1;
		if (rd->pos < rd->len && rd->buf[rd->pos] == '\n')
			rd->pos++;
	} else {
		lb_append(lb, p, p[n - 1] == '\n' ? n - 1 : n);
		rd->pos = rd->len;
	}
	lb_putc(lb, '\n');
	return (1);
}

/* ---- header scan -------------------------------------------------- */

enum field {
	F_NONE,			/* not inside a header field */
	F_OTHER,
	F_DATE,
	F_MSGID,
	F_FROM,
	F_TO,
	F_CC,
	F_BCC,
	F_RBCC,			/* Resent-Bcc: removed, never a recipient */
};

struct hdrscan {
	const struct intake *opt;
	struct rcptlist *rcpts;
	time_t	 now;
	const char *date;
	enum field field;	/* field the current line continues */
	int	 has_date;
	int	 has_msgid;
	int	 has_from;
	/*
	 * -t: value of the current To/Cc/Bcc.  Held whole in memory; only
	 * the submitter's own process pays for a huge header.
	 */
	struct linebuf value;
};

/*
 * header_name_len - length of the field name if line is "name:" with a
 * name of printable ASCII (33..126) other than ':', else 0.  Blanks
 * between the name and the colon (RFC 5322 4.5.3, obsolete syntax, as in
 * "Bcc : x") belong to no name but still make a header field; *colon is
 * set to the index of the colon.
 */
static size_t
header_name_len(const char *line, size_t len, size_t *colon)
{
	size_t i, n;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c == ':' || c == ' ' || c == '\t')
			break;
		if (c < 33 || c > 126)
			return (0);
	}
	n = i;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (n == 0 || i == len || line[i] != ':')
		return (0);
	*colon = i;
	return (n);
}

static enum field
field_kind(const char *name, size_t n)
{
	static const struct {
		const char *name;
		enum field f;
	} tab[] = {
		{ "Date", F_DATE },
		{ "Message-Id", F_MSGID },
		{ "From", F_FROM },
		{ "To", F_TO },
		{ "Cc", F_CC },
		{ "Bcc", F_BCC },
		{ "Resent-Bcc", F_RBCC },
	};
	size_t i;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		if (strlen(tab[i].name) == n && strncasecmp(name, tab[i].name, n) == 0)
			return (tab[i].f);
	}
	return (F_OTHER);
}

static int
is_rcpt_field(enum field f)
{
	return (f == F_TO || f == F_CC || f == F_BCC);
}

/* is_hidden_field - a field that is removed from the stored message */
static int
is_hidden_field(enum field f)
{
	return (f == F_BCC || f == F_RBCC);
}

/*
 * field_done - the current header field has ended: with -t, hand the
 * collected To/Cc/Bcc value to the address parser and add each address.
 */
static enum mail_err
field_done(struct hdrscan *hs, char *why, size_t whylen)
{
	char **addrs, **a, perr[256];
	enum field f = hs->field;

	hs->field = F_NONE;
	if (!hs->opt->extract || !is_rcpt_field(f))
		return (MAIL_OK);
	/* A NUL can not be part of an address; it would also cut the value. */
	if (memchr(hs->value.buf, '\0', hs->value.len) != NULL) {
		strlcpy(perr, "NUL byte", sizeof(perr));
		addrs = NULL;
	} else {
		lb_putc(&hs->value, '\0');
		if (mail_parse_addrs(hs->value.buf, &addrs, perr, sizeof(perr)) != 0)
			addrs = NULL;
	}
	if (addrs == NULL) {
		log_verbose("-t: invalid address in header: %s", perr);
		strlcpy(why, "invalid address in header", whylen);
		return (MAIL_EFORMAT);
	}
	for (a = addrs; *a != NULL; a++) {
		if (rcpt_add(hs->rcpts, *a, 1, why, whylen) != RCPT_OK) {
			mail_free_addrs(addrs);
			return (MAIL_ERCPT);
		}
	}
	mail_free_addrs(addrs);
	return (MAIL_OK);
}

/*
 * write_from - the added From: header.  The -F name is user input put in
 * a header: control characters are dropped so it can not add lines, and
 * it is written as a quoted-string unless it is a plain phrase.
 */
static void
write_from(FILE *out, const struct intake *opt)
{
	const unsigned char *p;
	char *name;
	size_t n = 0;
	int quote = 0, word = 0;

	if (opt->fullname == NULL) {
		fprintf(out, "From: <%s>\n", opt->sender);
		return;
	}
	name = xmalloc(strlen(opt->fullname) + 1);
	for (p = (const unsigned char *)opt->fullname; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			continue;
		if (*p != ' ')
			word = 1;
		if (*p != ' ' && !addr_atext(*p))
			quote = 1;
		name[n++] = (char)*p;
	}
	name[n] = '\0';
	if (!word) {
		fprintf(out, "From: <%s>\n", opt->sender);
	} else if (!quote) {
		fprintf(out, "From: %s <%s>\n", name, opt->sender);
	} else {
		fputs("From: \"", out);
		for (p = (const unsigned char *)name; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				putc('\\', out);
			putc(*p, out);
		}
		fprintf(out, "\" <%s>\n", opt->sender);
	}
	free(name);
}

/*
 * header_end - the header section is over (blank line, a line that is no
 * header, or end of input): add the missing headers and the blank line.
 */
static enum mail_err
header_end(struct hdrscan *hs, FILE *out, char *why, size_t whylen)
{
	enum mail_err err;

	if ((err = field_done(hs, why, whylen)) != MAIL_OK)
		return (err);
	if (!hs->has_date)
		fprintf(out, "Date: %s\n", hs->date);
	if (!hs->has_msgid)
		fprintf(out, "Message-Id: <%llx.%s.%lx@%s>\n",
		    (unsigned long long)hs->now, hs->opt->msgid,
		    (unsigned long)random(), hostname());
	if (!hs->has_from)
		write_from(out, hs->opt);
	putc('\n', out);
	return (MAIL_OK);
}

/*
 * header_line - handle one line of the header section.  Returns MAIL_OK
 * and sets *ended when the line ended the section (it is then already
 * written as the first body line, or dropped if it was the blank line).
 */
static enum mail_err
header_line(struct hdrscan *hs, const struct linebuf *lb, FILE *out, int *ended,
    char *why, size_t whylen)
{
	enum mail_err err;
	enum field f;
	size_t nl, colon = 0;

	*ended = 0;
	if ((lb->buf[0] == ' ' || lb->buf[0] == '\t') && hs->field != F_NONE) {
		/* Continuation line of the current field. */
		if (hs->opt->extract && is_rcpt_field(hs->field))
			lb_append(&hs->value, lb->buf, lb->len);
		if (!is_hidden_field(hs->field))
			fwrite(lb->buf, 1, lb->len, out);
		return (MAIL_OK);
	}
	nl = header_name_len(lb->buf, lb->len, &colon);
	if (nl == 0) {
		/* Blank line, or a line that is no header: the body starts. */
		*ended = 1;
		if ((err = header_end(hs, out, why, whylen)) != MAIL_OK)
			return (err);
		if (lb->len > 1)
			fwrite(lb->buf, 1, lb->len, out);
		return (MAIL_OK);
	}
	if ((err = field_done(hs, why, whylen)) != MAIL_OK)
		return (err);
	f = field_kind(lb->buf, nl);
	hs->field = f;
	if (f == F_DATE)
		hs->has_date = 1;
	else if (f == F_MSGID)
		hs->has_msgid = 1;
	else if (f == F_FROM)
		hs->has_from = 1;
	if (hs->opt->extract && is_rcpt_field(f)) {
		hs->value.len = 0;
		lb_append(&hs->value, lb->buf + colon + 1, lb->len - colon - 1);
	}
	/* Bcc and Resent-Bcc are removed always, with or without -t. */
	if (!is_hidden_field(f))
		fwrite(lb->buf, 1, lb->len, out);
	return (MAIL_OK);
}

/* errno_why - "{what}{strerror(err)}"; a cut reason is still a reason */
static void
errno_why(char *why, size_t whylen, const char *what, int err)
{
	strlcpy(why, what, whylen);
	strlcat(why, strerror(err), whylen);
}

enum mail_err
mail_read(FILE *in, FILE *out, const struct intake *opt,
    struct rcptlist *rcpts, char *why, size_t whylen)
{
	struct linebuf lb = { NULL, 0, 0 };
	struct reader rd = { in, NULL, 0, 0, 0 };
	struct hdrscan hs;
	enum mail_err err = MAIL_OK;
	char date[64];
	int inheader = 1, first = 1, ended, r;

	memset(&hs, 0, sizeof(hs));
	hs.opt = opt;
	hs.rcpts = rcpts;
	hs.now = time(NULL);
	hs.date = date;
	hs.field = F_NONE;
	rfc822date(date, sizeof(date), hs.now);

	fprintf(out, "Received: from %s (uid %lu)\n"
	    "\t(envelope-from %s)\n"
	    "\tid %s\n"
	    "\tby %s (DragonFly Mail Agent %s on %s);\n"
	    "\t%s\n",
	    opt->username, (unsigned long)opt->uid, opt->sender, opt->msgid,
	    hostname(), DMA_VERSION, systemhostname(), date);

	for (;;) {
		r = read_line(&rd, &lb);
		if (r < 0) {
			errno_why(why, whylen, "can not read mail: ", errno);
			err = MAIL_EREAD;
			goto out;
		}
		if (r == 0)
			break;
		/* An mbox From_ line as the very first line is no content. */
		if (first) {
			first = 0;
			if (lb.len >= 5 && memcmp(lb.buf, "From ", 5) == 0)
				continue;
		}
		if (opt->dot_ends && lb.len == 2 && lb.buf[0] == '.')
			break;
		if (!inheader) {
			fwrite(lb.buf, 1, lb.len, out);
			continue;
		}
		err = header_line(&hs, &lb, out, &ended, why, whylen);
		if (err != MAIL_OK)
			goto out;
		if (ended)
			inheader = 0;
	}
	/* Input ended inside the header: still a complete message. */
	if (inheader && (err = header_end(&hs, out, why, whylen)) != MAIL_OK)
		goto out;
	if (fflush(out) != 0) {
		errno_why(why, whylen, "can not write mail: ", errno);
		err = MAIL_EWRITE;
	} else if (ferror(out)) {
		/* An earlier write failed; its errno is gone. */
		errno_why(why, whylen, "can not write mail: ", EIO);
		err = MAIL_EWRITE;
	}
out:
	free(rd.buf);
	free(lb.buf);
	free(hs.value.buf);
	return (err);
}

/* ---- RFC 5322 address-list parser --------------------------------- */

/*
 * The parser works on tokens: words (atoms, quoted strings, domain
 * literals), the specials '.' and '@' that build an addr-spec, and the
 * separators.  Whitespace (including folding CR/LF) and comments only
 * separate tokens.  Text before '<' (display name) and before a group's
 * ':' (group name) is discarded.  A bare "Jo Do j@x.org" (two words
 * separated by space outside <>) is rejected instead of guessed at: the
 * RFC forbids it and any guess may send mail to the wrong person.
 */
struct addrparse {
	char	**v;		/* result, NULL terminated */
	size_t	 n;
	size_t	 cap;
	char	 cur[ADDR_MAX];	/* the addr-spec being collected */
	size_t	 len;
	int	 overflow;	/* cur was too long */
	int	 bad;		/* cur is no word ("." word)* ["@" ...] */
	int	 phrase;	/* two words separated by space */
	int	 lastword;	/* last token was a word */
	int	 gap;		/* whitespace/comment since the last token */
	int	 expect_word;	/* after start, '.' or '@' */
	int	 seen_at;
	int	 inangle;
	int	 angledone;	/* <addr> seen in this element */
	int	 ingroup;
	char	*why;
	size_t	 whylen;
};

static int
ap_fail(struct addrparse *ap, const char *msg)
{
	strlcpy(ap->why, msg, ap->whylen);
	return (-1);
}

static void
ap_reset(struct addrparse *ap)
{
	ap->len = 0;
	ap->overflow = ap->bad = ap->phrase = 0;
	ap->lastword = ap->gap = 0;
	ap->expect_word = 1;
	ap->seen_at = 0;
}

/*
 * ap_token - append a token to the current address.  Problems that only
 * matter if the text turns out to be the address (not a display name)
 * are recorded and reported by ap_check.
 */
static int
ap_token(struct addrparse *ap, const char *p, size_t n, int isword)
{
	if (ap->angledone)
		return (ap_fail(ap, "text after <address>"));
	if (isword) {
		if (ap->lastword && ap->gap) {
			if (ap->inangle)
				return (ap_fail(ap, "space inside <address>"));
			ap->phrase = 1;
		} else if (!ap->expect_word) {
			ap->bad = 1;
		}
		ap->expect_word = 0;
	} else if (p[0] == '@') {
		if (ap->expect_word || ap->seen_at)
			ap->bad = 1;
		ap->seen_at = 1;
		ap->expect_word = 1;
	} else {
		if (ap->expect_word)
			ap->bad = 1;
		ap->expect_word = 1;
	}
	ap->lastword = isword;
	ap->gap = 0;
	if (ap->overflow || ap->len + n >= sizeof(ap->cur)) {
		ap->overflow = 1;
		return (0);
	}
	memcpy(ap->cur + ap->len, p, n);
	ap->len += n;
	return (0);
}

/* ap_check - is cur a well-formed address? */
static int
ap_check(struct addrparse *ap)
{
	if (ap->phrase)
		return (ap_fail(ap, "words separated by space outside <> "
		    "(missing comma or angle brackets?)"));
	if (ap->overflow)
		return (ap_fail(ap, "address too long"));
	if (ap->bad || (ap->len > 0 && ap->expect_word))
		return (ap_fail(ap, "malformed address"));
	return (0);
}

static void
ap_push(struct addrparse *ap)
{
	if (ap->len == 0)
		return;
	if (ap->n + 2 > ap->cap) {
		ap->cap = ap->cap == 0 ? 8 : ap->cap * 2;
		ap->v = xrealloc(ap->v, ap->cap * sizeof(ap->v[0]));
	}
	ap->v[ap->n++] = xstrndup(ap->cur, ap->len);
	ap->v[ap->n] = NULL;
}

/* ap_element_end - ',' or ';' or end of input: emit a bare addr-spec */
static int
ap_element_end(struct addrparse *ap)
{
	if (!ap->angledone) {
		if (ap_check(ap) != 0)
			return (-1);
		ap_push(ap);
	}
	ap_reset(ap);
	ap->angledone = 0;
	return (0);
}

/* skip_comment - *pp at '('; skip a nested comment.  -1 if unbalanced. */
static int
skip_comment(const char **pp)
{
	const char *p = *pp;
	int depth = 0;

	for (; *p != '\0'; p++) {
		if (*p == '\\') {
			if (p[1] == '\0')
				return (-1);
			p++;
		} else if (*p == '(') {
			depth++;
		} else if (*p == ')') {
			if (--depth == 0) {
				*pp = p + 1;
				return (0);
			}
		}
	}
	return (-1);
}

/*
 * scan_quoted - *pp at open ('"' or '['); copy the quoted string or domain
 * literal verbatim to tok without folding line breaks (and, in a domain
 * literal, without its folding white space, which is no part of it).  -1
 * if unbalanced or an escape precedes a line break.
 */
static int
scan_quoted(const char **pp, char close, struct linebuf *tok)
{
	const char *p = *pp;

	tok->len = 0;
	lb_putc(tok, *p++);
	for (; *p != '\0'; p++) {
		if (*p == '\r' || *p == '\n')
			continue;
		if (close == ']' && (*p == ' ' || *p == '\t'))
			continue;
		if (*p == '\\') {
			if (p[1] == '\0' || p[1] == '\r' || p[1] == '\n')
				return (-1);
			lb_putc(tok, *p++);
		} else if (*p == close) {
			lb_putc(tok, *p);
			*pp = p + 1;
			return (0);
		} else if (close == ']' && *p == '[') {
			return (-1);
		}
		lb_putc(tok, *p);
	}
	return (-1);
}

static int
is_atom_char(unsigned char c)
{
	if (c <= ' ' || c == 0x7f)
		return (0);
	return (strchr("()<>[]:;@\\,.\"", c) == NULL);
}

static int
parse_addrs(struct addrparse *ap, const char *value)
{
	struct linebuf tok = { NULL, 0, 0 };
	const char *p = value, *q;
	int r = -1;

	while (*p != '\0') {
		unsigned char c = (unsigned char)*p;

		switch (c) {
		case ' ':
		case '\t':
		case '\r':
		case '\n':
			ap->gap = 1;
			p++;
			break;
		case '(':
			if (skip_comment(&p) != 0) {
				ap_fail(ap, "unbalanced ( in comment");
				goto out;
			}
			ap->gap = 1;
			break;
		case ')':
			ap_fail(ap, "unbalanced )");
			goto out;
		case '"':
		case '[':
			if (scan_quoted(&p, c == '"' ? '"' : ']', &tok) != 0) {
				ap_fail(ap, c == '"' ? "unbalanced quote" :
				    "unbalanced [");
				goto out;
			}
			if (ap_token(ap, tok.buf, tok.len, 1) != 0)
				goto out;
			break;
		case ']':
			ap_fail(ap, "unbalanced ]");
			goto out;
		case '<':
			if (ap->inangle || ap->angledone) {
				ap_fail(ap, "unexpected <");
				goto out;
			}
			ap_reset(ap);
			ap->inangle = 1;
			p++;
			break;
		case '>':
			if (!ap->inangle) {
				ap_fail(ap, "unbalanced >");
				goto out;
			}
			if (ap_check(ap) != 0)
				goto out;
			ap_push(ap);
			ap_reset(ap);
			ap->inangle = 0;
			ap->angledone = 1;
			p++;
			break;
		case ',':
		case ':':
			if (ap->inangle) {
				/* Obsolete source route: <@a,@b:user@dom>. */
				if (ap->len == 0 || ap->cur[0] != '@') {
					ap_fail(ap, "unexpected separator inside <>");
					goto out;
				}
				if (c == ':')
					ap_reset(ap);
				else
					ap->expect_word = 1;
				ap->seen_at = 0;
				p++;
				break;
			}
			if (c == ',') {
				if (ap_element_end(ap) != 0)
					goto out;
			} else {
				/* A group name; nested groups do not exist. */
				if (ap->ingroup || ap->angledone) {
					ap_fail(ap, "unexpected :");
					goto out;
				}
				ap_reset(ap);
				ap->ingroup = 1;
			}
			p++;
			break;
		case ';':
			if (ap->inangle) {
				ap_fail(ap, "unbalanced <");
				goto out;
			}
			/* Lenient: ';' outside a group separates like ','. */
			if (ap_element_end(ap) != 0)
				goto out;
			ap->ingroup = 0;
			p++;
			break;
		case '@':
		case '.':
			if (ap_token(ap, p, 1, 0) != 0)
				goto out;
			p++;
			break;
		default:
			if (!is_atom_char(c)) {
				ap_fail(ap, c == '\\' ? "stray backslash" :
				    "control character");
				goto out;
			}
			for (q = p; is_atom_char((unsigned char)*q); q++)
				;
			if (ap_token(ap, p, (size_t)(q - p), 1) != 0)
				goto out;
			p = q;
			break;
		}
	}
	if (ap->inangle) {
		ap_fail(ap, "unbalanced <");
		goto out;
	}
	r = ap_element_end(ap);
out:
	free(tok.buf);
	return (r);
}

int
mail_parse_addrs(const char *value, char ***addrs, char *why, size_t whylen)
{
	struct addrparse *ap;
	int r;

	*addrs = NULL;
	ap = xcalloc(1, sizeof(*ap));
	ap->why = why;
	ap->whylen = whylen;
	ap_reset(ap);
	r = parse_addrs(ap, value);
	if (r == 0) {
		if (ap->v == NULL)
			ap->v = xcalloc(1, sizeof(ap->v[0]));
		*addrs = ap->v;
	} else {
		mail_free_addrs(ap->v);
	}
	free(ap);
	return (r);
}

void
mail_free_addrs(char **addrs)
{
	char **a;

	if (addrs == NULL)
		return;
	for (a = addrs; *a != NULL; a++)
		free(*a);
	free(addrs);
}

/* ---- bounce text -------------------------------------------------- */

/*
 * write_reason - the reason comes from remote servers: drop CR, show
 * other control characters except TAB and LF as '?', so it can neither
 * end the body nor smuggle terminal escapes into the reader's mailbox.
 */
static void
write_reason(FILE *out, const char *reason)
{
	const unsigned char *p;

	for (p = (const unsigned char *)reason; *p != '\0'; p++) {
		if (*p == '\r')
			continue;
		if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f)
			putc('?', out);
		else
			putc(*p, out);
	}
}

/* copy_orig - the original message, whole or up to its blank line */
static int
copy_orig(FILE *out, FILE *orig, int full)
{
	char buf[8192];
	char *line = NULL;
	size_t cap = 0, n;
	ssize_t len;
	int r = 0;

	if (full) {
		while ((n = fread(buf, 1, sizeof(buf), orig)) > 0) {
			if (fwrite(buf, 1, n, out) != n)
				return (-1);
		}
		return (ferror(orig) ? -1 : 0);
	}
	while ((len = getline(&line, &cap, orig)) > 0) {
		if (len == 1 && line[0] == '\n')
			break;
		if (fwrite(line, 1, (size_t)len, out) != (size_t)len) {
			r = -1;
			break;
		}
	}
	if (ferror(orig))
		r = -1;
	free(line);
	return (r);
}

/*
 * report_start - the header of a report about the entries its[0..n) of
 * one message (a bounce or a delay notice) and its first line of text:
 * orig is rewound (delivery attempts have read it; the report wants all
 * of it), a Received field naming id, an X-Original-To per recipient,
 * From, To (the sender), Subject subject, Message-Id, Date.  0, or -1.
 */
static int
report_start(FILE *out, FILE *orig, const char *id, const char *subject,
    struct qitem *const *its, size_t n)
{
	char date[64];
	size_t i;

	if (fseeko(orig, 0, SEEK_SET) != 0)
		return (-1);
	rfc822date(date, sizeof(date), time(NULL));
	fprintf(out, "Received: from MAILER-DAEMON\n"
	    "\tid %s\n"
	    "\tby %s (DragonFly Mail Agent %s on %s);\n"
	    "\t%s\n",
	    id, hostname(), DMA_VERSION, systemhostname(), date);
	for (i = 0; i < n; i++)
		fprintf(out, "X-Original-To: <%s>\n", its[i]->addr);
	fprintf(out, "From: Mail Delivery System <MAILER-DAEMON@%s>\n"
	    "To: %s\n"
	    "Auto-Submitted: auto-replied\n"
	    "Subject: %s\n"
	    "Message-Id: <%s@%s>\n"
	    "Date: %s\n"
	    "\n",
	    hostname(), its[0]->sender, subject, id, hostname(), date);
	fprintf(out, "This is the DragonFly Mail Agent %s at %s.\n\n",
	    DMA_VERSION, hostname());
	return (0);
}

/*
 * report_end - the end of a report: the reason, then the original
 * message (full) or its header.  0, or -1 on a read or write error.
 */
static int
report_end(FILE *out, const char *reason, FILE *orig, int full)
{
	write_reason(out, reason);
	fprintf(out, "\n"
	    "\n"
	    "%s\n"
	    "\n",
	    full ? "Original message follows." : "Message headers follow.");
	if (copy_orig(out, orig, full) != 0)
		return (-1);
	if (fflush(out) != 0 || ferror(out))
		return (-1);
	return (0);
}

int
mail_bounce_write(FILE *out, struct qitem *it, const char *bounceid,
    const char *reason, FILE *orig, int full)
{
	return (mail_bounce_write_group(out, &it, 1, bounceid, reason, orig,
	    full));
}

/*
 * mail_delay_write - the delay notice for the entries its[0..n) of one
 * message, still queued: like a bounce in form (same sender,
 * Auto-Submitted, the header of the original), but it says the message
 * is still being tried and until when.  Every recipient is named; with
 * one, in the sentence.
 */
int
mail_delay_write(FILE *out, struct qitem *const *its, size_t n,
    const char *noticeid, const char *reason, int maxage, FILE *orig)
{
	char queued[64];
	size_t i;

	if (report_start(out, orig, noticeid, "Mail delivery delayed", its,
	    n) != 0)
		return (-1);
	rfc822date(queued, sizeof(queued), its[0]->qtime);
	if (n == 1)
		fprintf(out, "Your mail to <%s>, queued %s, could not be "
		    "delivered yet.\n", its[0]->addr, queued);
	else {
		fprintf(out, "Your mail to these %zu recipients, queued %s, could "
		    "not be\ndelivered yet:\n\n", n, queued);
		for (i = 0; i < n; i++)
			fprintf(out, "  <%s>\n", its[i]->addr);
		fputs("\n", out);
	}
	fprintf(out, "It will be tried again until it is %d seconds old; you do not\n"
	    "need to send it again.  The last error was:\n"
	    "\n", maxage);
	return (report_end(out, reason, orig, 0));
}

/*
 * mail_bounce_write_group - one bounce for the entries its[0..n) of one
 * message that failed for the same reason; every recipient is named
 * (with one, in the sentence).  mail_bounce_write is the case n == 1.
 */
int
mail_bounce_write_group(FILE *out, struct qitem *const *its, size_t n,
    const char *bounceid, const char *reason, FILE *orig, int full)
{
	size_t i;

	if (report_start(out, orig, bounceid, "Mail delivery failed", its,
	    n) != 0)
		return (-1);
	if (n == 1)
		fprintf(out, "There was an error delivering your mail to <%s>.\n"
		    "\n", its[0]->addr);
	else {
		fprintf(out, "There was an error delivering your mail to these "
		    "%zu recipients:\n\n", n);
		for (i = 0; i < n; i++)
			fprintf(out, "  <%s>\n", its[i]->addr);
		fputs("\n", out);
	}
	return (report_end(out, reason, orig, full));
}
