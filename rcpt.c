/*
 * rcpt.c - recipient routing and alias expansion.
 *
 * Owns the recipient list of one submission (struct rcptlist); reads the
 * alias table it was given and the passwd database (getpwnam), nothing
 * else.  No files, no output, no exit (except out of memory).  Runs in
 * the submitting process (dma, setgid mail) on addresses that the caller
 * does not control, so every address, alias targets included, passes
 * addr_check() (the one envelope syntax check) before it is used.
 *
 * Routing: an address whose domain (after the last '@' outside quotes)
 * is hostname(), systemhostname() or "localhost", compared
 * case-insensitively, loses its domain and is local; other addresses are
 * remote, with the domain lower-cased.  With NULLCLIENT nothing is local
 * and a bare name is qualified with "@" hostname().
 *
 * Aliases: alias names are compared case-insensitively (login names on
 * this system are expected to be lower-case; "Postmaster" and
 * "postmaster" are the same alias).  A local name with aliases is
 * replaced by their targets, recursively; the "*" catch-all applies only
 * to top-level names that match no alias.  A name listed among its own
 * targets ("joe: joe, x@y") is delivered to the user joe; any other cycle
 * is an error instead of silently losing the mail.
 *
 * DOTFORWARD: a local user that is no alias (one listed among its own
 * alias targets is not looked up again) is replaced by the entries of
 * ~user/.forward, which forward.c reads through its helper; they are
 * expanded like alias targets, so the loop rule above applies to them
 * too ("forwarding loop: a -> b -> a").  "\name" is name's own mailbox,
 * with no further expansion.  An entry that is not a valid address or
 * user is logged and skipped; a .forward with nothing usable is plain
 * delivery.
 */
#include <sys/types.h>

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "dma.h"

#define SAFE_MAX	204	/* log_safe copies of untrusted text */

/* State of one rcpt_add() call. */
struct expand {
	struct rcptlist *l;
	const char *top;		/* top-level address, for messages */
	const char *chain[ALIAS_DEPTH];	/* local names being expanded */
	int	 fwd[ALIAS_DEPTH];	/* chain[i] expanded by its .forward */
	int	 depth;
	char	*why;
	size_t	 whylen;
};

static enum rcpt_err add_one(struct expand *, const char *, int);

void
rcpt_init(struct rcptlist *l, const struct alias *aliases)
{
	memset(l, 0, sizeof(*l));
	l->aliases = aliases;
	if (config.features & DOTFORWARD)
		l->forward = forward_lookup;
}

void
rcpt_free(struct rcptlist *l)
{
	struct rcpt *r, *next;

	for (r = l->head; r != NULL; r = next) {
		next = r->next;
		free(r->addr);
		free(r);
	}
	l->head = l->tail = NULL;
	l->n = 0;
}

/* last_at - the last '@' outside double quotes, or NULL */
static char *
last_at(char *s)
{
	char *at = NULL;
	int inq = 0;

	for (; *s != '\0'; s++) {
		if (inq && *s == '\\' && s[1] != '\0')
			s++;
		else if (*s == '"')
			inq = !inq;
		else if (!inq && *s == '@')
			at = s;
	}
	return (at);
}

