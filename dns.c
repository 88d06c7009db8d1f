/*
 * dns.c - MX lookup, candidate ordering and address resolution.
 *
 * Owns nothing but the list of delivery candidates it returns.  Side
 * effects: DNS queries through the re-entrant libresolv interface (a
 * private struct __res_state per lookup) and getaddrinfo(3); it never
 * connects.  Runs in the delivery child with the privilege of dma (setgid
 * mail), which resolving names does not use.
 *
 * Everything a DNS server sends is untrusted: answers are parsed with the
 * bounds-checked ns_* API over the length actually received, the number
 * of records and candidates is capped, and a malformed answer defers the
 * message instead of crashing or bouncing it.
 *
 * A domain with UTF-8 (U-labels, RFC 6531) is looked up as its A-label
 * form (IDNA2008, UTS #46 non-transitional, by libidn2); the caller's
 * envelope keeps it as written.  libidn2 is loaded (dlopen, from the
 * system's library directories only, as ld.so does for a setgid program)
 * by the first process that needs it: with libunistring it would add
 * about 200 kB to the memory of every dma process.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>

#include <dlfcn.h>
#include <idn2.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "dma.h"

#define DNS_MAX_MX	32	/* MX records considered per domain */
#define DNS_MAX_CAND	64	/* candidates (addresses) returned */
#define DNS_MAX_CNAME	8	/* CNAME hops followed for the MX query */
#define DNS_ANSWER_MAX	65535	/* largest DNS message */

struct mx_rec {
	char	 name[NS_MAXDNAME];
	int	 pref;
};

/* Result of one MX query (after CNAMEs inside the answer were followed). */
enum mxq {
	MXQ_FOUND,		/* MX records in mx[] */
	MXQ_NOMX,		/* name exists, no MX: implicit MX */
	MXQ_CNAME,		/* only a CNAME: query again for next */
	MXQ_NXDOMAIN,
	MXQ_TEMP,
	MXQ_MALFORMED,
};

/* What resolving one host name gave. */
enum addr_res {
	ADDR_OK,		/* at least one candidate appended */
	ADDR_NONAME,		/* name does not exist */
	ADDR_NODATA,		/* name exists, no A/AAAA */
	ADDR_TEMP,		/* temporary resolver problem */
	ADDR_FULL,		/* candidate cap reached, nothing appended */
};

struct cand_list {
	struct mx_host *v;
	size_t	 n;
};

/* strip one trailing dot (but keep the root name "" as it is) */
static void
strip_dot(char *name)
{
	size_t l = strlen(name);

	if (l > 0 && name[l - 1] == '.')
		name[l - 1] = '\0';
}

/* 1 if a and b name the same host, ignoring case and a trailing dot */
static int
same_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return (la == lb && strncasecmp(a, b, la) == 0);
}

/*
 * seed_random - make random() differ between delivery children.
 *
 * The children are forked from one parent, so a seed set there would give
 * every child the same order.  Re-seed whenever the pid changes.
 */
static void
seed_random(void)
{
	static pid_t seeded_pid;
	struct timespec ts;
	pid_t pid = getpid();

	if (seeded_pid == pid)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	srandom((unsigned)ts.tv_nsec ^ (unsigned)ts.tv_sec ^
	    ((unsigned)pid << 16));
	seeded_pid = pid;
}

/*
 * order_mx - sort by preference, random order among equal preferences.
 *
 * RFC 5321 5.1: a shuffle followed by a stable sort spreads the load over
 * MX hosts of equal preference.
 */
static void
order_mx(struct mx_rec *mx, size_t n)
{
	struct mx_rec tmp;
	size_t i, j;

	seed_random();
	for (i = n; i > 1; i--) {
		j = (size_t)random() % i;
		tmp = mx[i - 1];
		mx[i - 1] = mx[j];
		mx[j] = tmp;
	}
	for (i = 1; i < n; i++) {
		tmp = mx[i];
		for (j = i; j > 0 && mx[j - 1].pref > tmp.pref; j--)
			mx[j] = mx[j - 1];
		mx[j] = tmp;
	}
}

