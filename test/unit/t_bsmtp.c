/*
 * t_bsmtp.c - bsmtp_serve(): the "dma -bs" SMTP dialogue.
 *
 * Each session reads an fmemopen()'d input (all commands at once, as a
 * pipelining client sends them) and writes into an open_memstream()
 * buffer; the replies are compared byte for byte.  Messages are queued
 * into a mkdtemp spool directory whose Q and M files are then checked.
 * Recipients are remote (x.org) or "root", which every passwd has.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dma.h"
#include "tap.h"

static char dir[] = "/tmp/t_bsmtp.XXXXXX";

#define GREETING	"220 testhost ESMTP DragonFly Mail Agent " DMA_VERSION "\r\n"
#define EHLO_REPLY	"250-testhost\r\n250-8BITMIME\r\n250-PIPELINING\r\n" \
			"250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES\r\n"

/* Two-target alias whose second target does not exist. */
static char grp[] = "grp", g1[] = "g1@x.org", g2[] = "nosuchuser-zq";
static struct alias al_bad2 = { grp, g2, NULL };
static struct alias al_bad1 = { grp, g1, &al_bad2 };

static const char *
fmt(const char *f, ...) __attribute__((__format__(__printf__, 1, 2)));

/* printf into one of a few rotating static buffers */
static const char *
fmt(const char *f, ...)
{
	static char buf[4][8192];
	static int i;
	va_list ap;

	i = (i + 1) % 4;
	va_start(ap, f);
	vsnprintf(buf[i], sizeof(buf[i]), f, ap);
	va_end(ap);
	return (buf[i]);
}

/* count_files - entries of the spool directory, "." and ".." excluded */
static int
count_files(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return (n);
}

/* clean_spool - remove every file of the spool directory */
static void
clean_spool(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		unlink(fmt("%s/%s", dir, de->d_name));
	}
	closedir(d);
}

/* ends_with - 1 if s ends with suffix */
static int
ends_with(const char *s, const char *suffix)
{
	size_t n, k = strlen(suffix);

	if (s == NULL)
		return (0);
	n = strlen(s);
	return (n >= k && strcmp(s + n - k, suffix) == 0);
}

/* slurp - whole file into a malloc'ed NUL terminated buffer, or NULL */
static char *
slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	long n;

	if (fp == NULL)
		return (NULL);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = xmalloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, fp) != (size_t)n)
		n = 0;
	buf[n] = '\0';
	fclose(fp);
	return (buf);
}

/* group_log - the group mail switches bsmtp_serve made, as '1'/'0' */
static char group_log[64];

static void
group_track(int on)
{
	size_t n = strlen(group_log);

	if (n + 1 < sizeof(group_log)) {
		group_log[n] = on ? '1' : '0';
		group_log[n + 1] = '\0';
	}
}

/*
 * session - run bsmtp_serve on input (len bytes) with aliases; *out gets
 * the replies (malloc'ed), q the queued entries.  Returns its result.
 */
static int
session(const char *input, size_t len, const struct alias *aliases, char **out,
    struct queue *q)
{
	struct bsmtp_ctx ctx;
	FILE *in, *o;
	size_t olen;
	int r;

	memset(&ctx, 0, sizeof(ctx));
	ctx.aliases = aliases;
	ctx.username = "tuser";
	ctx.uid = 4242;
	ctx.default_sender = "tuser@testhost";
	ctx.group_mail = group_track;
	group_log[0] = '\0';
	q->head = NULL;
	q->n = 0;
	*out = NULL;
	in = fmemopen((void *)(uintptr_t)input, len, "r");
	o = open_memstream(out, &olen);
	if (in == NULL || o == NULL)
		return (-2);
	r = bsmtp_serve(in, o, &ctx, q);
	fclose(in);
	fclose(o);
	return (r);
}

/* ---- table of sessions that queue nothing ------------------------- */

struct dialogue {
	const char *name;
	const char *in;
	const char *want;	/* replies after the greeting */
};

