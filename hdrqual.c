/*
 * hdrqual.c - qualified addresses in the header of relayed mail.
 *
 * Owns the RFC 5322 reading of the address fields (From, To, Cc,
 * Reply-To, Sender) of a message leaving for another host: an address
 * without a domain ("root", "Cron Daemon <root>") gets "@" and the mail
 * domain, and nothing else of the field changes (display names, comments,
 * spacing, folding stay byte for byte).  A field that does not parse is
 * left alone.  Pure functions over one field held in memory; no side
 * effects, any privilege.  Ground floor: calls only util.c.
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dma.h"

/*
 * A field is given whole: "Name:" and its value, its lines joined by one
 * '\n' each (the folding), without the final line end.  Offsets below are
 * into that text.
 */
struct hq {
	const char *s;
	size_t	 n, p;		/* text, its length, the reading position */
	size_t	*ins;		/* where "@domain" goes, in order */
	size_t	 nins;
};

static const char *const hq_names[] = {
	"From", "To", "Cc", "Reply-To", "Sender",
};

/* name_len - the bytes of the field name at f, or 0 when f is no field */
static size_t
name_len(const char *f, size_t n)
{
	size_t i;

	for (i = 0; i < n && f[i] != ':'; i++) {
		if ((unsigned char)f[i] <= 32 || (unsigned char)f[i] >= 127)
			return (0);
	}
	return (i < n ? i : 0);
}

int
hdrqual_wants(const char *f, size_t n)
{
	size_t i, k = name_len(f, n);

	if (k == 0)
		return (0);
	for (i = 0; i < sizeof(hq_names) / sizeof(hq_names[0]); i++) {
		if (strlen(hq_names[i]) == k && strncasecmp(f, hq_names[i], k) == 0)
			return (1);
	}
	return (0);
}

int
hdrqual_is_from(const char *f, size_t n)
{
	return (name_len(f, n) == 4 && strncasecmp(f, "From", 4) == 0);
}

/*
 * skip_cfws - past folding white space and comments (nested, with quoted
 * pairs); -1 for an unclosed comment, a NUL, CR or other control byte
 */
static int
skip_cfws(struct hq *q)
{
	int depth = 0;
	unsigned char c;

	for (; q->p < q->n; q->p++) {
		c = (unsigned char)q->s[q->p];
		if (c == '\0' || c == '\r' || c == 0x7f ||
		    (c < 0x20 && c != '\t' && c != '\n'))
			return (-1);
		if (depth > 0) {
			if (c == '\\') {
				if (++q->p == q->n)
					return (-1);
			} else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			continue;
		}
		if (c == '(')
			depth++;
		else if (c == ')')
			return (-1);
		else if (c != ' ' && c != '\t' && c != '\n')
			return (0);
	}
	return (depth == 0 ? 0 : -1);
}

/* Tokens of a value once comments and white space are skipped. */
enum tok {
	T_END,
	T_WORD,			/* atom or quoted-string */
	T_DOT,
	T_DLIT,			/* [domain literal] */
	T_SPECIAL,		/* one of < > : ; @ , (in q->s[start]) */
	T_BAD,
};

static int
atom_char(unsigned char c)
{
	return (c >= 0x80 || (c > 0x20 && c != 0x7f &&
	    strchr("()<>[]:;@\\,.\"", c) == NULL));
}

/* next_tok - the next token; *start its first byte, q->p past it */
static enum tok
next_tok(struct hq *q, size_t *start)
{
	unsigned char c;

	*start = q->p;		/* set on every path, T_BAD too */
	if (skip_cfws(q) != 0)
		return (T_BAD);
	*start = q->p;
	if (q->p == q->n)
		return (T_END);
	c = (unsigned char)q->s[q->p];
	if (c == '"' || c == '[') {
		for (q->p++; q->p < q->n; q->p++) {
			c = (unsigned char)q->s[q->p];
			if (c == '\0' || c == '\r')
				return (T_BAD);
			if (c == '\\') {
				if (++q->p == q->n)
					return (T_BAD);
			} else if (c == (q->s[*start] == '"' ? '"' : ']')) {
				q->p++;
				return (q->s[*start] == '"' ? T_WORD : T_DLIT);
			} else if (c == '[' && q->s[*start] == '[')
				return (T_BAD);
		}
		return (T_BAD);
	}
	if (c == '.') {
		q->p++;
		return (T_DOT);
	}
	if (strchr("<>:;@,", c) != NULL) {
		q->p++;
		return (T_SPECIAL);
	}
	if (!atom_char(c))
		return (T_BAD);
	while (q->p < q->n && atom_char((unsigned char)q->s[q->p]))
		q->p++;
	return (T_WORD);
}

