/*
 * sink.c - a counting, discarding SMTP server for the benchmark (test/bench).
 *
 * Built by `make bench` only; never installed.  Runs unprivileged or as
 * root inside the benchmark's namespaces and listens on 127.0.0.1 only.
 *
 * Usage: sink -o STATSFILE [-p PORT] [-s TLSPORT -c CERT -k KEY]
 *             [-a USER:PASSWORD]
 *
 *   -p PORT     plain SMTP listener (0, the default: any free port)
 *   -s TLSPORT  implicit TLS listener (0: any free port), with the PEM
 *               certificate chain CERT and private key KEY
 *   -a U:P      offer AUTH PLAIN and LOGIN and accept this one login
 *   -o FILE     where the counts are written on SIGTERM or SIGINT
 *
 * Prints "READY PORT TLSPORT" (TLSPORT 0 without -s) once it listens.
 * Speaks ESMTP with PIPELINING, 8BITMIME and SIZE; replies to pipelined
 * commands in order, in one write per batch of input; accepts every
 * envelope and every message and throws the message away.  One thread per
 * connection, blocking I/O.  On SIGTERM or SIGINT it rewrites FILE
 * atomically (FILE.tmp renamed) with lines "NAME COUNT":
 *   connections  accepted TCP connections (both listeners)
 *   handshakes   completed TLS handshakes
 *   logins       successful AUTH exchanges
 *   transactions MAIL commands accepted
 *   recipients   RCPT commands accepted
 *   messages     messages accepted (250 after the final ".")
 *   bytes        message bytes received, dot-stuffing and CRLFs included
 * and exits 0.  Exit status 1 on a usage or setup error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* accept4, ppoll */
#endif
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#define INBUF		65536
#define OUTBUF		8192
#define SIZELIMIT	"1073741824"	/* the SIZE announced, 1 GiB */

enum counter {
	N_CONN, N_TLS, N_AUTH, N_MAIL, N_RCPT, N_MSG, N_BYTES, N_COUNTERS
};

static const char *const counter_name[N_COUNTERS] = {
	"connections", "handshakes", "logins", "transactions", "recipients",
	"messages", "bytes",
};

static atomic_ullong counts[N_COUNTERS];
static volatile sig_atomic_t stop;
static SSL_CTX *tls_ctx;
static const char *login_user;		/* NULL: no AUTH offered */
static const char *login_pass;

enum state {
	S_CMD,			/* reading commands */
	S_DATA,			/* reading a message, see data_scan() */
	S_AUTH_PLAIN,		/* waiting for the PLAIN response */
	S_AUTH_USER,		/* waiting for the LOGIN user name */
	S_AUTH_PASS,		/* waiting for the LOGIN password */
	S_QUIT,
};

/* Where the message scanner is: the end is CRLF "." CRLF (or bare LFs). */
enum dstate { D_LINE, D_BOL, D_DOT, D_DOTCR };

struct conn {
	int fd;
	SSL *ssl;
	enum state state;
	enum dstate dstate;
	int in_mail;		/* MAIL accepted, no message yet */
	int nrcpt;
	int authed;
	char user[256];		/* the LOGIN user name */
	size_t ioff, ilen;
	size_t olen;
	char in[INBUF];
	char out[OUTBUF];
};

static void
count(enum counter c, unsigned long long n)
{
	atomic_fetch_add_explicit(&counts[c], n, memory_order_relaxed);
}

/* write_stats - rewrite the stats file atomically */
static int
write_stats(const char *path)
{
	char tmp[4096];
	FILE *f;
	int i;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return (-1);
	if ((f = fopen(tmp, "w")) == NULL)
		return (-1);
	for (i = 0; i < N_COUNTERS; i++)
		fprintf(f, "%s %llu\n", counter_name[i],
		    (unsigned long long)atomic_load(&counts[i]));
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		return (-1);
	return (0);
}

/* conn_flush - send the buffered replies; -1 when the peer is gone */
static int
conn_flush(struct conn *c)
{
	size_t off = 0;
	ssize_t n;

	while (off < c->olen) {
		if (c->ssl != NULL)
			n = SSL_write(c->ssl, c->out + off, (int)(c->olen - off));
		else
			n = write(c->fd, c->out + off, c->olen - off);
		if (n <= 0) {
			if (c->ssl == NULL && n < 0 && errno == EINTR)
				continue;
			return (-1);
		}
		off += (size_t)n;
	}
	c->olen = 0;
	return (0);
}