static const struct dialogue dialogues[] = {
	{ "quit only", "QUIT\r\n", "221 2.0.0 Bye\r\n" },
	{ "EOF without QUIT", "", "" },
	{ "LF line ends, lower case, HELO",
	  "helo me\nnoop\nquit\n",
	  "250 testhost\r\n250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n" },
	{ "EHLO/HELO without argument",
	  "EHLO\r\nHELO \r\nEHLO c\r\nQUIT\r\n",
	  "501 5.5.4 Syntax: EHLO hostname\r\n501 5.5.4 Syntax: HELO hostname\r\n"
	  EHLO_REPLY "221 2.0.0 Bye\r\n" },
	{ "RCPT and DATA before MAIL",
	  "RCPT TO:<a@x.org>\r\nDATA\r\nQUIT\r\n",
	  "503 5.5.1 Error: need MAIL command\r\n"
	  "503 5.5.1 Error: need MAIL command\r\n221 2.0.0 Bye\r\n" },
	{ "DATA without recipients",
	  "MAIL FROM:<a@x.org>\r\nDATA\r\nQUIT\r\n",
	  "250 2.1.0 Ok\r\n503 5.5.1 No valid recipients\r\n221 2.0.0 Bye\r\n" },
	{ "nested MAIL",
	  "MAIL FROM:<a@x.org>\r\nMAIL FROM:<b@x.org>\r\nQUIT\r\n",
	  "250 2.1.0 Ok\r\n503 5.5.1 Error: nested MAIL command\r\n221 2.0.0 Bye\r\n" },
	{ "RSET clears sender and recipients",
	  "MAIL FROM:<a@x.org>\r\nRCPT TO:<b@x.org>\r\nRSET\r\nDATA\r\n"
	  "RCPT TO:<b@x.org>\r\nMAIL FROM:<c@x.org>\r\nDATA\r\nQUIT\r\n",
	  "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok\r\n"
	  "503 5.5.1 Error: need MAIL command\r\n"
	  "503 5.5.1 Error: need MAIL command\r\n"
	  "250 2.1.0 Ok\r\n503 5.5.1 No valid recipients\r\n221 2.0.0 Bye\r\n" },
	{ "EHLO resets the transaction",
	  "MAIL FROM:<a@x.org>\r\nEHLO c\r\nMAIL FROM:<a@x.org>\r\nQUIT\r\n",
	  "250 2.1.0 Ok\r\n" EHLO_REPLY "250 2.1.0 Ok\r\n221 2.0.0 Bye\r\n" },
	{ "bad MAIL syntax",
	  "MAIL FROM:<a b@x.org>\r\nMAIL TO:<a@x.org>\r\nMAIL FROM:<a@x.org\r\n"
	  "MAIL FROM:\r\nMAIL FROM:<a@x.org>junk\r\nMAIL FROM:<a<b@x.org>\r\n"
	  "MAIL FROM:<@x.org>\r\nMAIL FROM:<a@>\r\nMAIL FROM:<a\x01@x.org>\r\nQUIT\r\n",
	  "501 5.1.7 Syntax: MAIL FROM:<address>\r\n"
	  "501 5.1.7 Syntax: MAIL FROM:<address>\r\n"
	  "501 5.1.7 Syntax: MAIL FROM:<address>\r\n"
	  "501 5.1.7 Syntax: MAIL FROM:<address>\r\n"
	  "501 5.1.7 Syntax: MAIL FROM:<address>\r\n"
	  "501 5.1.7 Syntax: MAIL FROM:<address>\r\n"
	  "501 5.1.7 Syntax: MAIL FROM:<address>\r\n"
	  "501 5.1.7 Bad sender address <a@>: empty local part or domain\r\n"
	  "501 5.1.7 Syntax: MAIL FROM:<address>\r\n"
	  "221 2.0.0 Bye\r\n" },
	{ "MAIL parameters",
	  "MAIL FROM:<a@x.org> BODY=8BITMIME SIZE=1234\r\nRSET\r\n"
	  "mail from: <a@x.org> body=7bit\r\nRSET\r\n"
	  "MAIL FROM:<a@x.org> BODY=BINARYMIME\r\n"
	  "MAIL FROM:<a@x.org> SIZE=12k\r\n"
	  "MAIL FROM:<a@x.org> SMTPUTF8=yes\r\n"
	  "MAIL FROM:<a@x.org> SMTPUTF8X\r\n"
	  "MAIL FROM:<j\xc3\xbcrgen@x.org> smtputf8 BODY=8BITMIME\r\nQUIT\r\n",
	  "250 2.1.0 Ok\r\n250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.0.0 Ok\r\n"
	  "501 5.5.4 Unsupported BODY type\r\n"
	  "501 5.5.4 Bad SIZE parameter\r\n"
	  "501 5.5.4 SMTPUTF8 takes no value\r\n"
	  "555 5.5.4 Unsupported parameter\r\n"
	  "250 2.1.0 Ok\r\n221 2.0.0 Bye\r\n" },
	{ "bad RCPT",
	  "MAIL FROM:<>\r\nRCPT TO:<>\r\nRCPT TO:<a@x.org> NOTIFY=NEVER\r\n"
	  "RCPT FROM:<a@x.org>\r\nRCPT TO:<nosuchuser-zq>\r\nRCPT TO:<x\"y@x.org>\r\n"
	  "QUIT\r\n",
	  "250 2.1.0 Ok\r\n501 5.1.3 Syntax: RCPT TO:<address>\r\n"
	  "555 5.5.4 Unsupported parameter\r\n"
	  "501 5.1.3 Syntax: RCPT TO:<address>\r\n"
	  "550 5.1.1 invalid recipient `nosuchuser-zq'\r\n"
	  "553 5.1.3 invalid recipient `x\"y@x.org'\r\n"
	  "221 2.0.0 Bye\r\n" },
	{ "failed alias expansion adds nothing",
	  "MAIL FROM:<a@x.org>\r\nRCPT TO:<grp>\r\nDATA\r\nQUIT\r\n",
	  "250 2.1.0 Ok\r\n"
	  "550 5.1.1 invalid recipient `grp': no such user `nosuchuser-zq'\r\n"
	  "503 5.5.1 No valid recipients\r\n221 2.0.0 Bye\r\n" },
	{ "other commands",
	  "HELP\r\nVRFY root\r\nEXPN root\r\nSTARTTLS\r\nAUTH PLAIN\r\nBDAT 10\r\n"
	  "FOO\r\n\r\nMAILFROM:<a@x.org>\r\nQUIT\r\n",
	  "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY\r\n"
	  "252 2.5.2 Cannot VRFY user\r\n"
	  "502 5.5.1 Command not implemented\r\n"
	  "502 5.5.1 Command not implemented\r\n"
	  "502 5.5.1 Command not implemented\r\n"
	  "502 5.5.1 Command not implemented\r\n"
	  "500 5.5.2 Command unrecognized\r\n"
	  "500 5.5.2 Command unrecognized\r\n"
	  "500 5.5.2 Command unrecognized\r\n"
	  "221 2.0.0 Bye\r\n" },
	{ "injected parameters and strict envelope syntax",
	  "MAIL FROM:<alice@host> AUTH=<>\r\n"
	  "MAIL FROM:<x@y> SMTPUTF8 RET=FULL X=<>\r\n"
	  "MAIL FROM:<\"a>b\"@x.org>\r\n"
	  "MAIL FROM:<a@b@x.org>\r\n"
	  "MAIL FROM:<a..b@x.org>\r\n"
	  "MAIL FROM:<a@x.org>\r\n"
	  "RCPT TO:<bob@x.org> NOTIFY=NEVER\r\n"
	  "RCPT TO:<a@b@x.org>\r\n"
	  "RCPT TO:<a@x.org.>\r\n"
	  "RCPT TO:bob@x.org>NOTIFY=NEVER\r\n"
	  "DATA\r\nQUIT\r\n",
	  "555 5.5.4 Unsupported parameter\r\n"
	  "555 5.5.4 Unsupported parameter\r\n"
	  "501 5.1.7 Syntax: MAIL FROM:<address>\r\n"
	  "501 5.1.7 Bad sender address <a@b@x.org>: domain: unexpected `@'\r\n"
	  "501 5.1.7 Bad sender address <a..b@x.org>: local part: unexpected `.'\r\n"
	  "250 2.1.0 Ok\r\n"
	  "555 5.5.4 Unsupported parameter\r\n"
	  "553 5.1.3 invalid recipient `a@b@x.org'\r\n"
	  "553 5.1.3 invalid recipient `a@x.org.'\r\n"
	  "501 5.1.3 Syntax: RCPT TO:<address>\r\n"
	  "503 5.5.1 No valid recipients\r\n"
	  "221 2.0.0 Bye\r\n" },
	{ "commands after QUIT are not read",
	  "QUIT\r\nNOOP\r\n", "221 2.0.0 Bye\r\n" },
	{ "last line without line end",
	  "NOOP\r\nQUIT", "250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n" },
	{ "EOF inside DATA",
	  "MAIL FROM:<a@x.org>\r\nRCPT TO:<b@x.org>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n",
	  "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n" },
	{ "EOF inside DATA after a dot line start",
	  "MAIL FROM:<a@x.org>\r\nRCPT TO:<b@x.org>\r\nDATA\r\nbody\r\n.",
	  "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n" },
	{ "EOF inside DATA after dot CR",
	  "MAIL FROM:<a@x.org>\r\nRCPT TO:<b@x.org>\r\nDATA\r\nbody\r\n.\r",
	  "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n" },
};