/* append one address to the list; 0, or -1 when it is full */
static int
add_cand(struct cand_list *l, const char *host, int pref, const struct addrinfo *ai)
{
	struct mx_host *h;
	char ip[NI_MAXHOST];

	if (l->n >= DNS_MAX_CAND)
		return (-1);
	if (ai->ai_addrlen > sizeof(h->addr))
		return (0);
	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, ip, sizeof(ip), NULL, 0,
	    NI_NUMERICHOST) != 0)
		return (0);
	h = &l->v[l->n];
	memset(h, 0, sizeof(*h));
	if (strlcpy(h->host, host, sizeof(h->host)) >= sizeof(h->host) ||
	    strlcpy(h->ip, ip, sizeof(h->ip)) >= sizeof(h->ip))
		return (0);
	h->pref = pref;
	memcpy(&h->addr, ai->ai_addr, ai->ai_addrlen);
	h->addrlen = ai->ai_addrlen;
	l->n++;
	return (0);
}

/*
 * resolve_host - append every address of name (IPv6 first, then IPv4).
 *
 * No AI_ADDRCONFIG: a host with only loopback addresses configured must
 * still get both families.  numeric forbids name lookups (address
 * literals).
 */
static enum addr_res
resolve_host(struct cand_list *l, const char *name, int port, int pref, int numeric)
{
	struct addrinfo hints, *res, *ai;
	char portstr[16];
	size_t before = l->n;
	int e, pass, full = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = AI_NUMERICSERV | (numeric ? AI_NUMERICHOST : 0);
	if (xsnprintf(portstr, sizeof(portstr), "%d", port) != 0)
		return (ADDR_NONAME);
	e = getaddrinfo(name, portstr, &hints, &res);
	switch (e) {
	case 0:
		break;
	case EAI_NONAME:
		return (ADDR_NONAME);
#ifdef EAI_NODATA
	case EAI_NODATA:
		return (ADDR_NODATA);
#endif
	default:
		/* EAI_AGAIN, EAI_FAIL, EAI_SYSTEM, EAI_MEMORY, ... */
		return (ADDR_TEMP);
	}
	for (pass = 0; pass < 2 && !full; pass++) {
		for (ai = res; ai != NULL; ai = ai->ai_next) {
			if (ai->ai_family != (pass == 0 ? AF_INET6 : AF_INET))
				continue;
			if (add_cand(l, name, pref, ai) != 0) {
				full = 1;
				break;
			}
		}
	}
	freeaddrinfo(res);
	if (l->n > before)
		return (ADDR_OK);
	return (full ? ADDR_FULL : ADDR_NODATA);
}

/*
 * add_mx - remember an MX record, once per host (with its best preference).
 *
 * Beyond DNS_MAX_MX records, the least preferred one is dropped, so a huge
 * answer cannot push the best hosts out.
 */
static void
add_mx(struct mx_rec *mx, size_t *nmx, const char *name, int pref)
{
	size_t i, worst = 0;

	for (i = 0; i < *nmx; i++) {
		if (same_name(mx[i].name, name)) {
			if (pref < mx[i].pref)
				mx[i].pref = pref;
			return;
		}
		if (mx[i].pref > mx[worst].pref)
			worst = i;
	}
	if (*nmx < DNS_MAX_MX)
		i = (*nmx)++;
	else if (pref < mx[worst].pref)
		i = worst;
	else
		return;
	strlcpy(mx[i].name, name, sizeof(mx[i].name));
	mx[i].pref = pref;
}

/*
 * parse_mx_answer - read the MX and CNAME records of an answer to qname.
 *
 * CNAMEs are followed inside the answer (an alias chain a -> b -> c);
 * MX records are taken for the name at the end of that chain.  When the
 * chain leaves the answer without MX records, *next receives the last
 * target so that the caller can query it.  *chain counts the CNAMEs
 * followed; a loop inside the answer counts as an endless chain.
 */
