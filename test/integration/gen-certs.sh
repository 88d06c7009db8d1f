#!/bin/sh
# gen-certs.sh - make the certificates of the TLS tests, at test time.
#
# Usage: sh test/integration/gen-certs.sh DIR
#
# Creates in DIR (EC P-256 keys, valid ten years from now):
#   ca.crt ca.key                 the test CA
#   server.crt server.key server.pem (cert + key)
#                                 CA-signed, CN localhost, SAN DNS:localhost,
#                                 smtp.gmail.com, smtp.fastmail.com,
#                                 mail.example.org, mx1.example.net,
#                                 mx2.example.net, IP:127.0.0.1, IP:::1
#   wrongname.crt .key .pem       CA-signed, only wrong.example.com
#   selfsigned.crt .key .pem      self-signed, localhost / 127.0.0.1 / ::1
#   client.crt client.key client.pem (cert + key, for CERTFILE)
#                                 CA-signed, CN dma-test-client, clientAuth
#   NAME.fp                       SHA-256 fingerprint of NAME.crt as
#                                 "AB:CD:..." (server, wrongname, selfsigned,
#                                 client)
# Prints nothing on success; on failure the openssl output and exit 1.
# Does not read the system openssl.cnf.
#
# When the integration harness runs this file as a test script (sourced
# after lib.sh, see run-all.sh), it checks itself instead: it generates
# into $T/certs and verifies the results with openssl.

gencerts_main() {
	dir=$1
	mkdir -p "$dir" || return 1
	log="$dir/.gen-certs.log"
	: >"$log"
	cnf="$dir/.openssl.cnf"
	cat >"$cnf" <<'EOF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, DNS:smtp.gmail.com, DNS:smtp.fastmail.com, DNS:mail.example.org, DNS:mx1.example.net, DNS:mx2.example.net, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ wrong_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example.com
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ self_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
	(
		set -e
		cd "$dir"
		export OPENSSL_CONF="$cnf"
		key() {
			openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
			    -out "$1.key"
			chmod 0600 "$1.key"
		}
		# signed NAME CN EXT: CSR for NAME.key, signed by the CA
		signed() {
			openssl req -new -config "$cnf" -key "$1.key" -subj "/CN=$2" \
			    -out "$1.csr"
			openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key \
			    -CAcreateserial -days 3650 -sha256 \
			    -extfile "$cnf" -extensions "$3" -out "$1.crt"
			rm -f "$1.csr"
		}
		key ca
		openssl req -new -x509 -config "$cnf" -key ca.key \
		    -subj "/O=dma tests/CN=dma test CA" -days 3650 -sha256 \
		    -extensions ca_ext -out ca.crt
		key server
		signed server localhost server_ext
		key wrongname
		signed wrongname wrong.example.com wrong_ext
		key client
		signed client dma-test-client client_ext
		key selfsigned
		openssl req -new -x509 -config "$cnf" -key selfsigned.key \
		    -subj "/CN=localhost" -days 3650 -sha256 \
		    -extensions self_ext -out selfsigned.crt
		for n in server wrongname selfsigned client; do
			cat "$n.crt" "$n.key" >"$n.pem"
			chmod 0600 "$n.pem"
			openssl x509 -in "$n.crt" -noout -fingerprint -sha256 |
			    sed 's/^[^=]*=//' >"$n.fp"
		done
		rm -f ca.srl
	) >>"$log" 2>&1
	st=$?
	if [ $st -ne 0 ]; then
		cat "$log" >&2
		return 1
	fi
	rm -f "$log" "$cnf"
	return 0
}

# Self-check when sourced by the integration harness (lib.sh loaded).
if [ -n "${T:-}" ] && command -v _lib_finish >/dev/null 2>&1 &&
    [ "${1:-}" = "${BASH_SOURCE:-}" ]; then
	ok "gen-certs.sh generates the test certificates" gencerts_main "$T/certs"
	c=$T/certs
	ok "server cert verifies against the CA for localhost" \
	    openssl verify -CAfile "$c/ca.crt" -verify_hostname localhost "$c/server.crt"
	for h in smtp.gmail.com smtp.fastmail.com mail.example.org \
	    mx1.example.net mx2.example.net; do
		ok "server cert verifies for $h" \
		    openssl verify -CAfile "$c/ca.crt" -verify_hostname "$h" "$c/server.crt"
	done
	ok "server cert verifies for 127.0.0.1" \
	    openssl verify -CAfile "$c/ca.crt" -verify_ip 127.0.0.1 "$c/server.crt"
	ok "server cert verifies for ::1" \
	    openssl verify -CAfile "$c/ca.crt" -verify_ip ::1 "$c/server.crt"
	not_ok "server cert does not verify for another name" \
	    openssl verify -CAfile "$c/ca.crt" -verify_hostname example.com "$c/server.crt"
	ok "wrong-name cert is CA-signed" \
	    openssl verify -CAfile "$c/ca.crt" "$c/wrongname.crt"
	not_ok "wrong-name cert does not verify for localhost" \
	    openssl verify -CAfile "$c/ca.crt" -verify_hostname localhost "$c/wrongname.crt"
	not_ok "self-signed cert does not verify against the CA" \
	    openssl verify -CAfile "$c/ca.crt" "$c/selfsigned.crt"
	ok "client cert verifies as a client" \
	    openssl verify -CAfile "$c/ca.crt" -purpose sslclient "$c/client.crt"
	like "client.pem holds the certificate and the key" \
	    "$(cat "$c/client.pem")" 'BEGIN PRIVATE KEY'
	like "fingerprint file format" "$(cat "$c/server.fp")" \
	    '^([0-9A-F]{2}:){31}[0-9A-F]{2}$'
	capture sh "$SRC/test/integration/gen-certs.sh" "$T/certs2"
	is "silent on success" "$rc:$out$err" "0:"
elif [ -z "${T:-}" ] || ! command -v _lib_finish >/dev/null 2>&1; then
	if [ $# -ne 1 ]; then
		echo "usage: gen-certs.sh DIR" >&2
		exit 64
	fi
	gencerts_main "$1" || exit 1
	exit 0
fi
