/*
 * crypto.c - TLS client sessions, certificate checks, base64, CRAM-MD5,
 * SCRAM.
 *
 * The only file that includes <openssl/...>.  Owns one SSL_CTX and one SSL
 * per session (struct tls), created by tls_start and freed by tls_close;
 * nothing of OpenSSL lives in struct config.  Side effects: I/O on the
 * socket the caller passes (which it keeps owning: tls_close does not
 * close it), reading CERTFILE and the system CA store, and syslog lines
 * about fingerprint checks.  Runs in the delivery child with the privilege
 * of dma (setgid mail); CERTFILE is read with it.
 *
 * Everything the peer sends is untrusted.  Passwords and AUTH payloads are
 * never logged; buffers that held them are cleansed.
 */
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dma.h"
#include "ossl.h"	/* last: the OpenSSL names become loaded pointers */

struct tls {
	SSL	*ssl;
	SSL_CTX	*ctx;
	int	 fd;
	int	 fdflags;	/* file status flags before tls_start */
	int	 verified;	/* chain and name checked (VERIFYCERT) */
	int	 pinned;	/* FINGERPRINT matched */
	int	 broken;	/* fatal error seen: no close_notify */
};

/* ---- helpers ------------------------------------------------------- */

/* deadline_of - absolute deadline for timeout seconds (<= 0: none) */
static long long
deadline_of(int timeout)
{
	if (timeout <= 0)
		return (-1);
	return (now_ms() + (long long)timeout * 1000);
}

/*
 * wait_io - wait until fd is ready for what OpenSSL asked for.
 * Returns 0 when ready (or on a poll error the next SSL call will report),
 * -1 with errno ETIMEDOUT when the deadline passed.
 */
static int
wait_io(int fd, int want_write, long long deadline)
{
	struct pollfd pfd;
	long long left;
	int r;

	for (;;) {
		left = -1;
		if (deadline >= 0) {
			left = deadline - now_ms();
			if (left <= 0) {
				errno = ETIMEDOUT;
				return (-1);
			}
			if (left > INT_MAX)
				left = INT_MAX;
		}
		pfd.fd = fd;
		pfd.events = want_write ? POLLOUT : POLLIN;
		pfd.revents = 0;
		r = poll(&pfd, 1, (int)left);
		if (r > 0)
			return (0);
		if (r == 0)
			continue;	/* re-check the deadline */
		if (errno != EINTR)
			return (0);
	}
}

/*
 * ssl_errstr - the reason of the first error on OpenSSL's queue, or fallback.
 * Clears the queue so that later calls start afresh.
 */
static void
ssl_errstr(char *buf, size_t len, const char *fallback)
{
	unsigned long e = ERR_get_error();
	const char *r;

	if (e == 0)
		strlcpy(buf, fallback, len);
	else if ((r = ERR_reason_error_string(e)) != NULL)
		strlcpy(buf, r, len);
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
}

/* ip_literal - strip [] / IPv6: and tell whether host is an IP address */
static int
ip_literal(const char *host, char *ip, size_t iplen)
{
	unsigned char a[sizeof(struct in6_addr)];
	size_t l = strlen(host);

	if (host[0] == '[' && l >= 2 && host[l - 1] == ']') {
		host++;
		l -= 2;
		if (l >= 5 && strncasecmp(host, "IPv6:", 5) == 0) {
			host += 5;
			l -= 5;
		}
	}
	if (l >= iplen)
		return (0);
	memcpy(ip, host, l);
	ip[l] = '\0';
	return (inet_pton(AF_INET, ip, a) == 1 || inet_pton(AF_INET6, ip, a) == 1);
}

/* ---- session setup -------------------------------------------------- */

/* load_certfile - CERTFILE: chain and key from one PEM file */
static int
load_certfile(SSL_CTX *ctx, const char *file, struct dsn *why)
{
	char err[256];

	if (SSL_CTX_use_certificate_chain_file(ctx, file) != 1) {
		ssl_errstr(err, sizeof(err), "unknown error");
		dsn_set(why, "4.7.0", "SSL: Cannot load certificate %s: %s", file, err);
		return (-1);
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, file, SSL_FILETYPE_PEM) != 1) {
		ssl_errstr(err, sizeof(err), "unknown error");
		dsn_set(why, "4.7.0", "SSL: Cannot load private key %s: %s", file, err);
		return (-1);
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_errstr(err, sizeof(err), "unknown error");
		dsn_set(why, "4.7.0", "SSL: Cannot check private key: %s", err);
		return (-1);
	}
	return (0);
}