static enum mxq
parse_mx_answer(const unsigned char *ans, int len, const char *qname,
    struct mx_rec *mx, size_t *nmx, char *next, size_t nextlen, int *chain)
{
	ns_msg msg;
	ns_rr rr;
	char cur[NS_MAXDNAME], target[NS_MAXDNAME];
	int i, count, hop, moved;

	*nmx = 0;
	*chain = 0;
	if (ns_initparse(ans, len, &msg) < 0)
		return (MXQ_MALFORMED);
	switch (ns_msg_getflag(msg, ns_f_rcode)) {
	case ns_r_noerror:
		break;
	case ns_r_nxdomain:
		return (MXQ_NXDOMAIN);
	default:
		return (MXQ_TEMP);
	}
	count = ns_msg_count(msg, ns_s_an);
	if (strlcpy(cur, qname, sizeof(cur)) >= sizeof(cur))
		return (MXQ_MALFORMED);

	/* Follow CNAMEs listed in the answer, at most one pass per record. */
	for (hop = 0, moved = 1; moved && hop <= count; hop++) {
		moved = 0;
		for (i = 0; i < count; i++) {
			if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
				return (MXQ_MALFORMED);
			if (ns_rr_type(rr) != ns_t_cname ||
			    ns_rr_class(rr) != ns_c_in ||
			    !same_name(ns_rr_name(rr), cur))
				continue;
			if (dn_expand(ns_msg_base(msg), ns_msg_end(msg),
			    ns_rr_rdata(rr), target, sizeof(target)) < 0)
				return (MXQ_MALFORMED);
			if (same_name(target, cur))
				return (MXQ_MALFORMED);
			strlcpy(cur, target, sizeof(cur));
			(*chain)++;
			moved = 1;
			break;
		}
	}
	if (moved) {
		/* A loop inside the answer: a chain without end. */
		*chain = DNS_MAX_CNAME + 1;
		return (MXQ_CNAME);
	}

	for (i = 0; i < count; i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			return (MXQ_MALFORMED);
		if (ns_rr_type(rr) != ns_t_mx || ns_rr_class(rr) != ns_c_in ||
		    !same_name(ns_rr_name(rr), cur))
			continue;
		if (ns_rr_rdlen(rr) < 3)
			return (MXQ_MALFORMED);
		if (dn_expand(ns_msg_base(msg), ns_msg_end(msg),
		    ns_rr_rdata(rr) + 2, target, sizeof(target)) < 0)
			return (MXQ_MALFORMED);
		strip_dot(target);
		add_mx(mx, nmx, target, (int)ns_get16(ns_rr_rdata(rr)));
	}
	if (*nmx > 0)
		return (MXQ_FOUND);
	if (!same_name(cur, qname)) {
		if (strlcpy(next, cur, nextlen) >= nextlen)
			return (MXQ_MALFORMED);
		return (MXQ_CNAME);
	}
	return (MXQ_NOMX);
}

/*
 * query_mx - one MX query for qname.
 *
 * res_nquery, not res_nsearch: a mail domain is fully qualified, and the
 * search list of the local resolv.conf must not turn a typo into some
 * other domain.  A negative return comes with res_h_errno telling
 * NXDOMAIN (HOST_NOT_FOUND) and "exists, no MX" (NO_DATA) apart from the
 * temporary cases (TRY_AGAIN for SERVFAIL and timeouts, NO_RECOVERY for
 * REFUSED/FORMERR, which a local resolver problem can also cause).
 */
static enum mxq
query_mx(res_state st, const char *qname, unsigned char *ans,
    struct mx_rec *mx, size_t *nmx, char *next, size_t nextlen, int *chain)
{
	int len;