/* reply - queue one reply line (CRLF added); flushed before the next read */
static int
reply(struct conn *c, const char *line)
{
	size_t len = strlen(line);

	if (c->olen + len + 2 > sizeof(c->out) && conn_flush(c) != 0)
		return (-1);
	memcpy(c->out + c->olen, line, len);
	memcpy(c->out + c->olen + len, "\r\n", 2);
	c->olen += len + 2;
	return (0);
}

/* conn_read - append what the peer sent; the byte count, 0 at EOF or error */
static ssize_t
conn_read(struct conn *c)
{
	ssize_t n;

	if (c->ioff > 0) {
		memmove(c->in, c->in + c->ioff, c->ilen - c->ioff);
		c->ilen -= c->ioff;
		c->ioff = 0;
	}
	if (c->ilen == sizeof(c->in))
		return (0);
	do {
		if (c->ssl != NULL)
			n = SSL_read(c->ssl, c->in + c->ilen,
			    (int)(sizeof(c->in) - c->ilen));
		else
			n = read(c->fd, c->in + c->ilen, sizeof(c->in) - c->ilen);
	} while (n < 0 && c->ssl == NULL && errno == EINTR);
	if (n <= 0)
		return (0);
	c->ilen += (size_t)n;
	return (n);
}

/*
 * b64_decode - decode the base64 text S into OUT (NUL-terminated); the
 * decoded length, or -1 when S is not base64 or does not fit.
 */
static int
b64_decode(const char *s, char *out, size_t outsz)
{
	size_t len = strlen(s);
	int n;

	if (len % 4 != 0 || len / 4 * 3 + 1 > outsz)
		return (-1);
	n = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)s,
	    (int)len);
	if (n < 0)
		return (-1);
	if (len > 0 && s[len - 1] == '=')
		n--;
	if (len > 1 && s[len - 2] == '=')
		n--;
	out[n] = '\0';
	return (n);
}

/* auth_done - the outcome of an AUTH exchange */
static int
auth_done(struct conn *c, const char *user, const char *pass)
{
	c->state = S_CMD;
	if (strcmp(user, login_user) != 0 || strcmp(pass, login_pass) != 0)
		return (reply(c, "535 5.7.8 authentication failed"));
	c->authed = 1;
	count(N_AUTH, 1);
	return (reply(c, "235 2.7.0 authenticated"));
}

/* auth_plain - check a PLAIN response: authzid NUL authcid NUL password */
static int
auth_plain(struct conn *c, const char *resp)
{
	char buf[1024];
	const char *user, *pass;
	int n;

	if ((n = b64_decode(resp, buf, sizeof(buf))) < 0 ||
	    (user = memchr(buf, '\0', (size_t)n)) == NULL || ++user >= buf + n ||
	    (pass = memchr(user, '\0', (size_t)(buf + n - user))) == NULL) {
		c->state = S_CMD;
		return (reply(c, "501 5.5.2 bad PLAIN response"));
	}
	pass++;
	return (auth_done(c, user, pass));
}

/* auth_line - one line of an AUTH exchange in progress */
static int
auth_line(struct conn *c, const char *line)
{
	char buf[256];

	if (strcmp(line, "*") == 0) {
		c->state = S_CMD;
		return (reply(c, "501 5.7.0 authentication cancelled"));
	}
	switch (c->state) {
	case S_AUTH_PLAIN:
		return (auth_plain(c, line));
	case S_AUTH_USER:
		if (b64_decode(line, c->user, sizeof(c->user)) < 0)
			break;
		c->state = S_AUTH_PASS;
		return (reply(c, "334 UGFzc3dvcmQ6"));
	case S_AUTH_PASS:
		if (b64_decode(line, buf, sizeof(buf)) < 0)
			break;
		return (auth_done(c, c->user, buf));
	default:
		break;
	}
	c->state = S_CMD;
	return (reply(c, "501 5.5.2 bad base64"));
}

/* cmd_auth - AUTH PLAIN [resp] or AUTH LOGIN [resp] */
static int
cmd_auth(struct conn *c, const char *arg)
{
	const char *resp;

	if (login_user == NULL)
		return (reply(c, "502 5.5.1 no AUTH here"));
	if (c->authed || c->in_mail)
		return (reply(c, "503 5.5.1 AUTH not allowed now"));
	resp = strchr(arg, ' ');
	if (resp != NULL)
		resp++;
	if (strncasecmp(arg, "PLAIN", 5) == 0 && (arg[5] == '\0' || arg[5] == ' ')) {
		if (resp != NULL)
			return (auth_plain(c, resp));
		c->state = S_AUTH_PLAIN;
		return (reply(c, "334 "));
	}
	if (strncasecmp(arg, "LOGIN", 5) == 0 && (arg[5] == '\0' || arg[5] == ' ')) {
		if (resp != NULL) {
			c->state = S_AUTH_USER;
			return (auth_line(c, resp));
		}
		c->state = S_AUTH_USER;
		return (reply(c, "334 VXNlcm5hbWU6"));
	}
	return (reply(c, "504 5.5.4 unknown mechanism"));
}