/*
 * make_ctx - a client context with the settings of dma.conf.
 *
 * TLS 1.2 is the floor: older versions have no mandatory secure cipher.
 * A server that closes without close_notify after QUIT is common; SMTP
 * replies are self-delimiting, so such an EOF is treated as a plain EOF
 * (the reply reader notices a truncated reply itself).
 */
static SSL_CTX *
make_ctx(struct dsn *why)
{
	SSL_CTX *ctx;
	char err[256];

	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		ssl_errstr(err, sizeof(err), "unknown error");
		dsn_set(why, "4.7.0", "SSL: cannot create context: %s", err);
		return (NULL);
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		ssl_errstr(err, sizeof(err), "unknown error");
		dsn_set(why, "4.7.0", "SSL: cannot set minimum version: %s", err);
		SSL_CTX_free(ctx);
		return (NULL);
	}
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (config.certfile != NULL && load_certfile(ctx, config.certfile, why) != 0) {
		SSL_CTX_free(ctx);
		return (NULL);
	}
	if (config.features & VERIFYCERT) {
		if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			ssl_errstr(err, sizeof(err), "unknown error");
			dsn_set(why, "4.7.0", "SSL: cannot load the CA store: %s", err);
			SSL_CTX_free(ctx);
			return (NULL);
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	return (ctx);
}

/* set_peer_name - SNI and, with VERIFYCERT, the name or address to check */
static int
set_peer_name(SSL *ssl, const char *host, struct dsn *why)
{
	char ip[INET6_ADDRSTRLEN + 8], err[256], sni[NI_MAXHOST];
	int isip = ip_literal(host, ip, sizeof(ip));

	/*
	 * RFC 6066 3: SNI carries host names only, never address literals.
	 * (The copy: the OpenSSL macro takes a non-const pointer.)
	 */
	if (!isip && host[0] != '\0') {
		if (strlcpy(sni, host, sizeof(sni)) >= sizeof(sni) ||
		    SSL_set_tlsext_host_name(ssl, sni) != 1) {
			ssl_errstr(err, sizeof(err), "name too long");
			dsn_set(why, "4.7.0", "SSL: cannot set server name: %s", err);
			return (-1);
		}
	}
	if (!(config.features & VERIFYCERT))
		return (0);
	if (isip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip) == 1)
			return (0);
	} else {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set1_host(ssl, host) == 1)
			return (0);
	}
	ssl_errstr(err, sizeof(err), "unknown error");
	dsn_set(why, "4.7.0", "SSL: cannot set the name to verify: %s", err);
	return (-1);
}

/* handshake - SSL_connect on the non-blocking fd until done or deadline */
static int
handshake(struct tls *t, int timeout, struct dsn *why)
{
	long long deadline = deadline_of(timeout);
	char err[256];
	long vr;
	int r, e;

	for (;;) {
		ERR_clear_error();
		errno = 0;
		r = SSL_connect(t->ssl);
		if (r == 1)
			return (0);
		e = SSL_get_error(t->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (wait_io(t->fd, e == SSL_ERROR_WANT_WRITE, deadline) == 0)
				continue;
			dsn_set(why, "4.4.2", "TLS handshake timed out");
			break;
		}
		vr = SSL_get_verify_result(t->ssl);
		if ((config.features & VERIFYCERT) && vr != X509_V_OK) {
			ERR_clear_error();
			(void)xsnprintf(err, sizeof(err), "certificate verify failed: %s",
			    X509_verify_cert_error_string(vr));
		} else if (ERR_peek_error() != 0) {
			ssl_errstr(err, sizeof(err), "unknown error");
		} else if (e == SSL_ERROR_SYSCALL && errno != 0) {
			strlcpy(err, strerror(errno), sizeof(err));
		} else {
			strlcpy(err, "connection closed by peer", sizeof(err));
		}
		dsn_set(why, "4.7.0", "SSL handshake failed fatally: %s", err);
		break;
	}
	t->broken = 1;
	return (-1);
}

/*
 * check_peer - the peer must show a certificate; FINGERPRINT pins it.
 *
 * The fingerprint is compared in constant time although it is public:
 * it costs nothing and keeps the pattern uniform.
 */
