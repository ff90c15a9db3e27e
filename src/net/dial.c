/* ringo_dial: "host:port" to a connected TCP socket. Numeric addresses go
 * straight to ringo_tcp_connect; names are resolved with getaddrinfo on
 * the offload pool, in a heap block that the pool thread frees if the
 * caller's deadline or cancel leaves it behind (getaddrinfo cannot be
 * interrupted, and its caller must not wait past its deadline). */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <ringo/net.h>

#include "sched/offload.h"
#include "sched/sched.h"

struct resolve {
    struct ringo__offload_job job;
    struct addrinfo *res; /* getaddrinfo's list; NULL until it succeeded */
    int gai;              /* getaddrinfo's return */
    int sys_errno;        /* errno of the pool thread for EAI_SYSTEM */
    const char *host, *serv;
    char names[]; /* host NUL serv NUL */
};

static void resolve_fn(void *arg)
{
    struct resolve *rs = arg;
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    /* no IPv6 answers on an IPv4-only host (and the other way round):
     * they would only cost a failing connect each */
    hints.ai_flags = AI_ADDRCONFIG;
    rs->gai = getaddrinfo(rs->host, rs->serv, &hints, &rs->res);
    /* a plain pool thread, not a coroutine: its errno is its own */
    if (rs->gai == EAI_SYSTEM)
        rs->sys_errno = errno;
    if (rs->gai != 0)
        rs->res = NULL;
}

static void resolve_free(struct ringo__offload_job *job)
{
    struct resolve *rs = (struct resolve *)job; /* job is the first member */
    if (rs->res)
        freeaddrinfo(rs->res);
    free(rs);
}

static int resolve_error(const struct resolve *rs)
{
    switch (rs->gai) {
    case EAI_NONAME:
    case EAI_NODATA:
    case EAI_ADDRFAMILY:
        return RINGO_ENONAME;
    case EAI_AGAIN:
        return -EAGAIN;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_SYSTEM:
        return rs->sys_errno > 0 ? -rs->sys_errno : RINGO_ERESOLVE;
    default:
        return RINGO_ERESOLVE;
    }
}

/* Split "host:port" / "[host]:port" strictly: a non-empty host other
 * than "*", brackets
 * only around the whole host (and then required for a host with colons,
 * as an unbracketed IPv6 address has no unambiguous port), a non-empty
 * port that, when numeric, fits in 16 bits. */
static int split(const char *s, const char **host, size_t *hlen, const char **port,
                 bool *numeric_port)
{
    const char *colon;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close == s + 1 || close[1] != ':')
            return -EINVAL;
        *host = s + 1;
        *hlen = (size_t)(close - s - 1);
        colon = close + 1;
        if (memchr(*host, '[', *hlen))
            return -EINVAL;
    } else {
        colon = strrchr(s, ':');
        if (!colon || colon == s)
            return -EINVAL;
        *host = s;
        *hlen = (size_t)(colon - s);
        if (memchr(s, ':', *hlen) || memchr(s, '[', *hlen) || memchr(s, ']', *hlen))
            return -EINVAL;
    }
    /* "*" is ringo_addr_parse's (and glibc's) "any address": no peer */
    if (*hlen == 1 && **host == '*')
        return -EINVAL;
    *port = colon + 1;
    if (!**port || strpbrk(*port, ":[]"))
        return -EINVAL;
    *numeric_port = true;
    unsigned long v = 0;
    for (const char *p = *port; *p; p++) {
        if (*p < '0' || *p > '9') {
            *numeric_port = false;
            break;
        }
        v = v * 10 + (unsigned long)(*p - '0');
        if (v > 65535)
            return -EINVAL;
    }
    return 0;
}

/* Try each address in order, within the one deadline. */
static int connect_list(const struct addrinfo *res, int64_t deadline)
{
    int last = RINGO_ENONAME; /* an empty answer */
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            ai->ai_addrlen > sizeof(struct sockaddr_storage))
            continue;
        ringo_addr a;
        memset(&a, 0, sizeof(a));
        memcpy(&a.ss, ai->ai_addr, ai->ai_addrlen);
        a.len = ai->ai_addrlen;
        last = ringo_tcp_connect(&a, deadline);
        if (last >= 0)
            return last;
        /* the next address would fail the same way */
        if (last == -ETIMEDOUT || last == -ECANCELED || last == RINGO_ESTOPPED || last == -EMFILE ||
            last == -ENFILE || last == -ENOMEM)
            return last;
    }
    return last;
}

int ringo_dial(const char *hostport, int64_t deadline)
{
    if (!hostport)
        return -EINVAL;
    const char *host, *port;
    size_t hlen;
    bool numeric_port;
    int rc = split(hostport, &host, &hlen, &port, &numeric_port);
    if (rc < 0)
        return rc;
    if (!ringo__self || !ringo__self->current)
        return RINGO_ENOTINCORO;

    /* A numeric address needs no resolver (ringo_addr_parse takes the
     * same "1.2.3.4:80" / "[::1]:80" forms). */
    if (numeric_port) {
        ringo_addr a;
        if (ringo_addr_parse(&a, hostport) == 0)
            return ringo_tcp_connect(&a, deadline);
    }

    size_t plen = strlen(port);
    struct resolve *rs = malloc(sizeof(*rs) + hlen + 1 + plen + 1);
    if (!rs)
        return -ENOMEM;
    memset(rs, 0, sizeof(*rs));
    memcpy(rs->names, host, hlen);
    rs->names[hlen] = 0;
    memcpy(rs->names + hlen + 1, port, plen + 1);
    rs->host = rs->names;
    rs->serv = rs->names + hlen + 1;
    rs->job.fn = resolve_fn;
    rs->job.arg = rs;
    rs->job.abandoned = resolve_free;

    rc = ringo__offload_run(&rs->job, deadline, true);
    if (rc < 0)
        return rc; /* rs belongs to resolve_free now */
    if (rs->gai != 0) {
        rc = resolve_error(rs);
        resolve_free(&rs->job);
        return rc;
    }
    rc = connect_list(rs->res, deadline);
    resolve_free(&rs->job);
    return rc;
}
