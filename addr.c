/*
 * addr.c - the syntax of an envelope address.
 *
 * Owns the one check every sender and recipient passes, wherever it comes
 * from (command line, EMAIL, -t headers, aliases, -bs), before the spool,
 * and once more before it is written into an SMTP command.  No side
 * effects; callers run with any privilege.  Ground floor: calls only
 * util.c.
 */
#include <sys/types.h>

#include <ctype.h>
#include <string.h>

#include "dma.h"

int
addr_atext(unsigned char c)
{
	if (c == '\0' || c >= 0x80)
		return (0);
	return (isalnum(c) || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/*
 * The one syntax check of an envelope address (RFC 5321 Mailbox), used
 * for the sender and every recipient wherever they come from, and once
 * more before an address is written into an SMTP command.  Stricter than
 * the RFC in one point: '<' and '>' are refused even inside a quoted
 * local part, so no address can close the path of MAIL FROM:<...> or
 * RCPT TO:<...> and be followed by ESMTP parameters.  Bytes >= 0x80 are
 * accepted as in RFC 6531 (they can not end a path either), but only as
 * well-formed UTF-8 (RFC 3629) without C1 control characters.
 */
#define LOCALPART_MAX	64
#define DOMAIN_MAX	255
#define LABEL_MAX	63

int
addr_utf8_check(const char *s, char *why, size_t whylen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	for (; *p != '\0'; p += n) {
		if ((n = utf8_seq(p)) == 0) {
			set_why(why, whylen, "invalid UTF-8 (byte 0x%02x at offset %zu)",
			    *p, (size_t)(p - (const unsigned char *)s));
			return (-1);
		}
		if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) {
			set_why(why, whylen, "control character U+%04X", p[1]);
			return (-1);
		}
	}
	return (0);
}

int
addr_ascii(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80)
			return (0);
	}
	return (1);
}

/* char_why - "{what}: {the character}" with c shown safely */
static int
char_why(char *why, size_t whylen, const char *what, unsigned char c)
{
	if (c == '\0')
		set_why(why, whylen, "%s: unexpected end", what);
	else if (c < 0x20 || c == 0x7f)
		set_why(why, whylen, "%s: control character 0x%02x", what, c);
	else if (c == ' ')
		set_why(why, whylen, "%s: space not allowed", what);
	else if (c == '<' || c == '>')
		set_why(why, whylen, "%s: `%c' not allowed", what, c);
	else
		set_why(why, whylen, "%s: unexpected `%c'", what, c);
	return (-1);
}

/*
 * dot_atom_len - length of the dot-atom (atext or UTF-8 bytes) at p, up to
 * its last complete atom; 0 if p starts with no atom.
 */
static size_t
dot_atom_len(const unsigned char *p)
{
	const unsigned char *s = p, *end = p, *atom;

	for (;;) {
		for (atom = p; addr_atext(*p) || *p >= 0x80; p++)
			;
		if (p == atom)
			return ((size_t)(end - s));
		end = p;
		if (*p != '.')
			return ((size_t)(end - s));
		p++;
	}
}

/*
 * domain_len - length of the domain at p up to its last complete label
 * (letters, digits, '-' inside, '_', UTF-8 bytes), or of a whole address
 * literal "[...]" of letters, digits, '.', ':' and '-'; 0 if none.
 */
static size_t
domain_len(const unsigned char *p)
{
	const unsigned char *s = p, *end = p, *label;

	if (*p == '[') {
		for (p++; isalnum(*p) || *p == '.' || *p == ':' || *p == '-'; p++)
			;
		if (*p != ']' || p == s + 1)
			return (0);
		return ((size_t)(p + 1 - s));
	}
	for (;;) {
		label = p;
		while (isalnum(*p) || *p == '-' || *p == '_' || *p >= 0x80)
			p++;
		if (p == label || *label == '-' || p[-1] == '-')
			return ((size_t)(end - s));
		end = p;
		if (*p != '.')
			return ((size_t)(end - s));
		p++;
	}
}

/* label_too_long - a label of the domain d is longer than LABEL_MAX */
static int
label_too_long(const char *d)
{
	size_t n;

	for (;;) {
		n = strcspn(d, ".");
		if (n > LABEL_MAX)
			return (1);
		if (d[n] == '\0')
			return (0);
		d += n + 1;
	}
}

int
addr_check(const char *addr, int flags, char *why, size_t whylen)
{
	const unsigned char *s = (const unsigned char *)addr, *p = s;
	size_t n;

	if (strlen(addr) >= ADDR_MAX) {
		set_why(why, whylen, "address longer than %d bytes", ADDR_MAX - 1);
		return (-1);
	}
	if (*p == '\0') {
		set_why(why, whylen, "empty address");
		return (-1);
	}
	if (addr_utf8_check(addr, why, whylen) != 0)
		return (-1);
	if (*p == '"') {
		/* quoted-string: qtextSMTP, quoted-pairSMTP, UTF-8; no < > */
		for (p++; *p != '"'; p++) {
			if (*p == '\\')
				p++;
			if (*p < 0x20 || *p == 0x7f || *p == '<' || *p == '>')
				return (char_why(why, whylen, "quoted local part", *p));
		}
		p++;
	} else {
		p += dot_atom_len(p);
		if (p == s)
			return (char_why(why, whylen, "local part", *p));
	}
	if (p - s > LOCALPART_MAX) {
		set_why(why, whylen, "local part longer than %d bytes", LOCALPART_MAX);
		return (-1);
	}
	if (*p == '\0') {
		if (flags & ADDR_BARE)
			return (0);
		set_why(why, whylen, "no domain");
		return (-1);
	}
	if (*p++ != '@')
		return (char_why(why, whylen, "local part", p[-1]));
	n = domain_len(p);
	if (n == 0 || p[n] != '\0')
		return (char_why(why, whylen, "domain", p[n]));
	if (n > DOMAIN_MAX) {
		set_why(why, whylen, "domain longer than %d bytes", DOMAIN_MAX);
		return (-1);
	}
	if (*p != '[' && label_too_long((const char *)p)) {
		set_why(why, whylen, "domain label longer than %d bytes", LABEL_MAX);
		return (-1);
	}
	return (0);
}