/* command - one command line, CRLF removed */
static int
command(struct conn *c, const char *line)
{
	char verb[5];
	const char *arg;

	if (c->state != S_CMD)
		return (auth_line(c, line));
	if (strlen(line) < 4 || (line[4] != '\0' && line[4] != ' '))
		return (reply(c, "500 5.5.2 syntax error"));
	memcpy(verb, line, 4);
	verb[4] = '\0';
	arg = line[4] == ' ' ? line + 5 : "";
	if (strcasecmp(verb, "EHLO") == 0) {
		c->in_mail = 0;
		if (reply(c, "250-sink.test") != 0 ||
		    reply(c, "250-PIPELINING") != 0 ||
		    reply(c, "250-8BITMIME") != 0 ||
		    (login_user != NULL && reply(c, "250-AUTH PLAIN LOGIN") != 0))
			return (-1);
		return (reply(c, "250 SIZE " SIZELIMIT));
	}
	if (strcasecmp(verb, "HELO") == 0) {
		c->in_mail = 0;
		return (reply(c, "250 sink.test"));
	}
	if (strcasecmp(verb, "MAIL") == 0) {
		if (c->in_mail)
			return (reply(c, "503 5.5.1 nested MAIL"));
		c->in_mail = 1;
		c->nrcpt = 0;
		count(N_MAIL, 1);
		return (reply(c, "250 2.1.0 ok"));
	}
	if (strcasecmp(verb, "RCPT") == 0) {
		if (!c->in_mail)
			return (reply(c, "503 5.5.1 need MAIL"));
		c->nrcpt++;
		count(N_RCPT, 1);
		return (reply(c, "250 2.1.5 ok"));
	}
	if (strcasecmp(verb, "DATA") == 0) {
		if (!c->in_mail || c->nrcpt == 0)
			return (reply(c, "503 5.5.1 need RCPT"));
		c->state = S_DATA;
		c->dstate = D_BOL;
		return (reply(c, "354 go ahead"));
	}
	if (strcasecmp(verb, "RSET") == 0) {
		c->in_mail = 0;
		return (reply(c, "250 2.0.0 ok"));
	}
	if (strcasecmp(verb, "NOOP") == 0)
		return (reply(c, "250 2.0.0 ok"));
	if (strcasecmp(verb, "AUTH") == 0)
		return (cmd_auth(c, arg));
	if (strcasecmp(verb, "QUIT") == 0) {
		c->state = S_QUIT;
		return (reply(c, "221 2.0.0 bye"));
	}
	return (reply(c, "502 5.5.1 not implemented"));
}

/*
 * data_scan - consume message bytes up to the final "."; 1 when the
 * message ended (the bytes after it are left for the command reader)
 */
static int
data_scan(struct conn *c)
{
	char *p = c->in + c->ioff, *end = c->in + c->ilen, *nl;

	while (p < end) {
		switch (c->dstate) {
		case D_LINE:
			if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
				p = end;
				continue;
			}
			p = nl + 1;
			c->dstate = D_BOL;
			continue;
		case D_BOL:
			c->dstate = *p == '.' ? D_DOT : *p == '\n' ? D_BOL : D_LINE;
			break;
		case D_DOT:
			if (*p == '\n')
				goto done;
			c->dstate = *p == '\r' ? D_DOTCR : D_LINE;
			break;
		case D_DOTCR:
			if (*p == '\n')
				goto done;
			c->dstate = D_LINE;
			break;
		}
		p++;
	}
	count(N_BYTES, (unsigned long long)(p - (c->in + c->ioff)));
	c->ioff = c->ilen = 0;
	return (0);
done:
	p++;
	count(N_BYTES, (unsigned long long)(p - (c->in + c->ioff)));
	c->ioff = (size_t)(p - c->in);
	return (1);
}

/*
 * process - handle everything complete in the input buffer; 0 when more
 * input is needed, -1 to close the connection
 */
