/* tests/tls_certs.c - test certificates (see tls_certs.h). */
#include "tls_certs.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "t.h"

int tls_certs_dir_new(char *dir, size_t cap)
{
    if (snprintf(dir, cap, "/tmp/ringo-tls-XXXXXX") >= (int)cap)
        return -ENAMETOOLONG;
    return mkdtemp(dir) ? 0 : -errno;
}

void tls_certs_dir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

char *tls_certs_path(char *buf, size_t cap, const char *dir, const char *name, const char *ext)
{
    if (snprintf(buf, cap, "%s/%s.%s", dir, name, ext) >= (int)cap)
        T_FAIL("tls_certs_path: %s/%s.%s longer than %zu", dir, name, ext, cap);
    return buf;
}

/* Extensions in OpenSSL's config syntax ("critical,CA:TRUE"); issuer is
 * the signer's certificate (x itself when self-signed), for the
 * authority key identifier. */
static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value);
    int ok = ext && X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* "DNS:a,IP:127.0.0.1,..." */
static int san_value(char *buf, size_t cap, const char *const *sans, size_t n)
{
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ip[16];
        int is_ip = inet_pton(AF_INET, sans[i], ip) == 1 || inet_pton(AF_INET6, sans[i], ip) == 1;
        int w = snprintf(buf + used, cap - used, "%s%s:%s", i ? "," : "", is_ip ? "IP" : "DNS",
                         sans[i]);
        if (w < 0 || (size_t)w >= cap - used)
            return -ENAMETOOLONG;
        used += (size_t)w;
    }
    return 0;
}

static int write_pem(const char *dir, const char *name, X509 *x, EVP_PKEY *key)
{
    char crt[512], keyf[512];
    snprintf(crt, sizeof(crt), "%s/%s.crt", dir, name);
    snprintf(keyf, sizeof(keyf), "%s/%s.key", dir, name);
    FILE *f = fopen(crt, "w");
    if (!f)
        return -errno;
    int ok = PEM_write_X509(f, x) == 1;
    ok = fclose(f) == 0 && ok;
    if (!ok)
        return -EIO;
    if (!(f = fopen(keyf, "w")))
        return -errno;
    ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
    ok = fclose(f) == 0 && ok;
    return ok ? 0 : -EIO;
}

/* Build, sign and write one certificate. ca/ca_key NULL = self-signed. */
static int make_cert(const char *dir, const char *name, int is_ca, X509 *ca, EVP_PKEY *ca_key,
                     const char *const *sans, size_t n)
{
    char sanv[2048];
    if (n && san_value(sanv, sizeof(sanv), sans, n) < 0)
        return -ENAMETOOLONG;
    int rc = -EIO;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    unsigned char serial[8];
    ASN1_INTEGER *sn = NULL;
    BIGNUM *bn = NULL;
    if (!key || !x || RAND_bytes(serial, sizeof(serial)) != 1)
        goto out;
    serial[0] &= 0x7f; /* a positive serial */
    if (!(bn = BN_bin2bn(serial, sizeof(serial), NULL)) || !(sn = BN_to_ASN1_INTEGER(bn, NULL)))
        goto out;
    X509_NAME *subj = X509_get_subject_name(x);
    if (X509_set_version(x, X509_VERSION_3) != 1 || X509_set_serialNumber(x, sn) != 1 ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 30L * 24 * 3600) ||
        X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1,
                                   0) != 1 ||
        X509_set_issuer_name(x, ca ? X509_get_subject_name(ca) : subj) != 1 ||
        X509_set_pubkey(x, key) != 1)
        goto out;
    X509 *issuer = ca ? ca : x;
    int ok = add_ext(x, issuer, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "CA:FALSE") &&
             add_ext(x, issuer, NID_key_usage,
                     is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") &&
             add_ext(x, issuer, NID_subject_key_identifier, "hash") &&
             (!ca || add_ext(x, issuer, NID_authority_key_identifier, "keyid:always")) &&
             (is_ca || add_ext(x, issuer, NID_ext_key_usage, "serverAuth,clientAuth")) &&
             (!n || add_ext(x, issuer, NID_subject_alt_name, sanv));
    if (!ok || X509_sign(x, ca_key ? ca_key : key, EVP_sha256()) <= 0)
        goto out;
    rc = write_pem(dir, name, x, key);
out:
    ASN1_INTEGER_free(sn);
    BN_free(bn);
    X509_free(x);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return rc;
}

int tls_certs_make(const char *dir, const char *name, const char *const *sans, size_t n)
{
    return make_cert(dir, name, 0, NULL, NULL, sans, n);
}

int tls_certs_make_ca(const char *dir, const char *name)
{
    return make_cert(dir, name, 1, NULL, NULL, NULL, 0);
}

int tls_certs_make_signed(const char *dir, const char *name, const char *ca_name,
                          const char *const *sans, size_t n)
{
    char crt[512], keyf[512];
    snprintf(crt, sizeof(crt), "%s/%s.crt", dir, ca_name);
    snprintf(keyf, sizeof(keyf), "%s/%s.key", dir, ca_name);
    FILE *fc = fopen(crt, "r");
    if (!fc)
        return -errno;
    X509 *ca = PEM_read_X509(fc, NULL, NULL, NULL);
    fclose(fc);
    FILE *fk = fopen(keyf, "r");
    if (!fk) {
        int e = -errno;
        X509_free(ca);
        return e;
    }
    EVP_PKEY *ca_key = PEM_read_PrivateKey(fk, NULL, NULL, NULL);
    fclose(fk);
    int rc = ca && ca_key ? make_cert(dir, name, 0, ca, ca_key, sans, n) : -EIO;
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    ERR_clear_error();
    return rc;
}