/* peek - the next token without taking it */
static enum tok
peek(struct hq *q, size_t *start)
{
	size_t save = q->p;
	enum tok t = next_tok(q, start);

	q->p = save;
	return (t);
}

static int
is_special(const struct hq *q, enum tok t, size_t at, char c)
{
	return (t == T_SPECIAL && q->s[at] == c);
}

/*
 * domain - after "@": a dot-atom or a domain literal; 0 or -1
 */
static int
domain(struct hq *q)
{
	enum tok t;
	size_t at;

	t = next_tok(q, &at);
	if (t == T_DLIT)
		return (0);
	for (;;) {
		if (t != T_WORD || q->s[at] == '"')
			return (-1);
		if (peek(q, &at) != T_DOT)
			return (0);
		(void)next_tok(q, &at);
		t = next_tok(q, &at);
	}
}

/*
 * local_part - words joined by dots (white space and comments between
 * them are obsolete syntax, but read); *end is past its last word.  The
 * next token (not taken) follows.  0, or -1 when no word begins it or a
 * dot ends it.
 */
static int
local_part(struct hq *q, size_t *end)
{
	enum tok t;
	size_t at;

	for (;;) {
		t = next_tok(q, &at);
		if (t != T_WORD)
			return (-1);
		*end = q->p;
		if (peek(q, &at) != T_DOT)
			return (0);
		(void)next_tok(q, &at);
	}
}

/* add_ins - "@domain" goes at off */
static void
add_ins(struct hq *q, size_t off)
{
	q->ins[q->nins++] = off;
}

/*
 * after_addr - what may follow an address: the end of the field, or ","
 * or ";" (kept in *sep).  0, or -1 for anything else.
 */
static int
after_addr(struct hq *q, char *sep)
{
	enum tok t;
	size_t at;

	t = next_tok(q, &at);
	if (t == T_END)
		*sep = '\0';
	else if (t == T_SPECIAL && strchr(",;", q->s[at]) != NULL)
		*sep = q->s[at];
	else
		return (-1);
	return (0);
}

/*
 * angle - after "<": [obs-route] addr-spec ">", or the empty "<>".
 * An addr-spec without a domain is noted for qualification.
 */
static int
angle(struct hq *q)
{
	enum tok t;
	size_t at, end;

	t = peek(q, &at);
	if (is_special(q, t, at, '>')) {
		(void)next_tok(q, &at);
		return (0);
	}
	if (is_special(q, t, at, '@') || is_special(q, t, at, ',')) {
		/* obs-route: "@a,@b:" before the address */
		for (;;) {
			t = next_tok(q, &at);
			if (is_special(q, t, at, ','))
				continue;
			if (is_special(q, t, at, ':'))
				break;
			if (!is_special(q, t, at, '@') || domain(q) != 0)
				return (-1);
		}
	}
	if (local_part(q, &end) != 0)
		return (-1);
	t = next_tok(q, &at);
	if (is_special(q, t, at, '@')) {
		if (domain(q) != 0)
			return (-1);
		t = next_tok(q, &at);
	} else
		add_ins(q, end);
	return (is_special(q, t, at, '>') ? 0 : -1);
}

/*
 * mailbox - one element of a list: empty, a bare addr-spec, a display
 * name and an angle address, or the start of a group (*group set).  The
 * token ending it (',', ';', ':' or the end) is taken: *sep is it.
 */