static int
process(struct conn *c)
{
	char *line, *nl;

	while (c->state != S_QUIT) {
		if (c->state == S_DATA) {
			if (!data_scan(c))
				return (0);
			c->state = S_CMD;
			c->in_mail = 0;
			count(N_MSG, 1);
			if (reply(c, "250 2.0.0 discarded") != 0)
				return (-1);
			continue;
		}
		line = c->in + c->ioff;
		nl = memchr(line, '\n', c->ilen - c->ioff);
		if (nl == NULL) {
			if (c->ioff == 0 && c->ilen == sizeof(c->in)) {
				reply(c, "500 5.5.2 line too long");
				return (-1);
			}
			return (0);
		}
		c->ioff = (size_t)(nl + 1 - c->in);
		*nl = '\0';
		if (nl > line && nl[-1] == '\r')
			nl[-1] = '\0';
		if (command(c, line) != 0)
			return (-1);
	}
	return (-1);
}

/* serve - one connection, from the greeting (or handshake) to the close */
static void *
serve(void *arg)
{
	struct conn *c = arg;
	int on = 1;

	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (c->ssl != NULL) {
		if (SSL_set_fd(c->ssl, c->fd) != 1 || SSL_accept(c->ssl) != 1)
			goto out;
		count(N_TLS, 1);
	}
	if (reply(c, "220 sink.test ESMTP") != 0)
		goto out;
	for (;;) {
		if (process(c) != 0)
			break;
		if (conn_flush(c) != 0 || conn_read(c) == 0)
			break;
	}
	conn_flush(c);
out:
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	close(c->fd);
	free(c);
	return (NULL);
}

/* listen_on - a nonblocking listener on 127.0.0.1:PORT; its port via *PORTP */
static int
listen_on(int port, int *portp)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, on = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return (-1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(fd, 4096) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
		close(fd);
		return (-1);
	}
	*portp = ntohs(sin.sin_port);
	return (fd);
}

/* accept_all - start a thread for every pending connection of LFD */
static void
accept_all(int lfd, int tls, pthread_attr_t *attr)
{
	struct conn *c;
	pthread_t tid;
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		count(N_CONN, 1);
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		if (tls && (c->ssl = SSL_new(tls_ctx)) == NULL) {
			close(fd);
			free(c);
			continue;
		}
		if (pthread_create(&tid, attr, serve, c) != 0) {
			if (c->ssl != NULL)
				SSL_free(c->ssl);
			close(fd);
			free(c);
		}
	}
}

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: sink -o STATSFILE [-p PORT] "
	    "[-s TLSPORT -c CERT -k KEY] [-a USER:PASSWORD]\n");
	exit(1);
}

int
main(int argc, char **argv)
{
	const char *stats = NULL, *cert = NULL, *key = NULL;
	struct pollfd pfd[2];
	struct sigaction sa;
	struct rlimit rl;
	pthread_attr_t attr;
	sigset_t block, orig;
	char *p;
	int port = 0, tlsport = -1, lport, tport = 0, nfd, ch, i;

	while ((ch = getopt(argc, argv, "a:c:k:o:p:s:")) != -1) {
		switch (ch) {
		case 'a':
			if ((p = strchr(optarg, ':')) == NULL)
				usage();
			*p = '\0';
			login_user = optarg;
			login_pass = p + 1;
			break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'o': stats = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 's': tlsport = atoi(optarg); break;
		default: usage();
		}
	}
	if (stats == NULL || optind != argc ||
	    (tlsport >= 0 && (cert == NULL || key == NULL)))
		usage();

	/* One descriptor per connection: the reference opens many at once. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (tlsport >= 0) {
		if ((tls_ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
		    SSL_CTX_use_certificate_chain_file(tls_ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(tls_ctx, key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(tls_ctx) != 1) {
			fprintf(stderr, "sink: cannot load %s and %s\n", cert, key);
			return (1);
		}
	}
	nfd = 0;
	if ((pfd[nfd].fd = listen_on(port, &lport)) < 0) {
		perror("sink: listen");
		return (1);
	}
	pfd[nfd++].events = POLLIN;
	if (tlsport >= 0) {
		if ((pfd[nfd].fd = listen_on(tlsport, &tport)) < 0) {
			perror("sink: listen (TLS)");
			return (1);
		}
		pfd[nfd++].events = POLLIN;
	}

	/*
	 * The connection threads never see SIGTERM or SIGINT: the main
	 * thread takes them in ppoll(), writes the counts and exits.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, &orig);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 128 * 1024);

	printf("READY %d %d\n", lport, tport);
	fflush(stdout);
	while (!stop) {
		if (ppoll(pfd, (nfds_t)nfd, NULL, &orig) < 0) {
			if (errno == EINTR)
				continue;
			perror("sink: poll");
			break;
		}
		for (i = 0; i < nfd; i++)
			if (pfd[i].revents & POLLIN)
				accept_all(pfd[i].fd, i == 1, &attr);
	}
	if (write_stats(stats) != 0) {
		perror(stats);
		return (1);
	}
	return (0);
}