static int
check_peer(struct tls *t, struct dsn *why)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	X509 *cert;
	int ret = -1;

	cert = SSL_get1_peer_certificate(t->ssl);
	if (cert == NULL) {
		log_msg(LOG_WARNING, "Peer did not provide certificate");
		dsn_set(why, "4.7.0", "Peer did not provide certificate");
		return (-1);
	}
	if ((config.features & VERIFYCERT) &&
	    SSL_get_verify_result(t->ssl) == X509_V_OK)
		t->verified = 1;
	if (!config.have_fingerprint) {
		ret = 0;
		goto out;
	}
	if (X509_digest(cert, EVP_sha256(), md, &mdlen) != 1 ||
	    mdlen != sizeof(config.fingerprint)) {
		dsn_set(why, "4.7.0", "SSL: cannot compute the certificate fingerprint");
		goto out;
	}
	if (CRYPTO_memcmp(md, config.fingerprint, mdlen) != 0) {
		log_msg(LOG_WARNING, "fingerprints do not match");
		dsn_set(why, "4.7.0", "fingerprints do not match");
		goto out;
	}
	log_msg(LOG_DEBUG, "successfully verified server certificate fingerprint");
	t->pinned = 1;
	ret = 0;
out:
	X509_free(cert);
	return (ret);
}

/* tls_release - free a session; best-effort close_notify unless broken */
static void
tls_release(struct tls *t)
{
	if (t->ssl != NULL) {
		if (!t->broken) {
			ERR_clear_error();
			(void)SSL_shutdown(t->ssl);
		}
		SSL_free(t->ssl);
	}
	SSL_CTX_free(t->ctx);
	ERR_clear_error();
	if (t->fdflags != -1)
		(void)fcntl(t->fd, F_SETFL, t->fdflags);
	free(t);
}

/* ---- the report of dma --serverinfo ---------------------------------- */

/* Set only by dma --serverinfo, before any session (see tls_set_report). */
static void (*report_fn)(void *, const char *, const char *);
static void *report_arg;

void
tls_set_report(void (*fn)(void *, const char *, const char *), void *arg)
{
	report_fn = fn;
	report_arg = arg;
}

/* bio_text - what was written to the memory BIO b, sanitised, into buf */
static void
bio_text(BIO *b, char *buf, size_t len)
{
	char *p;
	long n = BIO_get_mem_data(b, &p);

	if (n < 0)
		n = 0;
	if ((size_t)n >= len)
		n = (long)len - 1;
	memcpy(buf, p, (size_t)n);
	buf[n] = '\0';
	text_sanitise(buf, (size_t)n);
	(void)BIO_reset(b);
}

/* report_cert - subject, issuer and validity of certificate i of the chain */
static void
report_cert(BIO *b, int i, X509 *x)
{
	char text[512], line[600];

	X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
	bio_text(b, text, sizeof(text));
	(void)xsnprintf(line, sizeof(line), "%d subject: %s", i, text);
	report_fn(report_arg, "certificate", line);
	X509_NAME_print_ex(b, X509_get_issuer_name(x), 0, XN_FLAG_RFC2253);
	bio_text(b, text, sizeof(text));
	(void)xsnprintf(line, sizeof(line), "%d issuer: %s", i, text);
	report_fn(report_arg, "certificate", line);
	ASN1_TIME_print(b, X509_get0_notBefore(x));
	(void)BIO_write(b, " until ", 7);
	ASN1_TIME_print(b, X509_get0_notAfter(x));
	bio_text(b, text, sizeof(text));
	(void)xsnprintf(line, sizeof(line), "%d valid: %s", i, text);
	report_fn(report_arg, "certificate", line);
}

/*
 * report_peer - for --serverinfo: protocol and cipher, the chain the
 * server sent (also when the handshake failed on it), the verification
 * result and the leaf's SHA-256 fingerprint in the FINGERPRINT form.
 */