static void
test_dialogues(void)
{
	struct queue q;
	char *out;
	size_t i;
	int r;

	for (i = 0; i < sizeof(dialogues) / sizeof(dialogues[0]); i++) {
		const struct dialogue *d = &dialogues[i];

		clean_spool();
		r = session(d->in, strlen(d->in), &al_bad1, &out, &q);
		is_int(r, 0, "%s: returns 0", d->name);
		is_str(out, fmt("%s%s", GREETING, d->want), "%s: replies", d->name);
		is_int(q.n, 0, "%s: nothing queued", d->name);
		is_int(count_files(), 0, "%s: spool empty", d->name);
		free(out);
	}
}

/* ---- a pipelined session with two messages ------------------------- */

static const char two_msgs[] =
	"EHLO client.example\r\n"
	"MAIL FROM:<alice@example.org> BODY=8BITMIME\r\n"
	"RCPT TO:<a@x.org>\r\n"
	"RCPT TO:<root>\r\n"
	"RCPT TO:<A@x.org>\r\n"
	"DATA\r\n"
	"Subject: one\r\n"
	"\r\n"
	"..leading dot\r\n"
	"...two dots\r\n"
	". \r\n"
	"x.\r\n"
	"..\r\n"
	".\r\n"
	"MAIL FROM:<>\r\n"
	"RCPT TO:<b@x.org>\r\n"
	"DATA\r\n"
	"Subject: two\n"
	"\n"
	"bare LF lines\n"
	".\n"
	"MAIL FROM:<bob>\r\n"
	"RCPT TO:<c@x.org>\r\n"
	"DATA\r\n"
	"\r\n"
	"third\r\n"
	".\r\n"
	"QUIT\r\n";

