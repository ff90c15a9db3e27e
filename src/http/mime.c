/* MIME types by file extension for the static file handler: a sorted
 * table searched by bsearch (case-insensitive), no allocation. Text types
 * say charset=utf-8 so browsers do not guess. */
#include <stddef.h>
#include <string.h>

#include "http/static.h"

struct mime {
    const char *ext; /* lower case, sorted by strcmp */
    const char *type;
};

#define UTF8 "; charset=utf-8"

static const struct mime table[] = {
    {"7z", "application/x-7z-compressed"},
    {"aac", "audio/aac"},
    {"apng", "image/apng"},
    {"avif", "image/avif"},
    {"bin", "application/octet-stream"},
    {"bmp", "image/bmp"},
    {"bz2", "application/x-bzip2"},
    {"c", "text/plain" UTF8},
    {"cjs", "text/javascript" UTF8},
    {"css", "text/css" UTF8},
    {"csv", "text/csv" UTF8},
    {"eot", "application/vnd.ms-fontobject"},
    {"epub", "application/epub+zip"},
    {"flac", "audio/flac"},
    {"gif", "image/gif"},
    {"gz", "application/gzip"},
    {"h", "text/plain" UTF8},
    {"htm", "text/html" UTF8},
    {"html", "text/html" UTF8},
    {"ico", "image/vnd.microsoft.icon"},
    {"ics", "text/calendar" UTF8},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript" UTF8},
    {"json", "application/json"},
    {"jsonld", "application/ld+json"},
    {"log", "text/plain" UTF8},
    {"m4a", "audio/mp4"},
    {"manifest", "application/manifest+json"},
    {"map", "application/json"},
    {"md", "text/markdown" UTF8},
    {"mjs", "text/javascript" UTF8},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"mpeg", "video/mpeg"},
    {"oga", "audio/ogg"},
    {"ogg", "audio/ogg"},
    {"ogv", "video/ogg"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"rss", "application/rss+xml"},
    {"svg", "image/svg+xml"},
    {"tar", "application/x-tar"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"toml", "text/plain" UTF8},
    {"ts", "video/mp2t"},
    {"ttf", "font/ttf"},
    {"txt", "text/plain" UTF8},
    {"wasm", "application/wasm"},
    {"wav", "audio/wav"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json"},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xhtml", "application/xhtml+xml"},
    {"xml", "application/xml"},
    {"yaml", "text/yaml" UTF8},
    {"yml", "text/yaml" UTF8},
    {"zip", "application/zip"},
    {"zst", "application/zstd"},
};

#define DEFAULT_TYPE "application/octet-stream"

const char *ringo__mime_type(const char *path, size_t len)
{
    /* the extension: after the last '.' of the last segment, not a
     * leading dot (".bashrc" has none) */
    size_t i = len;
    while (i > 0 && path[i - 1] != '.' && path[i - 1] != '/')
        i--;
    if (i <= 1 || path[i - 1] != '.' || path[i - 2] == '/')
        return DEFAULT_TYPE;
    size_t elen = len - i;
    char ext[16];
    if (elen == 0 || elen >= sizeof(ext))
        return DEFAULT_TYPE;
    for (size_t k = 0; k < elen; k++) {
        char ch = path[i + k];
        ext[k] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    ext[elen] = 0;
    size_t lo = 0, hi = sizeof(table) / sizeof(table[0]);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ext, table[mid].ext);
        if (c == 0)
            return table[mid].type;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return DEFAULT_TYPE;
}