static void
report_peer(struct tls *t, int ok)
{
	STACK_OF(X509) *chain;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, j;
	char line[512], hex[4];
	X509 *leaf = NULL;
	long vr;
	int i;
	BIO *b;

	if (report_fn == NULL || t->ssl == NULL)
		return;
	if (ok) {
		(void)xsnprintf(line, sizeof(line), "%s %s", SSL_get_version(t->ssl),
		    SSL_CIPHER_get_name(SSL_get_current_cipher(t->ssl)));
		report_fn(report_arg, "tls", line);
	}
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return;
	chain = SSL_get_peer_cert_chain(t->ssl);
	for (i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
		if (i == 0)
			leaf = sk_X509_value(chain, 0);
		report_cert(b, i, sk_X509_value(chain, i));
	}
	BIO_free(b);
	if (leaf == NULL) {
		report_fn(report_arg, "certificate", "none received");
		return;
	}
	vr = SSL_get_verify_result(t->ssl);
	if (!(config.features & VERIFYCERT))
		report_fn(report_arg, "verification", "not required (VERIFYCERT not set)");
	else if (vr == X509_V_OK)
		report_fn(report_arg, "verification", "ok");
	else {
		(void)xsnprintf(line, sizeof(line), "failed: %s",
		    X509_verify_cert_error_string(vr));
		report_fn(report_arg, "verification", line);
	}
	if (X509_digest(leaf, EVP_sha256(), md, &mdlen) != 1)
		return;
	line[0] = '\0';
	for (j = 0; j < mdlen; j++) {
		snprintf(hex, sizeof(hex), j > 0 ? ":%02X" : "%02X", md[j]);
		strlcat(line, hex, sizeof(line));
	}
	report_fn(report_arg, "fingerprint", line);
	if (config.have_fingerprint)
		report_fn(report_arg, "pinning", mdlen == sizeof(config.fingerprint) &&
		    CRYPTO_memcmp(md, config.fingerprint, mdlen) == 0 ?
		    "matches FINGERPRINT" : "does not match FINGERPRINT");
}

/*
 * tls_start - handshake as a client on fd; see dma.h.
 *
 * The fd stays non-blocking while the session lives: every read, write and
 * the handshake wait in poll() with a deadline, so a silent peer cannot
 * hold the delivery child forever.  tls_close restores the flags.
 */
int
tls_start(int fd, const char *host, int timeout, struct tls **out, struct dsn *why)
{
	struct tls *t;
	char err[256];

	*out = NULL;
	if (ossl_load(err, sizeof(err)) != 0) {
		dsn_set(why, "4.7.0", "TLS impossible: %s", err);
		return (-1);
	}
	ERR_clear_error();
	t = xcalloc(1, sizeof(*t));
	t->fd = fd;
	t->fdflags = -1;
	t->broken = 1;		/* nothing to shut down until the handshake */
	if ((t->ctx = make_ctx(why)) == NULL)
		goto fail;
	if ((t->ssl = SSL_new(t->ctx)) == NULL || SSL_set_fd(t->ssl, fd) != 1) {
		ssl_errstr(err, sizeof(err), "unknown error");
		dsn_set(why, "4.7.0", "SSL: cannot create session: %s", err);
		goto fail;
	}
	if (set_peer_name(t->ssl, host != NULL ? host : "", why) != 0)
		goto fail;
	if ((t->fdflags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, t->fdflags | O_NONBLOCK) == -1) {
		dsn_set(why, "4.4.2", "SSL: cannot set the socket non-blocking: %s",
		    strerror(errno));
		goto fail;
	}
	if (handshake(t, timeout, why) != 0) {
		report_peer(t, 0);
		goto fail;
	}
	report_peer(t, 1);
	t->broken = 0;
	if (check_peer(t, why) != 0)
		goto fail;
	*out = t;
	return (0);
fail:
	tls_release(t);
	return (-1);
}

/* ---- session I/O ----------------------------------------------------- */

/*
 * io_wait_or_fail - after a failed SSL_read_ex/SSL_write_ex: 1 when the
 * socket became ready (retry), 0 on a close_notify, -1 on error or
 * timeout (errno ETIMEDOUT).
 */
static int
io_wait_or_fail(struct tls *t, int r, long long deadline)
{
	char err[256];
	int e = SSL_get_error(t->ssl, r);

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		if (wait_io(t->fd, e == SSL_ERROR_WANT_WRITE, deadline) == 0)
			return (1);
		return (-1);	/* errno is ETIMEDOUT */
	}
	if (e == SSL_ERROR_ZERO_RETURN)
		return (0);
	t->broken = 1;
	if (e == SSL_ERROR_SYSCALL && errno != 0)
		return (-1);
	/*
	 * The caller only sees an I/O error; say what TLS reported (e.g. the
	 * alert of a server that wanted a client certificate).
	 */
	ssl_errstr(err, sizeof(err), "connection closed by peer");
	log_msg(LOG_NOTICE, "TLS session failed: %s", err);
	errno = EIO;
	return (-1);
}