/* qfile - the Q file of entry it, read back */
static char *
qfile(const struct qitem *it)
{
	return (slurp(fmt("%s/Q%s", dir, it->queueid)));
}

/* message - the message of entry it as delivery reads it, malloc'ed */
static char *
message(struct qitem *it)
{
	char why[256], *buf;
	size_t n = 0, cap = 4096, r;

	if (spool_acquire(it, why, sizeof(why)) != 0)
		return (NULL);
	buf = xmalloc(cap);
	while ((r = fread(buf + n, 1, cap - n - 1, it->mfp)) > 0) {
		n += r;
		if (cap - n < 2)
			buf = xrealloc(buf, cap *= 2);
	}
	buf[n] = '\0';
	spool_release(it);
	return (buf);
}

static void
test_two_messages(void)
{
	struct queue q;
	struct qitem *it[5];
	char *out, *m, *qf, id1[64], id2[64], id3[64];
	size_t i;
	int r;

	clean_spool();
	r = session(two_msgs, sizeof(two_msgs) - 1, NULL, &out, &q);
	is_int(r, 0, "pipelined: returns 0");
	is_int(q.n, 5, "pipelined: 3+1+1 entries queued");
	/* Group mail on to create, off to parse, on to commit, off again. */
	is_str(group_log, "101010101010", "pipelined: group mail only for the spool");
	if (q.n != 5) {
		printf("# replies: %s\n", out != NULL ? out : "(null)");
		free(out);
		return;
	}
	for (i = 0, it[0] = q.head; i < 4; i++)
		it[i + 1] = it[i]->next;
	ok(it[4]->next == NULL, "pipelined: list ends");
	snprintf(id1, sizeof(id1), "%.*s", (int)strcspn(it[0]->queueid, "."), it[0]->queueid);
	snprintf(id2, sizeof(id2), "%.*s", (int)strcspn(it[3]->queueid, "."), it[3]->queueid);
	snprintf(id3, sizeof(id3), "%.*s", (int)strcspn(it[4]->queueid, "."), it[4]->queueid);
	is_str(out, fmt(GREETING EHLO_REPLY
	    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "250 2.0.0 Ok: queued as %s\r\n"
	    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "250 2.0.0 Ok: queued as %s\r\n"
	    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "250 2.0.0 Ok: queued as %s\r\n"
	    "221 2.0.0 Bye\r\n", id1, id2, id3), "pipelined: exact replies");

	is_str(it[0]->addr, "a@x.org", "entry 1 remote");
	is_int(it[0]->local, 0, "entry 1 not local");
	/* a@x.org and A@x.org share a domain: one entry, two recipients */
	is_str(it[1]->addr, "A@x.org", "recipient 2 kept as given");
	is_str(it[1]->queueid, it[0]->queueid, "recipient 2 in the entry of 1");
	is_int((int)it[0]->gsize, 2, "a group entry of 2 recipients");
	is_str(it[2]->addr, "root", "entry 2 root");
	is_int(it[2]->local, 1, "entry 2 local");
	is_int((int)it[2]->gsize, 1, "a local recipient is an entry of its own");
	is_str(it[0]->sender, "alice@example.org", "sender of message 1");
	is_str(it[3]->sender, "", "null sender of message 2");
	is_str(it[4]->sender, "bob@testhost", "unqualified sender gets @hostname");
	ok(strcmp(id1, id2) != 0 && strcmp(id2, id3) != 0, "distinct message ids");

	qf = qfile(it[0]);
	is_str(qf, fmt("Version: 3\nID: %s\nSender: alice@example.org\nRecipient: a@x.org\n"
	    "Recipient: A@x.org\n", it[0]->queueid), "Q file of entry 1: both recipients");
	free(qf);
	qf = qfile(it[2]);
	is_str(qf, fmt("Version: 2\nID: %s\nSender: alice@example.org\nRecipient: root\n",
	    it[2]->queueid), "Q file of entry 2");
	free(qf);
	qf = qfile(it[3]);
	is_str(qf, fmt("Version: 2\nID: %s\nSender: \nRecipient: b@x.org\n", it[3]->queueid),
	    "Q file of the null-sender message");
	free(qf);

	m = message(it[0]);
#define RCVD1	"Received: from tuser (uid 4242)\n\t(envelope-from alice@example.org)\n"
	ok(m != NULL && strncmp(m, RCVD1, strlen(RCVD1)) == 0,
	    "M file 1 starts with the Received header");
	ok(m != NULL && strstr(m, fmt("\tid %s\n\tby testhost ", id1)) != NULL,
	    "Received names the message id and hostname");
	ok(m != NULL && strstr(m, "\nSubject: one\n") != NULL, "M file 1 has the header");
	ok(ends_with(m, "\n\n.leading dot\n..two dots\n \nx.\n.\n"),
	    "M file 1 body dot-unstuffed, CRLF normalised, ends after the body");
	ok(m != NULL && strchr(m, '\r') == NULL, "M file 1 has no CR");
	free(m);
	m = message(it[3]);
	ok(m != NULL && strstr(m, "\nSubject: two\n") != NULL,
	    "M file 2 has the header");
	ok(ends_with(m, "\n\nbare LF lines\n"), "M file 2 ends with its body");
	ok(m != NULL && strstr(m, "(envelope-from )") != NULL,
	    "M file 2 Received shows the null sender");
	free(m);
	is_int(count_files(), 8, "spool: 4 Q + 4 M files, no temporary file");

	spool_free(&q);
	free(out);
}

