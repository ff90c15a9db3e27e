/* Socket address parsing and formatting (numeric only: name resolution
 * blocks and belongs to the offload pool). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ringo/net.h>

static int parse_port(const char *s)
{
    /* digits only: strtol would also take blanks and signs */
    if (*s < '0' || *s > '9')
        return -EINVAL;
    char *end;
    long p = strtol(s, &end, 10);
    if (*end || p < 0 || p > 65535)
        return -EINVAL;
    return (int)p;
}

int ringo_addr_parse(ringo_addr *addr, const char *text)
{
    if (!addr || !text)
        return -EINVAL;
    memset(addr, 0, sizeof(*addr));
    const char *colon = strrchr(text, ':');
    if (!colon)
        return -EINVAL;
    int port = parse_port(colon + 1);
    if (port < 0)
        return port;
    size_t hlen = (size_t)(colon - text);
    char host[INET6_ADDRSTRLEN + 2];
    if (hlen >= sizeof(host))
        return -EINVAL;
    memcpy(host, text, hlen);
    host[hlen] = 0;

    if (hlen == 0 || strcmp(host, "*") == 0) {
        /* all addresses: dual-stack IPv6 */
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&addr->ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_addr = in6addr_any;
        s6->sin6_port = htons((uint16_t)port);
        addr->len = sizeof(*s6);
        return 0;
    }
    if (host[0] == '[') {
        if (hlen < 2 || host[hlen - 1] != ']')
            return -EINVAL;
        host[hlen - 1] = 0;
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&addr->ss;
        if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
            return -EINVAL;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        addr->len = sizeof(*s6);
        return 0;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)&addr->ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
        return -EINVAL;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    addr->len = sizeof(*s4);
    return 0;
}

int ringo_addr_format(const ringo_addr *addr, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN];
    if (addr->ss.ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&addr->ss;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        return snprintf(buf, len, "%s:%u", host, ntohs(s4->sin_port));
    }
    if (addr->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&addr->ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        return snprintf(buf, len, "[%s]:%u", host, ntohs(s6->sin6_port));
    }
    if (len)
        buf[0] = 0;
    return -EAFNOSUPPORT;
}

int ringo_addr_port(const ringo_addr *addr)
{
    if (addr->ss.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&addr->ss)->sin_port);
    if (addr->ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&addr->ss)->sin6_port);
    return -EAFNOSUPPORT;
}