/* tls_read - see dma.h; timeout <= 0 waits without limit */
ssize_t
tls_read(struct tls *t, void *buf, size_t len, int timeout)
{
	long long deadline = deadline_of(timeout);
	size_t got = 0;
	int r;

	if (t == NULL || t->broken) {
		errno = EIO;
		return (-1);
	}
	if (len == 0)
		return (0);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	for (;;) {
		ERR_clear_error();
		errno = 0;
		if (SSL_read_ex(t->ssl, buf, len, &got) == 1)
			return ((ssize_t)got);
		r = io_wait_or_fail(t, 0, deadline);
		if (r == 1)
			continue;
		return (r);
	}
}

/* tls_write - see dma.h; writes all of buf or fails */
ssize_t
tls_write(struct tls *t, const void *buf, size_t len, int timeout)
{
	long long deadline = deadline_of(timeout);
	const char *p = buf;
	size_t done = 0, n;
	int r;

	if (t == NULL || t->broken) {
		errno = EIO;
		return (-1);
	}
	if (len > SSIZE_MAX) {
		errno = EINVAL;
		return (-1);
	}
	while (done < len) {
		ERR_clear_error();
		errno = 0;
		n = 0;
		if (SSL_write_ex(t->ssl, p + done, len - done, &n) == 1) {
			done += n;
			continue;
		}
		r = io_wait_or_fail(t, 0, deadline);
		if (r == 1)
			continue;
		if (r == 0) {
			t->broken = 1;
			errno = EPIPE;
		}
		return (-1);
	}
	return ((ssize_t)len);
}

/* tls_close - see dma.h; NULL-safe, leaves the fd open */
void
tls_close(struct tls *t)
{
	if (t != NULL)
		tls_release(t);
}

/* tls_describe - see dma.h */
void
tls_describe(const struct tls *t, char *buf, size_t len)
{
	const char *check;

	if (t == NULL || t->ssl == NULL) {
		(void)xsnprintf(buf, len, "no TLS");
		return;
	}
	if (t->verified && t->pinned)
		check = "certificate verified and pinned";
	else if (t->verified)
		check = "certificate verified";
	else if (t->pinned)
		check = "certificate pinned";
	else
		check = "certificate not checked";
	/* A truncated description is still a useful log line. */
	(void)xsnprintf(buf, len, "%s %s, %s", SSL_get_version(t->ssl),
	    SSL_CIPHER_get_name(SSL_get_current_cipher(t->ssl)), check);
}

/* ---- base64 and CRAM-MD5 ------------------------------------------- */

/* b64_encode - see dma.h; dst is NUL-terminated */
int
b64_encode(const void *src, size_t len, char *dst, size_t dstlen)
{
	size_t need;
	char err[256];

	if (ossl_load(err, sizeof(err)) != 0)
		return (-1);
	if (len > (size_t)INT_MAX / 4 * 3 - 3)
		return (-1);
	need = (len + 2) / 3 * 4 + 1;
	if (dstlen < need)
		return (-1);
	return (EVP_EncodeBlock((unsigned char *)dst, src, (int)len));
}

static int
b64_char(int c)
{
	return ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/');
}

/*
 * b64_decode - see dma.h.
 *
 * Strict RFC 4648 input: the alphabet only, length a multiple of four,
 * at most two '=' and only at the end; trailing CR/LF/blanks are ignored.
 * Returns the true decoded length (padding removed) and NUL-terminates
 * dst when there is room for it.
 */