/* ---- limits and failures ----------------------------------------- */

static void
test_long_line(void)
{
	struct queue q;
	char *in, *out;
	size_t n;
	int r;

	/* 998 characters + CRLF is the longest allowed line. */
	n = 998 + 2 + 999 + 2 + 6;
	in = xmalloc(n + 1);
	memcpy(in, "NOOP ", 5);
	memset(in + 5, 'a', 993);
	memcpy(in + 998, "\r\n", 2);
	memcpy(in + 1000, "NOOP ", 5);
	memset(in + 1005, 'a', 994);
	memcpy(in + 1999, "\r\n", 2);
	memcpy(in + 2001, "QUIT\r\n", 6);
	in[n] = '\0';
	r = session(in, n, NULL, &out, &q);
	is_int(r, 0, "long line: returns 0");
	is_str(out, GREETING "250 2.0.0 Ok\r\n500 5.5.2 line too long\r\n221 2.0.0 Bye\r\n",
	    "long line: 1000 bytes ok, 1001 refused, session in step");
	free(out);
	free(in);

	/* A NUL inside a command. */
	r = session("NOOP\0x\r\nQUIT\r\n", 14, NULL, &out, &q);
	is_str(out, GREETING "500 5.5.2 Syntax error, NUL in command\r\n221 2.0.0 Bye\r\n",
	    "NUL in a command refused");
	free(out);
}

