/* tests/tls_certs.h - test certificates made with OpenSSL's C API (no
 * openssl command): ECDSA P-256 keys, SHA-256 signatures, valid from an
 * hour ago for 30 days, written as PEM files in a temporary directory.
 *
 *   char dir[64];
 *   tls_certs_dir_new(dir, sizeof(dir));               // /tmp/ringo-tls-XXXXXX
 *   const char *sans[] = {"localhost", "127.0.0.1"};
 *   tls_certs_make(dir, "srv", sans, 2);               // dir/srv.crt, dir/srv.key
 *   tls_certs_make_ca(dir, "ca");                      // dir/ca.crt, dir/ca.key
 *   tls_certs_make_signed(dir, "leaf", "ca", sans, 2); // dir/leaf.crt signed by ca
 *   char crt[128];
 *   tls_certs_path(crt, sizeof(crt), dir, "leaf", "crt");
 *   ...
 *   tls_certs_dir_remove(dir);
 *
 * Every certificate's subject is CN=<name>, so a test can tell which one
 * a peer sent. A SAN entry that parses as an IPv4 or IPv6 address becomes
 * an IP SAN, anything else a DNS SAN. Making a name again overwrites its
 * files (for reload tests). All return 0 or -errno (-EIO when OpenSSL
 * failed; its error queue is then cleared). Plain C, no ringo runtime
 * needed: may be called before t_run or from any thread. */
#ifndef RINGO_TESTS_TLS_CERTS_H
#define RINGO_TESTS_TLS_CERTS_H

#include <stddef.h>

/* Create a fresh empty directory (mkdtemp) and write its path into dir. */
int tls_certs_dir_new(char *dir, size_t cap);

/* Remove the files in dir (not recursing) and dir itself. */
void tls_certs_dir_remove(const char *dir);

/* "dir/name.ext" into buf; returns buf (an over-long path fails the
 * case: it is a test bug). */
char *tls_certs_path(char *buf, size_t cap, const char *dir, const char *name, const char *ext);

/* A self-signed end-entity certificate (CA:FALSE) with the n SANs, and
 * its key: dir/name.crt, dir/name.key. */
int tls_certs_make(const char *dir, const char *name, const char *const *sans, size_t n);

/* A CA certificate (CA:TRUE, keyCertSign) and its key: dir/name.crt,
 * dir/name.key. Give its .crt to a client as ca_file. */
int tls_certs_make_ca(const char *dir, const char *name);

/* An end-entity certificate with the n SANs signed by the CA ca_name
 * made before in the same dir: dir/name.crt (the leaf only, no chain:
 * the CA is the trust anchor) and dir/name.key. */
int tls_certs_make_signed(const char *dir, const char *name, const char *ca_name,
                          const char *const *sans, size_t n);

#endif