static void
lower_ascii(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static int
is_local_domain(const char *d)
{
	return (strcasecmp(d, hostname()) == 0 ||
	    strcasecmp(d, systemhostname()) == 0 ||
	    strcasecmp(d, "localhost") == 0);
}

int
rcpt_canonical(const char *addr, char *out, size_t outlen)
{
	char *at;

	strlcpy(out, addr, outlen);
	/* "a@b@localhost" leaves "a@b", which is remote again. */
	while ((at = last_at(out)) != NULL && is_local_domain(at + 1))
		*at = '\0';
	if (at == NULL && (config.features & NULLCLIENT)) {
		/* A smarthost must not guess which domain a bare name is in. */
		size_t n = strlen(out);

		strlcat(out, "@", outlen);
		strlcat(out, hostname(), outlen);
		at = out + n;
	}
	if (at == NULL)
		return (1);
	lower_ascii(at + 1);
	return (0);
}

/* is_program_or_file - an aliases(5) target dma does not deliver to */
static int
is_program_or_file(const char *dest)
{
	if (dest[0] == '"')
		dest++;
	return (dest[0] == '|' || dest[0] == '/' ||
	    strncasecmp(dest, ":include:", 9) == 0);
}

/* append - add a final recipient unless it is already listed */
static enum rcpt_err
append(struct expand *x, const char *addr, int local)
{
	struct rcpt *r;

	for (r = x->l->head; r != NULL; r = r->next)
		if (strcmp(r->addr, addr) == 0)
			return (RCPT_OK);
	if (x->l->n >= RCPT_MAX) {
		set_why(x->why, x->whylen, "too many recipients (more than %d)", RCPT_MAX);
		return (RCPT_ETOOMANY);
	}
	r = xcalloc(1, sizeof(*r));
	r->addr = xstrdup(addr);
	r->local = local;
	if (x->l->tail != NULL)
		x->l->tail->next = r;
	else
		x->l->head = r;
	x->l->tail = r;
	x->l->n++;
	return (RCPT_OK);
}

/* loop_why - "alias loop: a -> b -> a", starting at chain[from] */
static void
loop_why(struct expand *x, int from, const char *name)
{
	char buf[REASON_MAX], safe[SAFE_MAX];
	int i, fwd = 0;

	for (i = from; i < x->depth; i++)
		fwd |= x->fwd[i];
	strlcpy(buf, fwd ? "forwarding loop: " : "alias loop: ", sizeof(buf));
	for (i = from; i < x->depth; i++) {
		strlcat(buf, log_safe(safe, sizeof(safe), x->chain[i]), sizeof(buf));
		strlcat(buf, " -> ", sizeof(buf));
	}
	strlcat(buf, log_safe(safe, sizeof(safe), name), sizeof(buf));
	set_why(x->why, x->whylen, "%s", buf);
}

/*
 * expand_name - add the targets of every alias called name; *hits counts
 * them (0: name is not an alias).
 */
static enum rcpt_err
expand_name(struct expand *x, const char *alias, const char *name, int *hits)
{
	const struct alias *a;
	char s1[SAFE_MAX], s2[SAFE_MAX];
	enum rcpt_err r;

	*hits = 0;
	for (a = x->l->aliases; a != NULL; a = a->next) {
		if (strcasecmp(a->name, alias) != 0)
			continue;
		if (*hits == 0 && x->l->trace != NULL)
			x->l->trace(x->l->trace_arg, x->depth, name,
			    strcmp(alias, "*") == 0 ? RCPT_T_CATCHALL : RCPT_T_ALIAS);
		(*hits)++;
		if (is_program_or_file(a->dest)) {
			set_why(x->why, x->whylen, "invalid recipient `%s': alias target "
			    "`%s' is a program or file (not supported)",
			    log_safe(s1, sizeof(s1), x->top),
			    log_safe(s2, sizeof(s2), a->dest));
			return (RCPT_EINVAL);
		}
		if (x->depth >= ALIAS_DEPTH) {
			set_why(x->why, x->whylen, "alias loop: more than %d levels "
			    "of aliases below `%s'", ALIAS_DEPTH,
			    log_safe(s1, sizeof(s1), x->chain[0]));
			return (RCPT_ELOOP);
		}
		x->fwd[x->depth] = 0;
		x->chain[x->depth++] = name;
		r = add_one(x, a->dest, 0);
		x->chain[--x->depth] = NULL;	/* name may be on add_one's stack */
		if (r != RCPT_OK)
			return (r);
	}
	return (RCPT_OK);
}

/* truncate_list - drop the recipients appended after tail (n before) */
static void
truncate_list(struct rcptlist *l, struct rcpt *tail, size_t n)
{
	struct rcpt *r, *next;

	r = tail != NULL ? tail->next : l->head;
	for (; r != NULL; r = next) {
		next = r->next;
		free(r->addr);
		free(r);
	}
	if (tail != NULL)
		tail->next = NULL;
	else
		l->head = NULL;
	l->tail = tail;
	l->n = n;
}

/*
 * forward_entry - add one usable entry of name's .forward; an entry that
 * names no valid address or user is logged and skipped (*used is not
 * counted), so that one typo does not refuse the user's mail.
 */
static enum rcpt_err
forward_entry(struct expand *x, const char *name, enum fwd_kind kind,
    const char *e, size_t *used)
{
	char s1[SAFE_MAX], s2[SAFE_MAX];
	struct rcpt *tail = x->l->tail;
	size_t n = x->l->n;
	enum rcpt_err r;

	if (kind != FWD_LOCAL && kind != FWD_FORWARD)
		return (RCPT_OK);	/* forward_lookup logged it */
	log_safe(s1, sizeof(s1), e);
	if (kind == FWD_LOCAL) {
		if (!localname_ok(e) || getpwnam(e) == NULL) {
			log_msg(LOG_WARNING, "~%s/.forward: entry refused: `\\%s': "
			    "no such user", name, s1);
			return (RCPT_OK);
		}
		log_msg(LOG_INFO, "~%s/.forward: delivering to the mailbox of <%s>",
		    name, s1);
		(*used)++;
		return (append(x, e, 1));
	}
	if (is_program_or_file(e)) {
		/* dma-forward refuses these; never trust that alone. */
		log_msg(LOG_WARNING, "~%s/.forward: entry refused: `%s': program "
		    "or file (not supported)", name, s1);
		return (RCPT_OK);
	}
	r = add_one(x, e, 0);
	if (r == RCPT_EINVAL || r == RCPT_ENOUSER) {
		truncate_list(x->l, tail, n);
		log_msg(LOG_WARNING, "~%s/.forward: entry refused: %s", name,
		    log_safe(s2, sizeof(s2), x->why));
		x->why[0] = '\0';
		return (RCPT_OK);
	}
	if (r == RCPT_OK) {
		log_msg(LOG_INFO, "~%s/.forward: forwarding to <%s>", name, s1);
		(*used)++;
	}
	return (r);
}

/* final_local - the local user name is a final recipient (-bt is told) */
static enum rcpt_err
final_local(struct expand *x, const char *name)
{
	if (x->l->trace != NULL)
		x->l->trace(x->l->trace_arg, x->depth, name, RCPT_T_LOCAL);
	return (append(x, name, 1));
}

/*
 * add_forward - the local user name (known to exist): the entries of its
 * .forward, or name itself when it has none that can be used.
 */
static enum rcpt_err
add_forward(struct expand *x, const char *name)
{
	struct fwdlist fl;
	char s1[SAFE_MAX];
	enum rcpt_err r = RCPT_OK;
	size_t i, used = 0;

	if (x->l->forward(name, &fl) != 0 || fl.n == 0) {
		forward_free(&fl);
		return (final_local(x, name));
	}
	if (x->depth >= ALIAS_DEPTH) {
		forward_free(&fl);
		set_why(x->why, x->whylen, "forwarding loop: more than %d levels "
		    "of aliases and .forward files below `%s'", ALIAS_DEPTH,
		    log_safe(s1, sizeof(s1), x->chain[0]));
		return (RCPT_ELOOP);
	}
	x->fwd[x->depth] = 1;
	x->chain[x->depth++] = name;
	for (i = 0; i < fl.n && r == RCPT_OK; i++)
		r = forward_entry(x, name, fl.item[i].kind, fl.item[i].text, &used);
	x->chain[--x->depth] = NULL;
	forward_free(&fl);
	if (r == RCPT_OK && used == 0)
		r = final_local(x, name);
	return (r);
}

/* add_local - a local name: expand its aliases or check the user exists */
static enum rcpt_err
add_local(struct expand *x, const char *name, int toplevel)
{
	char s1[SAFE_MAX], s2[SAFE_MAX];
	enum rcpt_err r;
	int i, hits = 0, self = 0;

	for (i = 0; i < x->depth; i++) {
		if (strcasecmp(x->chain[i], name) != 0)
			continue;
		if (i != x->depth - 1) {
			loop_why(x, i, name);
			return (RCPT_ELOOP);
		}
		/* "joe: joe, ...": the user joe gets a copy too. */
		self = 1;
	}
	if (!self) {
		if ((r = expand_name(x, name, name, &hits)) != RCPT_OK)
			return (r);
		if (hits == 0 && toplevel &&
		    (r = expand_name(x, "*", name, &hits)) != RCPT_OK)
			return (r);
		if (hits > 0)
			return (RCPT_OK);
	}
	if (!localname_ok(name) || getpwnam(name) == NULL) {
		log_safe(s1, sizeof(s1), x->top);
		if (x->depth == 0)
			set_why(x->why, x->whylen, "invalid recipient `%s'", s1);
		else
			set_why(x->why, x->whylen, "invalid recipient `%s': no such user `%s'",
			    s1, log_safe(s2, sizeof(s2), name));
		return (RCPT_ENOUSER);
	}
	if (!self && x->l->forward != NULL)
		return (add_forward(x, name));
	return (final_local(x, name));
}

/* add_one - check, canonicalise and route one address */
static enum rcpt_err
add_one(struct expand *x, const char *addr, int toplevel)
{
	char buf[ADDR_MAX + 1 + 256 + 1], s1[SAFE_MAX], s2[SAFE_MAX];
	int local;

	if (addr_check(addr, ADDR_BARE, NULL, 0) == 0) {
		local = rcpt_canonical(addr, buf, sizeof(buf));
		if (strlen(buf) <= ADDR_MAX && buf[0] != '\0') {
			if (!local && (config.features & LOCALONLY) &&
			    x->l->refuse_remote && x->depth == 0) {
				set_why(x->why, x->whylen, "remote recipient `%s' refused: "
				    "this host delivers local mail only (LOCALONLY)",
				    log_safe(s1, sizeof(s1), x->top));
				return (RCPT_EREMOTE);
			}
			if (!local && x->l->trace != NULL)
				x->l->trace(x->l->trace_arg, x->depth, buf, RCPT_T_REMOTE);
			if (!local)
				return (append(x, buf, 0));
			return (add_local(x, buf, toplevel));
		}
	}
	log_safe(s1, sizeof(s1), x->top);
	if (x->depth == 0 && addr_utf8_check(addr, s2, sizeof(s2)) != 0)
		set_why(x->why, x->whylen, "invalid recipient `%s': %s", s1, s2);
	else if (x->depth == 0)
		set_why(x->why, x->whylen, "invalid recipient `%s'", s1);
	else
		set_why(x->why, x->whylen, "invalid recipient `%s': invalid alias "
		    "target `%s'", s1, log_safe(s2, sizeof(s2), addr));
	return (RCPT_EINVAL);
}

enum rcpt_err
rcpt_add(struct rcptlist *l, const char *addr, int toplevel, char *why, size_t whylen)
{
	struct expand x;

	memset(&x, 0, sizeof(x));
	x.l = l;
	x.top = addr;
	x.why = why;
	x.whylen = whylen;
	return (add_one(&x, addr, toplevel));
}

/* trim - strip blanks at both ends in place */
static char *
trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return (s);
}