static void
test_too_many_errors(void)
{
	struct queue q;
	char *in, *out;
	size_t i, n = 150 * 5;
	int r, c500 = 0;
	const char *p;

	in = xmalloc(n + 1);
	for (i = 0; i < 150; i++)
		memcpy(in + i * 5, "BAD\r\n", 5);
	in[n] = '\0';
	r = session(in, n, NULL, &out, &q);
	is_int(r, 0, "error flood: returns 0");
	for (p = out; (p = strstr(p, "500 5.5.2")) != NULL; p++)
		c500++;
	is_int(c500, 100, "error flood: 100 errors answered");
	ok(ends_with(out, "500 5.5.2 Command unrecognized\r\n"
	    "421 4.7.0 testhost Too many errors, closing\r\n"),
	    "error flood: then 421 and the session ends");
	free(out);
	free(in);
}

static void
test_write_error(void)
{
	struct bsmtp_ctx ctx;
	struct queue q = { NULL, 0 };
	FILE *in, *o;

	memset(&ctx, 0, sizeof(ctx));
	ctx.username = "tuser";
	in = fmemopen((void *)(uintptr_t)"NOOP\r\nQUIT\r\n", 12, "r");
	o = fopen("/dev/full", "w");
	if (o == NULL) {
		ok(1, "# SKIP no /dev/full");
		fclose(in);
		return;
	}
	is_int(bsmtp_serve(in, o, &ctx, &q), -1, "write error on out gives -1");
	fclose(in);
	fclose(o);
}

static void
test_spool_failure(void)
{
	static const char in[] =
	    "MAIL FROM:<a@x.org>\r\nRCPT TO:<b@x.org>\r\nDATA\r\nhi\r\n.\r\n"
	    "RCPT TO:<b@x.org>\r\nQUIT\r\n";
	struct queue q;
	char *out, *saved = config.spooldir;

	config.spooldir = (char *)(uintptr_t)"/nonexistent/t_bsmtp";
	is_int(session(in, sizeof(in) - 1, NULL, &out, &q), 0, "spool failure: returns 0");
	is_str(out, GREETING "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "451 4.3.0 Can not create spool file\r\n"
	    "503 5.5.1 Error: need MAIL command\r\n221 2.0.0 Bye\r\n",
	    "spool failure: 451 and the transaction is reset");
	is_int(q.n, 0, "spool failure: nothing queued");
	free(out);
	config.spooldir = saved;
}

int
main(void)
{
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return (1);
	}
	conf_init(&config);
	free(config.spooldir);
	config.spooldir = dir;
	config.mailname = (char *)(uintptr_t)"testhost";
	hostname_init(config.mailname);
	progname = "t_bsmtp";

	test_dialogues();
	test_two_messages();
	test_long_line();
	test_too_many_errors();
	test_write_error();
	test_spool_failure();

	clean_spool();
	rmdir(dir);
	return (done_testing());
}
