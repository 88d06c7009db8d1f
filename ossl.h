/*
 * ossl.h - the OpenSSL functions dma calls, loaded when first needed.
 *
 * dma is not linked with libssl and libcrypto: mapping and relocating
 * them costs every process about a millisecond and a half (most of a
 * submission's own work), and only TLS, SMTP AUTH and certificate checks
 * need them.  crypto.c, the only user, includes this after the OpenSSL
 * headers: each name below then stands for the pointer ossl_load()
 * resolved with dlopen/dlsym (the types are those of the headers, so a
 * call is checked as before).  Every entry point of crypto.c that can be
 * the first to need OpenSSL calls ossl_load() and fails cleanly when the
 * library can not be loaded.  ossl.c defines OSSL_NO_REDIRECT.
 *
 * Adding an OpenSSL call to crypto.c: add its name to a list below (the
 * link fails with an undefined reference until then).
 */
#ifndef DMA_OSSL_H
#define DMA_OSSL_H

#include <stddef.h>

/* libcrypto's functions (found through libssl, which depends on it) */
#define OSSL_CRYPTO_FUNCS(X) \
	X(ASN1_TIME_print) X(BIO_ctrl) X(BIO_free) X(BIO_new) X(BIO_s_mem) \
	X(BIO_write) X(CRYPTO_memcmp) X(ERR_clear_error) X(ERR_error_string_n) \
	X(ERR_get_error) X(ERR_peek_error) X(ERR_reason_error_string) \
	X(EVP_DecodeBlock) X(EVP_Digest) X(EVP_EncodeBlock) X(EVP_MD_get_size) \
	X(EVP_Q_mac) X(EVP_get_digestbyname) X(EVP_sha256) X(OPENSSL_cleanse) \
	X(OPENSSL_sk_num) X(OPENSSL_sk_value) X(PKCS5_PBKDF2_HMAC) \
	X(RAND_bytes) X(X509_NAME_print_ex) X(X509_VERIFY_PARAM_set1_ip_asc) \
	X(X509_digest) X(X509_free) X(X509_get0_notAfter) \
	X(X509_get0_notBefore) X(X509_get_issuer_name) \
	X(X509_get_subject_name) X(X509_verify_cert_error_string)

/* libssl's */
#define OSSL_SSL_FUNCS(X) \
	X(SSL_CIPHER_get_name) X(SSL_CTX_check_private_key) X(SSL_CTX_ctrl) \
	X(SSL_CTX_free) X(SSL_CTX_new) X(SSL_CTX_set_default_verify_paths) \
	X(SSL_CTX_set_options) X(SSL_CTX_set_verify) \
	X(SSL_CTX_use_PrivateKey_file) X(SSL_CTX_use_certificate_chain_file) \
	X(SSL_connect) X(SSL_ctrl) X(SSL_free) X(SSL_get0_param) \
	X(SSL_get1_peer_certificate) X(SSL_get_current_cipher) \
	X(SSL_get_error) X(SSL_get_peer_cert_chain) X(SSL_get_verify_result) \
	X(SSL_get_version) X(SSL_new) X(SSL_read_ex) X(SSL_set1_host) \
	X(SSL_set_fd) X(SSL_set_hostflags) X(SSL_shutdown) X(SSL_write_ex) \
	X(TLS_client_method)

#define OSSL_MEMBER(f)	__typeof__(&f) f;
struct ossl {
	OSSL_CRYPTO_FUNCS(OSSL_MEMBER)
	OSSL_SSL_FUNCS(OSSL_MEMBER)
};
#undef OSSL_MEMBER

extern struct ossl ossl;

/*
 * ossl_load - load libssl (and with it libcrypto) once per process and
 * resolve every function above.  0, or -1 with why set (the library is
 * missing or lacks a function); a failure is remembered and repeated.
 */
int	 ossl_load(char *why, size_t whylen);

