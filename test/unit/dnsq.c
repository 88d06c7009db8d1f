/*
 * dnsq.c - test driver: print the delivery candidates of a domain.
 *
 *	dnsq [-s] [-p port] domain
 *
 * Calls dns_get_mx_list() and prints, on success, one line per candidate
 * "pref host ip port", exit 0.  On failure prints "TEMPFAIL {code} {text}"
 * or "PERMFAIL {code} {text}" and exits 75 or 69.  -s resolves domain as
 * the smarthost.  Used by test/integration/dns-*.sh inside a private
 * network namespace; it only reads the resolver configuration.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dma.h"

static int
addr_port(const struct mx_host *h)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	if (h->addr.ss_family == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)&h->addr;
		return (ntohs(sin->sin_port));
	}
	if (h->addr.ss_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)(const void *)&h->addr;
		return (ntohs(sin6->sin6_port));
	}
	return (-1);
}

int
main(int argc, char **argv)
{
	struct mx_host *hosts;
	struct dsn why;
	size_t n, i;
	enum dlv r;
	int ch, port = SMTP_PORT, smarthost = 0;

	while ((ch = getopt(argc, argv, "p:s")) != -1) {
		switch (ch) {
		case 'p':
			port = atoi(optarg);
			break;
		case 's':
			smarthost = 1;
			break;
		default:
			fprintf(stderr, "usage: dnsq [-s] [-p port] domain\n");
			return (2);
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: dnsq [-s] [-p port] domain\n");
		return (2);
	}
	memset(&why, 0, sizeof(why));
	r = dns_get_mx_list(argv[optind], port, smarthost, &hosts, &n, &why);
	switch (r) {
	case DLV_OK:
		for (i = 0; i < n; i++)
			printf("%d %s %s %d\n", hosts[i].pref, hosts[i].host,
			    hosts[i].ip, addr_port(&hosts[i]));
		free(hosts);
		return (0);
	case DLV_TEMPFAIL:
		printf("TEMPFAIL %s %s\n", why.code, why.text);
		return (75);
	case DLV_PERMFAIL:
		printf("PERMFAIL %s %s\n", why.code, why.text);
		return (69);
	case DLV_REQUEUE:
		break;
	}
	return (1);
}