	*nmx = 0;
	*chain = 0;
	len = res_nquery(st, qname, ns_c_in, ns_t_mx, ans, DNS_ANSWER_MAX);
	if (len < 0) {
		switch (st->res_h_errno) {
		case HOST_NOT_FOUND:
			return (MXQ_NXDOMAIN);
		case NO_DATA:
			return (MXQ_NOMX);
		default:
			return (MXQ_TEMP);
		}
	}
	if (len > DNS_ANSWER_MAX)	/* truncated to the buffer */
		return (MXQ_MALFORMED);
	return (parse_mx_answer(ans, len, qname, mx, nmx, next, nextlen, chain));
}

/* 1 if every MX is an RFC 7505 null MX (target is the root) */
static int
all_null_mx(const struct mx_rec *mx, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (mx[i].name[0] != '\0' && strcmp(mx[i].name, ".") != 0)
			return (0);
	return (n > 0);
}

/*
 * smarthost_list - resolve SMARTHOST directly (name or [literal]).
 *
 * Every failure is temporary: a smarthost that does not resolve is a
 * configuration or DNS problem, not a property of the message.
 */
static enum dlv
smarthost_list(const char *host, int port, struct cand_list *l, struct dsn *why)
{
	char name[NI_MAXHOST], safe[256];
	size_t len = strlen(host);
	int numeric = 0;

	log_safe(safe, sizeof(safe), host);
	if (host[0] == '[' && len >= 2 && host[len - 1] == ']') {
		host++;
		len -= 2;
		numeric = 1;
		if (strncasecmp(host, "IPv6:", 5) == 0) {
			host += 5;
			len -= 5;
		}
	}
	if (len == 0 || len >= sizeof(name)) {
		dsn_set(why, "4.4.3", "DNS lookup failure: bad smarthost name %s", safe);
		return (DLV_TEMPFAIL);
	}
	memcpy(name, host, len);
	name[len] = '\0';
	switch (resolve_host(l, name, port, 0, numeric)) {
	case ADDR_OK:
		return (DLV_OK);
	case ADDR_NONAME:
		dsn_set(why, "4.4.3", "DNS lookup failure: host %s not found", safe);
		break;
	case ADDR_NODATA:
	case ADDR_FULL:
		dsn_set(why, "4.4.3", "DNS lookup failure: host %s has no address",
		    safe);
		break;
	case ADDR_TEMP:
		dsn_set(why, "4.4.3",
		    "DNS lookup failure: temporary failure looking up %s", safe);
		break;
	}
	return (DLV_TEMPFAIL);
}

/* implicit_mx - the domain itself with preference 0 (no MX records) */
static enum dlv
implicit_mx(const char *domain, int port, struct cand_list *l, const char *safe,
    struct dsn *why)
{
	switch (resolve_host(l, domain, port, 0, 0)) {
	case ADDR_OK:
		return (DLV_OK);
	case ADDR_NONAME:
		dsn_set(why, "5.1.2", "DNS lookup failure: host %s not found", safe);
		return (DLV_PERMFAIL);
	case ADDR_NODATA:
		dsn_set(why, "5.1.2",
		    "DNS lookup failure: host %s has no MX and no address", safe);
		return (DLV_PERMFAIL);
	case ADDR_TEMP:
	case ADDR_FULL:
		break;
	}
	dsn_set(why, "4.4.3",
	    "DNS lookup failure: temporary failure looking up %s", safe);
	return (DLV_TEMPFAIL);
}

/* mx_targets - resolve the MX targets in order; skip those without address */
static enum dlv
mx_targets(struct mx_rec *mx, size_t nmx, int port, struct cand_list *l,
    const char *safe, struct dsn *why)
{
	size_t i;
	int temp = 0;

	for (i = 0; i < nmx && l->n < DNS_MAX_CAND; i++) {
		if (mx[i].name[0] == '\0' || strcmp(mx[i].name, ".") == 0)
			continue;		/* null MX mixed with others */
		switch (resolve_host(l, mx[i].name, port, mx[i].pref, 0)) {
		case ADDR_TEMP:
			temp = 1;
			break;
		default:
			break;
		}
	}
	if (l->n > 0)
		return (DLV_OK);
	dsn_set(why, "4.4.3", "DNS lookup failure: %s for any MX host of %s",
	    temp ? "temporary failure looking up the address" : "no address",
	    safe);
	return (DLV_TEMPFAIL);
}

