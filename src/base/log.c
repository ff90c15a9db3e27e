#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

void ringo__log(const char *fmt, ...)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "ringo: ");
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    ssize_t w = write(2, line, n);
    (void)w;
}
