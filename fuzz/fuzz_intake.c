/*
 * fuzz_intake.c - libFuzzer target for mail_read() (mail.c), message
 * intake: header scan, -t recipients, added headers.
 *
 * The first input byte selects the options (bit 0: -t, bit 1: a lone "."
 * ends the input, bit 2: -F full name); the rest is the message, read
 * through fmemopen() and written to an open_memstream() buffer.  The
 * recipient list has no alias table; MAILNAME is fixed, so no file is
 * read for the host name.  -t recipients without a domain are looked up
 * in the passwd database like a real submission.
 *
 * Checks: errors carry a reason; a stored message starts with our
 * Received header, ends with a newline and has Date, Message-Id and From
 * fields and a blank line; without -t no recipient is added; every
 * recipient added would be accepted into a queue file (envfield_ok) and
 * passes the envelope address check (addr_check), also after
 * canonicalisation.
 */
#include <strings.h>

#include "dma.h"
#include "fuzz.h"

/*
 * has_field - the header section hdr[0..len) has a line "name:..." (blanks
 * before the colon allowed, RFC 5322 obsolete syntax)
 */
static int
has_field(const char *hdr, size_t len, const char *name)
{
	size_t nl = strlen(name), i = 0, j;

	while (i < len) {
		const char *eol = memchr(hdr + i, '\n', len - i);
		size_t end = eol != NULL ? (size_t)(eol - hdr) : len;

		if (end - i > nl && strncasecmp(hdr + i, name, nl) == 0) {
			for (j = i + nl; j < end && (hdr[j] == ' ' || hdr[j] == '\t'); j++)
				;
			if (j < end && hdr[j] == ':')
				return (1);
		}
		i = end + 1;
	}
	return (0);
}

static void
check_message(const char *buf, size_t len)
{
	const char *sep;
	size_t hlen;

	if (len < 10 || memcmp(buf, "Received: ", 10) != 0)
		fuzz_fail("message does not start with Received:");
	if (buf[len - 1] != '\n')
		fuzz_fail("message does not end with a newline");
	if ((sep = memmem(buf, len, "\n\n", 2)) == NULL)
		fuzz_fail("no blank line after the header");
	hlen = (size_t)(sep - buf) + 1;
	if (!has_field(buf, hlen, "Date") || !has_field(buf, hlen, "Message-Id") ||
	    !has_field(buf, hlen, "From"))
		fuzz_fail("Date, Message-Id or From missing");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct intake opt;
	struct rcptlist l;
	const struct rcpt *r;
	char why[256], *buf = NULL;
	size_t blen = 0;
	FILE *in, *out;
	enum mail_err err;

	if (!init) {
		config.mailname = xstrdup("fuzz.example.org");
		hostname_init(config.mailname);
		init = 1;
	}
	if (size < 1)
		return (0);
	memset(&opt, 0, sizeof(opt));
	opt.sender = "fuzzer@fuzz.example.org";
	opt.username = "fuzzer";
	opt.uid = 1000;
	opt.msgid = "1a2b3c";
	opt.extract = (data[0] & 1) != 0;
	opt.dot_ends = (data[0] & 2) != 0;
	opt.fullname = (data[0] & 4) ? "Fuzz \"Q\" Tester" : NULL;
	rcpt_init(&l, NULL);
	in = fuzz_memfile(data + 1, size - 1);
	if ((out = open_memstream(&buf, &blen)) == NULL)
		abort();
	why[0] = '\0';
	err = mail_read(in, out, &opt, &l, why, sizeof(why));
	fclose(in);
	fclose(out);
	switch (err) {
	case MAIL_OK:
		check_message(buf, blen);
		break;
	case MAIL_EFORMAT:
	case MAIL_ERCPT:
		fuzz_why_check(why, sizeof(why));
		break;
	default:
		fuzz_fail("unexpected result %d (%s)", (int)err, why);
	}
	if (!opt.extract && l.n != 0)
		fuzz_fail("recipients added without -t");
	for (r = l.head; r != NULL; r = r->next) {
		if (!envfield_ok(r->addr) || r->addr[0] == '\0')
			fuzz_fail("recipient a queue file would refuse");
		if (addr_check(r->addr, ADDR_BARE, why, sizeof(why)) != 0)
			fuzz_fail("recipient `%s' fails the envelope check: %s",
			    r->addr, why);
	}
	rcpt_free(&l);
	free(buf);
	return (0);
}