/*
 * angle_addr - "<addr>" or "Display Name <addr>" gives addr; anything
 * else is returned unchanged.
 */
static char *
angle_addr(char *s)
{
	size_t n = strlen(s);
	char *p;
	int inq = 0;

	if (n < 2 || s[n - 1] != '>')
		return (s);
	for (p = s; *p != '\0'; p++) {
		if (inq && *p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '"')
			inq = !inq;
		else if (!inq && *p == '<')
			break;
	}
	if (*p != '<')
		return (s);
	s[n - 1] = '\0';
	return (trim(p + 1));
}

enum rcpt_err
rcpt_add_list(struct rcptlist *l, const char *operand, char *why, size_t whylen)
{
	const char *p = operand, *start;
	enum rcpt_err r = RCPT_OK;
	char *piece, *addr;
	int inq, angle;

	while (*p != '\0' && r == RCPT_OK) {
		inq = angle = 0;
		for (start = p; *p != '\0'; p++) {
			if (inq && *p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '"')
				inq = !inq;
			else if (inq)
				continue;
			else if (*p == '<')
				angle++;
			else if (*p == '>' && angle > 0)
				angle--;
			else if (*p == ',' && angle == 0)
				break;
		}
		piece = xstrndup(start, (size_t)(p - start));
		if (*p == ',')
			p++;
		addr = trim(piece);
		if (*addr != '\0')
			r = rcpt_add(l, angle_addr(addr), 1, why, whylen);
		free(piece);
	}
	return (r);
}
