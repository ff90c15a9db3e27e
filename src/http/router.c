/* src/http/router.c - exact and prefix routes. A linear scan: servers have
 * a handful of routes, and comparing a few short strings costs less than
 * hashing the path. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"

int ringo_http_route(ringo_http_server *s, const char *method, const char *path, int flags,
                     ringo_http_handler handler, void *arg)
{
    if (!s || !path || path[0] != '/' || !handler || (flags & ~RINGO_HTTP_PREFIX))
        return -EINVAL;
    if (method && !*method)
        return -EINVAL;
    if (atomic_load(&s->serving))
        return -EBUSY;
    if (s->nroutes == s->route_cap) {
        size_t cap = s->route_cap ? s->route_cap * 2 : 8;
        struct rh_route *r = realloc(s->routes, cap * sizeof(*r));
        if (!r)
            return -ENOMEM;
        s->routes = r;
        s->route_cap = cap;
    }
    struct rh_route *rt = &s->routes[s->nroutes];
    rt->method = method ? strdup(method) : NULL;
    rt->path = strdup(path);
    if (!rt->path || (method && !rt->method)) {
        free(rt->method);
        free(rt->path);
        return -ENOMEM;
    }
    rt->path_len = strlen(path);
    rt->flags = flags;
    rt->handler = handler;
    rt->arg = arg;
    s->nroutes++;
    return 0;
}

static bool method_ok(const struct rh_route *rt, const char *m, size_t mlen)
{
    if (!rt->method)
        return true;
    size_t l = strlen(rt->method);
    if (l == mlen && !memcmp(rt->method, m, mlen))
        return true;
    /* a GET route answers HEAD too; the server drops the body */
    return mlen == 4 && !memcmp(m, "HEAD", 4) && !strcmp(rt->method, "GET");
}

static void allow_add(char *allow, size_t cap, const char *m)
{
    size_t n = strlen(allow);
    if (strstr(allow, m))
        return;
    size_t need = strlen(m) + (n ? 2 : 0) + 1;
    if (n + need > cap)
        return;
    if (n)
        strcat(allow, ", ");
    strcat(allow, m);
    if (!strcmp(m, "GET"))
        allow_add(allow, cap, "HEAD");
}

const struct rh_route *rh_route_find(const ringo_http_server *s, const char *path, size_t len,
                                     const char *method, size_t mlen, bool *path_known, char *allow,
                                     size_t allow_cap)
{
    const struct rh_route *best = NULL;
    size_t best_len = 0;
    bool best_exact = false;
    allow[0] = 0;
    *path_known = false;
    /* exact routes first, then the longest prefix; methods are checked
     * on the winning path only, so a 405 names that path's methods */
    for (size_t i = 0; i < s->nroutes; i++) {
        const struct rh_route *rt = &s->routes[i];
        bool exact = !(rt->flags & RINGO_HTTP_PREFIX);
        if (exact ? (rt->path_len != len || memcmp(rt->path, path, len))
                  : (rt->path_len > len || memcmp(rt->path, path, rt->path_len)))
            continue;
        if (best && (best_exact || (!exact && rt->path_len <= best_len)))
            continue;
        best = rt;
        best_len = rt->path_len;
        best_exact = exact;
    }
    if (!best)
        return NULL;
    *path_known = true;
    for (size_t i = 0; i < s->nroutes; i++) {
        const struct rh_route *rt = &s->routes[i];
        if (rt->path_len != best_len || rt->flags != best->flags ||
            memcmp(rt->path, best->path, best_len))
            continue;
        if (method_ok(rt, method, mlen))
            return rt;
        allow_add(allow, allow_cap, rt->method);
    }
    return NULL;
}