int
b64_decode(const char *src, void *dst, size_t dstlen)
{
	unsigned char *tmp;
	size_t n, i, pad = 0, full, outlen;
	char err[256];
	int r;

	if (ossl_load(err, sizeof(err)) != 0)
		return (-1);
	n = strlen(src);
	while (n > 0 && (src[n - 1] == '\r' || src[n - 1] == '\n' ||
	    src[n - 1] == ' ' || src[n - 1] == '\t'))
		n--;
	if (n % 4 != 0 || n > INT_MAX)
		return (-1);
	if (n > 0 && src[n - 1] == '=')
		pad++;
	if (n > 1 && src[n - 2] == '=')
		pad++;
	for (i = 0; i < n - pad; i++)
		if (!b64_char((unsigned char)src[i]))
			return (-1);
	full = n / 4 * 3;
	outlen = full - pad;
	if (outlen > dstlen)
		return (-1);
	if (n == 0) {
		if (dstlen > 0)
			((char *)dst)[0] = '\0';
		return (0);
	}
	/* EVP_DecodeBlock writes the padding bytes too. */
	tmp = xmalloc(full);
	r = EVP_DecodeBlock(tmp, (const unsigned char *)src, (int)n);
	if (r < 0 || (size_t)r != full) {
		OPENSSL_cleanse(tmp, full);
		free(tmp);
		return (-1);
	}
	memcpy(dst, tmp, outlen);
	if (outlen < dstlen)
		((char *)dst)[outlen] = '\0';
	OPENSSL_cleanse(tmp, full);
	free(tmp);
	return ((int)outlen);
}

/*
 * auth_cram_md5 - the RFC 2195 response to a base64 challenge.
 *
 * The digest is HMAC-MD5 keyed with the password over the decoded
 * challenge, in lower-case hex.  Intermediate buffers holding the password
 * derived data are cleansed.  Returns the length of out or -1.
 */
int
auth_cram_md5(const char *challenge_b64, const char *login, const char *password,
    char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE], *chal;
	char *resp = NULL, *p, err[256];
	size_t clen, mdlen = 0, i, rlen;
	int n, ret = -1;

	if (ossl_load(err, sizeof(err)) != 0)
		return (-1);
	clen = strlen(challenge_b64) / 4 * 3 + 3;
	chal = xmalloc(clen);
	n = b64_decode(challenge_b64, chal, clen);
	if (n < 0)
		goto out;
	if (EVP_Q_mac(NULL, "HMAC", NULL, "MD5", NULL, password, strlen(password),
	    chal, (size_t)n, md, sizeof(md), &mdlen) == NULL || mdlen != 16) {
		ERR_clear_error();
		goto out;
	}
	rlen = strlen(login) + 1 + 2 * mdlen + 1;
	resp = xmalloc(rlen);
	if (xsnprintf(resp, rlen, "%s ", login) != 0)
		goto out;
	p = resp + strlen(resp);
	for (i = 0; i < mdlen; i++) {
		*p++ = hex[md[i] >> 4];
		*p++ = hex[md[i] & 0x0f];
	}
	*p = '\0';
	ret = b64_encode(resp, rlen - 1, out, outlen);
out:
	OPENSSL_cleanse(md, sizeof(md));
	OPENSSL_cleanse(chal, clen);
	free(chal);
	if (resp != NULL) {
		OPENSSL_cleanse(resp, strlen(resp));
		free(resp);
	}
	return (ret);
}

/* ---- SCRAM (RFC 5802, RFC 7677) ------------------------------------ */

/*
 * auth_saslname - login with ',' and '=' escaped as RFC 5802 5.1 wants
 * ("=2C", "=3D").  No other SASLprep (RFC 4013) step is applied: the
 * login and the password go out as the bytes auth.conf holds.
 */
char *
auth_saslname(const char *login)
{
	const char *p;
	char *out, *q;
	size_t n = 1;

	for (p = login; *p != '\0'; p++)
		n += (*p == ',' || *p == '=') ? 3 : 1;
	out = q = xmalloc(n);
	for (p = login; *p != '\0'; p++) {
		if (*p == ',') {
			memcpy(q, "=2C", 3);
			q += 3;
		} else if (*p == '=') {
			memcpy(q, "=3D", 3);
			q += 3;
		} else
			*q++ = *p;
	}
	*q = '\0';
	return (out);
}

/*
 * auth_scram_start - the client-first-message "n,,n=LOGIN,r=NONCE".
 * The GS2 header "n,," says: no channel binding, no authorization
 * identity.  cnonce NULL draws 24 random bytes (base64: 32 printable
 * characters, never ',').
 */