/*
 * lookup_mx - MX lookup with CNAME following, then the candidates.
 */
static enum dlv
lookup_mx(const char *domain, int port, struct cand_list *l, struct dsn *why)
{
	struct __res_state st;
	struct mx_rec *mx;
	unsigned char *ans;
	char qname[NS_MAXDNAME], next[NS_MAXDNAME], safe[256];
	size_t nmx = 0;
	enum mxq q = MXQ_TEMP;
	enum dlv ret = DLV_TEMPFAIL;
	int hops = 0, chain;

	log_safe(safe, sizeof(safe), domain);
	if (domain[0] == '\0' || strlcpy(qname, domain, sizeof(qname)) >= sizeof(qname)) {
		dsn_set(why, "5.1.2", "DNS lookup failure: bad domain name %s", safe);
		return (DLV_PERMFAIL);
	}
	memset(&st, 0, sizeof(st));
	if (res_ninit(&st) != 0) {
		dsn_set(why, "4.4.3", "DNS lookup failure: cannot initialise the resolver");
		return (DLV_TEMPFAIL);
	}
	ans = xmalloc(DNS_ANSWER_MAX);
	mx = xcalloc(DNS_MAX_MX, sizeof(*mx));
	/*
	 * Each round follows at least one CNAME, so this ends.  CNAMEs inside
	 * an answer count like those needing another query.
	 */
	for (;;) {
		q = query_mx(&st, qname, ans, mx, &nmx, next, sizeof(next), &chain);
		hops += chain;
		if (hops > DNS_MAX_CNAME) {
			q = MXQ_CNAME;
			break;
		}
		if (q != MXQ_CNAME)
			break;
		strlcpy(qname, next, sizeof(qname));
	}
	res_nclose(&st);

	/* After a CNAME, qname is the canonical name (RFC 5321 5.1). */
	switch (q) {
	case MXQ_FOUND:
		if (all_null_mx(mx, nmx)) {
			dsn_set(why, "5.1.10",
			    "domain %s does not accept mail (null MX)", safe);
			ret = DLV_PERMFAIL;
			break;
		}
		order_mx(mx, nmx);
		ret = mx_targets(mx, nmx, port, l, safe, why);
		break;
	case MXQ_NOMX:
		ret = implicit_mx(qname, port, l, safe, why);
		break;
	case MXQ_CNAME:		/* only left when the chain was too long */
		dsn_set(why, "5.4.4", "DNS lookup failure: CNAME chain too long for %s",
		    safe);
		ret = DLV_PERMFAIL;
		break;
	case MXQ_NXDOMAIN:
		dsn_set(why, "5.1.2", "DNS lookup failure: host %s not found", safe);
		ret = DLV_PERMFAIL;
		break;
	case MXQ_MALFORMED:
		dsn_set(why, "4.4.3",
		    "DNS lookup failure: malformed answer looking up MX of %s", safe);
		ret = DLV_TEMPFAIL;
		break;
	case MXQ_TEMP:
		dsn_set(why, "4.4.3",
		    "DNS lookup failure: temporary failure looking up MX of %s", safe);
		ret = DLV_TEMPFAIL;
		break;
	}
	free(ans);
	free(mx);
	return (ret);
}

#ifndef IDN2_SONAME
#define IDN2_SONAME	"libidn2.so.0"
#endif

/* The functions of libidn2 used here, once loaded. */
struct idn_lib {
	int	 (*to_ascii)(const char *, char **, int);
	const char *(*strerror)(int);
	void	 (*free)(void *);
};

