/* src/http/request.c - request accessors: views into the parsed head. */
#include <errno.h>
#include <string.h>

#include "http/http_int.h"

static ringo_str view(const char *p, size_t n)
{
    return (ringo_str){n ? p : "", n};
}

ringo_str ringo_http_method(const ringo_http_req *req)
{
    return view(req->r.method, req->r.method_len);
}

ringo_str ringo_http_path(const ringo_http_req *req)
{
    return view(req->r.path, req->r.path_len);
}

ringo_str ringo_http_query(const ringo_http_req *req)
{
    return view(req->r.query, req->r.query_len);
}

ringo_str ringo_http_target(const ringo_http_req *req)
{
    return view(req->r.target, req->r.target_len);
}

int ringo_http_version(const ringo_http_req *req)
{
    return 10 + req->r.minor;
}

int ringo_http_header(const ringo_http_req *req, const char *name, ringo_str *value)
{
    const struct rhp_header *h = rhp_find(&req->r, name, strlen(name));
    if (!h) {
        if (value)
            *value = (ringo_str){NULL, 0};
        return 0;
    }
    if (value)
        *value = view(h->value, h->value_len);
    return 1;
}

unsigned ringo_http_header_count(const ringo_http_req *req)
{
    return req->r.nheaders;
}

int ringo_http_header_at(const ringo_http_req *req, unsigned i, ringo_str *name, ringo_str *value)
{
    if (i >= req->r.nheaders)
        return -ERANGE;
    const struct rhp_header *h = &req->r.headers[i];
    if (name)
        *name = view(h->name, h->name_len);
    if (value)
        *value = view(h->value, h->value_len);
    return 0;
}

int64_t ringo_http_content_length(const ringo_http_req *req)
{
    if (req->r.body == RHP_BODY_CHUNKED)
        return -1;
    return req->r.body == RHP_BODY_LENGTH ? (int64_t)req->r.content_length : 0;
}

const ringo_addr *ringo_http_peer(const ringo_http_req *req)
{
    return &req->c->peer;
}