int
auth_scram_start(struct scram *sc, const char *md, const char *login,
    const char *cnonce, char **first, char *why, size_t whylen)
{
	unsigned char rnd[24];
	char *name;

	memset(sc, 0, sizeof(*sc));
	*first = NULL;
	if (ossl_load(why, whylen) != 0)
		return (-1);
	if (strlen(md) >= sizeof(sc->md)) {
		snprintf(why, whylen, "unknown SCRAM digest %s", md);
		return (-1);
	}
	memcpy(sc->md, md, strlen(md) + 1);
	if (cnonce == NULL) {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
			ERR_clear_error();
			snprintf(why, whylen, "no random bytes for the SCRAM nonce");
			return (-1);
		}
		if (b64_encode(rnd, sizeof(rnd), sc->cnonce, sizeof(sc->cnonce)) < 0)
			return (-1);
	} else if (xsnprintf(sc->cnonce, sizeof(sc->cnonce), "%s", cnonce) != 0) {
		snprintf(why, whylen, "SCRAM nonce too long");
		return (-1);
	}
	name = auth_saslname(login);
	sc->first_bare = xasprintf("n=%s,r=%s", name, sc->cnonce);
	free(name);
	*first = xasprintf("n,,%s", sc->first_bare);
	return (0);
}

/*
 * scram_attr - the value of attribute c ("c=value") at *p, which is
 * advanced past it and its ','.  NULL when *p does not start with it.
 * The value is malloc'ed.
 */
static char *
scram_attr(const char **p, int c)
{
	const char *s = *p;
	size_t k;

	if (s[0] != c || s[1] != '=')
		return (NULL);
	s += 2;
	k = strcspn(s, ",");
	*p = s + k + (s[k] == ',');
	return (xstrndup(s, k));
}

static int
scram_hmac(const char *md, const void *key, size_t keylen, const void *data,
    size_t len, unsigned char *out, size_t *outlen)
{
	if (EVP_Q_mac(NULL, "HMAC", NULL, md, NULL, key, keylen, data, len,
	    out, EVP_MAX_MD_SIZE, outlen) == NULL) {
		ERR_clear_error();
		return (-1);
	}
	return (0);
}

/*
 * auth_scram_step - the client-final-message for server_first.
 *
 *	SaltedPassword  = PBKDF2(HMAC-H, password, salt, i)
 *	ClientKey       = HMAC(SaltedPassword, "Client Key")
 *	StoredKey       = H(ClientKey)
 *	AuthMessage     = client-first-bare "," server-first ","
 *			  client-final-without-proof
 *	ClientProof     = ClientKey XOR HMAC(StoredKey, AuthMessage)
 *	ServerSignature = HMAC(HMAC(SaltedPassword, "Server Key"), AuthMessage)
 *
 * The server's nonce must extend ours; an iteration count beyond
 * SCRAM_MAX_ITER is refused (a hostile server could make us spin), as is
 * a mandatory extension ("m=").  The expected server signature is kept
 * in sc for auth_scram_verify.  Every key is cleansed.
 */