/* idn_load - libidn2's functions, loading it once; NULL or the error */
static const char *
idn_load(struct idn_lib *l)
{
	static void *h;
	const char *err;

	if (h == NULL && (h = dlopen(IDN2_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL)
		return ((err = dlerror()) != NULL ? err : "cannot load " IDN2_SONAME);
	l->to_ascii = (int (*)(const char *, char **, int))dlsym(h, "idn2_to_ascii_8z");
	l->strerror = (const char *(*)(int))dlsym(h, "idn2_strerror");
	l->free = (void (*)(void *))dlsym(h, "idn2_free");
	if (l->to_ascii == NULL || l->strerror == NULL || l->free == NULL)
		return (IDN2_SONAME " lacks idn2_to_ascii_8z, idn2_strerror or idn2_free");
	return (NULL);
}

/*
 * idna_name - the A-label form of a domain with bytes >= 0x80 into out;
 * 0, -1 with why set (the name is no valid IDNA2008 one), or -2 with why
 * set when libidn2 can not be loaded (temporary: it may be installed)
 */
static int
idna_name(const char *domain, char *out, size_t outlen, struct dsn *why)
{
	struct idn_lib l;
	char safe[256], *a = NULL;
	const char *err;
	int rc;

	log_safe(safe, sizeof(safe), domain);
	if ((err = idn_load(&l)) != NULL) {
		log_msg(LOG_ERR, "cannot look up %s: %s", safe, err);
		dsn_set(why, "4.3.0", "cannot look up the internationalised domain "
		    "name %s: %s", safe, err);
		return (-2);
	}
	rc = l.to_ascii(domain, &a, IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK || strlcpy(out, a, outlen) >= outlen) {
		dsn_set(why, "5.1.2", "invalid internationalised domain name %s: %s",
		    safe, rc != IDN2_OK ? l.strerror(rc) : "A-label too long");
		l.free(a);
		return (-1);
	}
	l.free(a);
	log_msg(LOG_INFO, "looking up %s as %s", safe, out);
	return (0);
}

/*
 * dns_get_mx_list - delivery candidates for a domain or the smarthost
 *
 * A domain written as an address literal ([192.0.2.1], [IPv6:2001:db8::1])
 * is used as is, without MX lookup (RFC 5321 4.1.3).
 */
enum dlv
dns_get_mx_list(const char *domain, int port, int smarthost,
    struct mx_host **hosts, size_t *n, struct dsn *why)
{
	struct cand_list l;
	char aname[NS_MAXDNAME];
	enum dlv ret;

	*hosts = NULL;
	*n = 0;
	if (!addr_ascii(domain) && domain[0] != '[') {
		switch (idna_name(domain, aname, sizeof(aname), why)) {
		case 0:
			break;
		case -1:
			if (!smarthost)
				return (DLV_PERMFAIL);
			/* a configuration error: mail waits for its fix */
			why->code[0] = '4';
			return (DLV_TEMPFAIL);
		default:
			return (DLV_TEMPFAIL);
		}
		domain = aname;
	}
	l.v = xcalloc(DNS_MAX_CAND, sizeof(*l.v));
	l.n = 0;
	if (smarthost || domain[0] == '[')
		ret = smarthost_list(domain, port, &l, why);
	else
		ret = lookup_mx(domain, port, &l, why);
	if (ret == DLV_TEMPFAIL && domain[0] == '[' && !smarthost) {
		/* a malformed literal in an address will never work */
		ret = DLV_PERMFAIL;
		why->code[0] = '5';
	}
	if (ret != DLV_OK || l.n == 0) {
		free(l.v);
		if (ret == DLV_OK) {
			dsn_set(why, "4.4.3", "DNS lookup failure: no candidates");
			ret = DLV_TEMPFAIL;
		}
		return (ret);
	}
	*hosts = l.v;
	*n = l.n;
	return (DLV_OK);
}