static int
mailbox(struct hq *q, int ingroup, int *group, char *sep)
{
	enum tok t;
	size_t at, end = 0;
	int words = 0, dots = 0, adjacent = 0, prevword = 0;

	*group = 0;
	for (;;) {
		t = next_tok(q, &at);
		switch (t) {
		case T_BAD:
		case T_DLIT:
			return (-1);
		case T_WORD:
			if (prevword)
				adjacent = 1;
			words++;
			prevword = 1;
			end = q->p;
			continue;
		case T_DOT:
			if (words == 0 || !prevword)
				dots = -1;	/* not a local part */
			else if (dots >= 0)
				dots++;
			prevword = 0;
			continue;
		case T_END:
			*sep = '\0';
			break;
		case T_SPECIAL:
			*sep = q->s[at];
			break;
		}
		break;
	}
	if (*sep == '<') {
		if (angle(q) != 0)
			return (-1);
		if (after_addr(q, sep) != 0)
			return (-1);
	} else if (*sep == ':') {
		/* a group: its name is a phrase */
		if (ingroup || words == 0)
			return (-1);
		*group = 1;
		return (0);
	} else if (*sep == '@') {
		/* a bare addr-spec with its domain */
		if (words == 0 || adjacent || dots < 0 || !prevword)
			return (-1);
		if (domain(q) != 0)
			return (-1);
		if (after_addr(q, sep) != 0)
			return (-1);
	} else if (*sep == '>') {
		return (-1);
	} else if (words > 0) {
		/* a bare local part: one word, or words joined by dots */
		if (adjacent || dots < 0 || !prevword)
			return (-1);
		add_ins(q, end);
	} else if (dots != 0)
		return (-1);
	if (*sep == ';' && !ingroup)
		return (-1);
	return (0);
}

/* parse - the value of the field (from q->p) as an address list */
static int
parse(struct hq *q)
{
	int ingroup = 0, group;
	char sep = '\0';
	size_t at;
	enum tok t;

	for (;;) {
		if (mailbox(q, ingroup, &group, &sep) != 0)
			return (-1);
		if (group) {
			ingroup = 1;
			continue;
		}
		if (sep == ';') {
			ingroup = 0;
			t = next_tok(q, &at);
			if (t == T_END)
				return (0);
			if (!is_special(q, t, at, ','))
				return (-1);
			continue;
		}
		if (sep == '\0')
			return (ingroup ? -1 : 0);
	}
}

int
hdrqual_field(const char *f, size_t n, const char *dom, char **out,
    size_t *outlen)
{
	struct hq q;
	size_t dl = strlen(dom), i, o, k;
	char *b;

	*out = NULL;
	*outlen = 0;
	if (!hdrqual_wants(f, n))
		return (0);
	if (n > HDRQUAL_FIELD_MAX)
		return (-1);
	memset(&q, 0, sizeof(q));
	q.s = f;
	q.n = n;
	q.p = name_len(f, n) + 1;
	/* at most one address in every two bytes of the value */
	q.ins = xcalloc(n / 2 + 2, sizeof(*q.ins));
	if (parse(&q) != 0) {
		free(q.ins);
		return (-1);
	}
	if (q.nins == 0) {
		free(q.ins);
		return (0);
	}
	b = xmalloc(n + q.nins * (dl + 1) + 1);
	for (i = 0, o = 0, k = 0; k < q.nins; k++) {
		memcpy(b + o, f + i, q.ins[k] - i);
		o += q.ins[k] - i;
		i = q.ins[k];
		b[o++] = '@';
		memcpy(b + o, dom, dl);
		o += dl;
	}
	memcpy(b + o, f + i, n - i);
	o += n - i;
	b[o] = '\0';
	free(q.ins);
	*out = b;
	*outlen = o;
	return (1);
}

int
hdrqual_from(const char *f, size_t n, const char *addr, char **out,
    size_t *outlen)
{
	static const char from[] = "From: ", orig[] = "\nX-Original-From:";
	size_t k = name_len(f, n), al = strlen(addr), o = 0;
	char *b;

	*out = NULL;
	*outlen = 0;
	if (k == 0 || addr[0] == '\0')
		return (0);
	b = xmalloc(sizeof(from) + al + sizeof(orig) + (n - k - 1) + 1);
	memcpy(b, from, sizeof(from) - 1);
	o = sizeof(from) - 1;
	memcpy(b + o, addr, al);
	o += al;
	memcpy(b + o, orig, sizeof(orig) - 1);
	o += sizeof(orig) - 1;
	memcpy(b + o, f + k + 1, n - k - 1);
	o += n - k - 1;
	b[o] = '\0';
	*out = b;
	*outlen = o;
	return (1);
}