int
auth_scram_step(struct scram *sc, const char *password, const char *server_first,
    char **final, char *why, size_t whylen)
{
	unsigned char salted[EVP_MAX_MD_SIZE], ckey[EVP_MAX_MD_SIZE];
	unsigned char skey[EVP_MAX_MD_SIZE], stored[EVP_MAX_MD_SIZE];
	unsigned char csig[EVP_MAX_MD_SIZE], *salt = NULL;
	char proof64[EVP_MAX_MD_SIZE * 2], *nonce = NULL, *salt64 = NULL;
	char *iter = NULL, *without = NULL, *amsg = NULL, *end;
	const char *p = server_first;
	const EVP_MD *evp;
	unsigned int dlen = 0;
	size_t hlen, n, i;
	unsigned long it;
	int slen, ret = -1;

	*final = NULL;
	if (ossl_load(why, whylen) != 0)
		return (-1);
	if ((evp = EVP_get_digestbyname(sc->md)) == NULL) {
		snprintf(why, whylen, "digest %s not available", sc->md);
		return (-1);
	}
	hlen = (size_t)EVP_MD_get_size(evp);
	if (hlen == 0 || hlen > EVP_MAX_MD_SIZE) {
		snprintf(why, whylen, "digest %s not usable", sc->md);
		return (-1);
	}
	if (strncmp(p, "m=", 2) == 0) {
		snprintf(why, whylen, "the server asks for an unsupported SCRAM extension");
		return (-1);
	}
	if ((nonce = scram_attr(&p, 'r')) == NULL ||
	    (salt64 = scram_attr(&p, 's')) == NULL ||
	    (iter = scram_attr(&p, 'i')) == NULL) {
		snprintf(why, whylen, "malformed SCRAM server-first-message");
		goto out;
	}
	n = strlen(sc->cnonce);
	if (strncmp(nonce, sc->cnonce, n) != 0 || nonce[n] == '\0') {
		snprintf(why, whylen, "the server's SCRAM nonce does not extend ours");
		goto out;
	}
	for (i = 0; nonce[i] != '\0'; i++) {
		if (nonce[i] < 0x21 || nonce[i] > 0x7e) {
			snprintf(why, whylen, "the server's SCRAM nonce is not printable");
			goto out;
		}
	}
	errno = 0;
	it = strtoul(iter, &end, 10);
	if (iter[0] < '1' || iter[0] > '9' || *end != '\0' || errno != 0 ||
	    it > SCRAM_MAX_ITER) {
		snprintf(why, whylen, "SCRAM iteration count %.20s refused (1..%d)",
		    iter, SCRAM_MAX_ITER);
		goto out;
	}
	salt = xmalloc(strlen(salt64) + 3);
	if ((slen = b64_decode(salt64, salt, strlen(salt64) + 3)) <= 0) {
		snprintf(why, whylen, "malformed SCRAM salt");
		goto out;
	}
	if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, slen, (int)it,
	    evp, (int)hlen, salted) != 1 ||
	    scram_hmac(sc->md, salted, hlen, "Client Key", 10, ckey, &n) != 0 ||
	    EVP_Digest(ckey, hlen, stored, &dlen, evp, NULL) != 1 ||
	    scram_hmac(sc->md, salted, hlen, "Server Key", 10, skey, &n) != 0) {
		ERR_clear_error();
		snprintf(why, whylen, "SCRAM key derivation failed");
		goto out;
	}
	/* "biws" is base64("n,,"), the GS2 header without channel binding. */
	without = xasprintf("c=biws,r=%s", nonce);
	amsg = xasprintf("%s,%s,%s", sc->first_bare, server_first, without);
	if (scram_hmac(sc->md, stored, hlen, amsg, strlen(amsg), csig, &n) != 0 ||
	    scram_hmac(sc->md, skey, hlen, amsg, strlen(amsg), sc->ssig,
	    &sc->ssiglen) != 0) {
		snprintf(why, whylen, "SCRAM signature computation failed");
		goto out;
	}
	for (i = 0; i < hlen; i++)
		ckey[i] ^= csig[i];
	if (b64_encode(ckey, hlen, proof64, sizeof(proof64)) < 0)
		goto out;
	*final = xasprintf("%s,p=%s", without, proof64);
	ret = 0;
out:
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(ckey, sizeof(ckey));
	OPENSSL_cleanse(skey, sizeof(skey));
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(csig, sizeof(csig));
	OPENSSL_cleanse(proof64, sizeof(proof64));
	free(salt);
	free(nonce);
	free(salt64);
	free(iter);
	free(without);
	free(amsg);
	return (ret);
}

/*
 * auth_scram_verify - check the server-final-message "v=SIGNATURE"
 * against the signature auth_scram_step computed.  A server that does
 * not know the password (or its stored keys) can not produce it.
 * "e=..." is the server's own refusal.
 */
int
auth_scram_verify(struct scram *sc, const char *server_final, char *why, size_t whylen)
{
	unsigned char got[EVP_MAX_MD_SIZE + 3];
	const char *p = server_final;
	char *v;
	int n, ret = -1;

	if (ossl_load(why, whylen) != 0)
		return (-1);
	if (p[0] == 'e' && p[1] == '=') {
		snprintf(why, whylen, "the server refused the SCRAM proof (%.64s)", p + 2);
		return (-1);
	}
	if ((v = scram_attr(&p, 'v')) == NULL) {
		snprintf(why, whylen, "malformed SCRAM server-final-message");
		return (-1);
	}
	n = b64_decode(v, got, sizeof(got));
	if (sc->ssiglen == 0 || n < 0 || (size_t)n != sc->ssiglen ||
	    CRYPTO_memcmp(got, sc->ssig, sc->ssiglen) != 0)
		snprintf(why, whylen, "SCRAM server signature mismatch: the server "
		    "did not prove that it knows the password");
	else
		ret = 0;
	free(v);
	return (ret);
}

void
auth_scram_free(struct scram *sc)
{
	free(sc->first_bare);
	/* Also after a start that could not load OpenSSL. */
	explicit_bzero(sc, sizeof(*sc));
}