#ifndef OSSL_NO_REDIRECT
#define ASN1_TIME_print (*ossl.ASN1_TIME_print)
#define BIO_ctrl (*ossl.BIO_ctrl)
#define BIO_free (*ossl.BIO_free)
#define BIO_new (*ossl.BIO_new)
#define BIO_s_mem (*ossl.BIO_s_mem)
#define BIO_write (*ossl.BIO_write)
#define CRYPTO_memcmp (*ossl.CRYPTO_memcmp)
#define ERR_clear_error (*ossl.ERR_clear_error)
#define ERR_error_string_n (*ossl.ERR_error_string_n)
#define ERR_get_error (*ossl.ERR_get_error)
#define ERR_peek_error (*ossl.ERR_peek_error)
#define ERR_reason_error_string (*ossl.ERR_reason_error_string)
#define EVP_DecodeBlock (*ossl.EVP_DecodeBlock)
#define EVP_Digest (*ossl.EVP_Digest)
#define EVP_EncodeBlock (*ossl.EVP_EncodeBlock)
#define EVP_MD_get_size (*ossl.EVP_MD_get_size)
#define EVP_Q_mac (*ossl.EVP_Q_mac)
#define EVP_get_digestbyname (*ossl.EVP_get_digestbyname)
#define EVP_sha256 (*ossl.EVP_sha256)
#define OPENSSL_cleanse (*ossl.OPENSSL_cleanse)
#define OPENSSL_sk_num (*ossl.OPENSSL_sk_num)
#define OPENSSL_sk_value (*ossl.OPENSSL_sk_value)
#define PKCS5_PBKDF2_HMAC (*ossl.PKCS5_PBKDF2_HMAC)
#define RAND_bytes (*ossl.RAND_bytes)
#define X509_NAME_print_ex (*ossl.X509_NAME_print_ex)
#define X509_VERIFY_PARAM_set1_ip_asc (*ossl.X509_VERIFY_PARAM_set1_ip_asc)
#define X509_digest (*ossl.X509_digest)
#define X509_free (*ossl.X509_free)
#define X509_get0_notAfter (*ossl.X509_get0_notAfter)
#define X509_get0_notBefore (*ossl.X509_get0_notBefore)
#define X509_get_issuer_name (*ossl.X509_get_issuer_name)
#define X509_get_subject_name (*ossl.X509_get_subject_name)
#define X509_verify_cert_error_string (*ossl.X509_verify_cert_error_string)
#define SSL_CIPHER_get_name (*ossl.SSL_CIPHER_get_name)
#define SSL_CTX_check_private_key (*ossl.SSL_CTX_check_private_key)
#define SSL_CTX_ctrl (*ossl.SSL_CTX_ctrl)
#define SSL_CTX_free (*ossl.SSL_CTX_free)
#define SSL_CTX_new (*ossl.SSL_CTX_new)
#define SSL_CTX_set_default_verify_paths (*ossl.SSL_CTX_set_default_verify_paths)
#define SSL_CTX_set_options (*ossl.SSL_CTX_set_options)
#define SSL_CTX_set_verify (*ossl.SSL_CTX_set_verify)
#define SSL_CTX_use_PrivateKey_file (*ossl.SSL_CTX_use_PrivateKey_file)
#define SSL_CTX_use_certificate_chain_file (*ossl.SSL_CTX_use_certificate_chain_file)
#define SSL_connect (*ossl.SSL_connect)
#define SSL_ctrl (*ossl.SSL_ctrl)
#define SSL_free (*ossl.SSL_free)
#define SSL_get0_param (*ossl.SSL_get0_param)
#define SSL_get1_peer_certificate (*ossl.SSL_get1_peer_certificate)
#define SSL_get_current_cipher (*ossl.SSL_get_current_cipher)
#define SSL_get_error (*ossl.SSL_get_error)
#define SSL_get_peer_cert_chain (*ossl.SSL_get_peer_cert_chain)
#define SSL_get_verify_result (*ossl.SSL_get_verify_result)
#define SSL_get_version (*ossl.SSL_get_version)
#define SSL_new (*ossl.SSL_new)
#define SSL_read_ex (*ossl.SSL_read_ex)
#define SSL_set1_host (*ossl.SSL_set1_host)
#define SSL_set_fd (*ossl.SSL_set_fd)
#define SSL_set_hostflags (*ossl.SSL_set_hostflags)
#define SSL_shutdown (*ossl.SSL_shutdown)
#define SSL_write_ex (*ossl.SSL_write_ex)
#define TLS_client_method (*ossl.TLS_client_method)
#endif

#endif /* DMA_OSSL_H */
