/* tools/common/flags.c - strict command-line values; see flags.h.
 *
 * atoi and strtol alone accept too much ("abc" is 0, "12x" is 12, "-1"
 * wraps to a huge unsigned, leading spaces and "0x" pass), so every value
 * is first matched against its exact form and only then converted. */
#include "flags.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void flag_hint(const char *prog)
{
    fprintf(stderr, "Run '%s --help' for the flags.\n", prog);
}

static int is_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

static int not_a(const char *prog, const char *flag, const char *text, const char *what)
{
    fprintf(stderr, "%s: %s: '%s' is not %s\n", prog, flag, text, what);
    return -1;
}

static int out_of_range(const char *prog, const char *flag, const char *text, uint64_t min,
                        uint64_t max)
{
    fprintf(stderr, "%s: %s: '%s' is out of range (%llu-%llu)\n", prog, flag, text,
            (unsigned long long)min, (unsigned long long)max);
    return -1;
}

/* Digits only into *v; 0 on success, 1 on overflow of uint64_t. */
static int digits_value(const char *s, uint64_t *v)
{
    uint64_t n = 0;
    for (; *s; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (n > (UINT64_MAX - d) / 10)
            return 1;
        n = n * 10 + d;
    }
    *v = n;
    return 0;
}

int flag_uint(const char *prog, const char *flag, const char *text, uint64_t min, uint64_t max,
              uint64_t *out)
{
    if (text[0] == '-' && is_digits(text + 1))
        return out_of_range(prog, flag, text, min, max);
    if (!is_digits(text)) {
        fprintf(stderr, "%s: %s: '%s' is not a number (%llu-%llu)\n", prog, flag, text,
                (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    uint64_t v;
    if (digits_value(text, &v) || v < min || v > max)
        return out_of_range(prog, flag, text, min, max);
    *out = v;
    return 0;
}

int flag_int(const char *prog, const char *flag, const char *text, int min, int max, int *out)
{
    uint64_t v;
    if (flag_uint(prog, flag, text, (uint64_t)min, (uint64_t)max, &v) < 0)
        return -1;
    *out = (int)v;
    return 0;
}

/* A multiplier suffix and its value; tables end with a NULL suffix. */
typedef struct unit {
    const char *suffix;
    double scale;
} unit;

static const unit count_units[] = {
    {"", 1}, {"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {NULL, 0},
};
static const unit byte_units[] = {
    {"", 1},        {"b", 1},        {"k", 1024},      {"kb", 1024},
    {"kib", 1024},  {"m", 1 << 20},  {"mb", 1 << 20},  {"mib", 1 << 20},
    {"g", 1 << 30}, {"gb", 1 << 30}, {"gib", 1 << 30}, {NULL, 0},
};
static const unit second_units[] = {
    {"", 1}, {"s", 1}, {"ms", 1e-3}, {"us", 1e-6}, {"m", 60}, {"min", 60}, {"h", 3600}, {NULL, 0},
};

/* "12", "2.5", ".5", "1e6" followed by one of the units' suffixes: the
 * number is matched by hand first, since strtod would also take "0x10",
 * "inf", " 5" and "-1". */
static int parse_scaled(const char *text, const unit *units, double *out)
{
    const char *p = text;
    size_t int_digits = 0, frac_digits = 0;
    while (isdigit((unsigned char)*p))
        p++, int_digits++;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p))
            p++, frac_digits++;
    }
    if (int_digits + frac_digits == 0)
        return -1;
    if ((*p == 'e' || *p == 'E') &&
        (isdigit((unsigned char)p[1]) ||
         ((p[1] == '+' || p[1] == '-') && isdigit((unsigned char)p[2])))) {
        p += 2;
        while (isdigit((unsigned char)*p))
            p++;
    }
    char num[64];
    size_t len = (size_t)(p - text);
    if (len >= sizeof num)
        return -1;
    memcpy(num, text, len);
    num[len] = '\0';
    double v = strtod(num, NULL);
    if (!isfinite(v))
        return -1;
    for (const unit *u = units; u->suffix; u++) {
        if (strcasecmp(p, u->suffix) == 0) {
            *out = v * u->scale;
            return 0;
        }
    }
    return -1;
}

static int parse_whole(const char *prog, const char *flag, const char *text, uint64_t min,
                       uint64_t max, const unit *units, const char *form, uint64_t *out)
{
    /* Plain digits exactly, beyond a double's 2^53 too. */
    if (is_digits(text))
        return flag_uint(prog, flag, text, min, max, out);
    if (text[0] == '-' && parse_scaled(text + 1, units, &(double){0}) == 0)
        return out_of_range(prog, flag, text, min, max);
    double v;
    if (parse_scaled(text, units, &v) < 0)
        return not_a(prog, flag, text, form);
    if (v < (double)min || v > (double)max)
        return out_of_range(prog, flag, text, min, max);
    /* in range, so the conversion is defined; no libm for floor() */
    if (v != (double)(uint64_t)v)
        return not_a(prog, flag, text, "a whole number");
    *out = (uint64_t)v;
    return 0;
}

int flag_count(const char *prog, const char *flag, const char *text, uint64_t min, uint64_t max,
               uint64_t *out)
{
    return parse_whole(prog, flag, text, min, max, count_units, "a number (like 100, 10k, 2m)",
                       out);
}

int flag_bytes(const char *prog, const char *flag, const char *text, uint64_t min, uint64_t max,
               uint64_t *out)
{
    return parse_whole(prog, flag, text, min, max, byte_units, "a size (like 1024, 64k, 1m)", out);
}

int flag_seconds(const char *prog, const char *flag, const char *text, double min, double max,
                 double *out)
{
    double v;
    if (text[0] == '-' && parse_scaled(text + 1, second_units, &v) == 0)
        v = -v;
    else if (parse_scaled(text, second_units, &v) < 0)
        return not_a(prog, flag, text, "a duration (like 5, 2.5s, 500ms, 1m)");
    if (v < min || v > max) {
        fprintf(stderr, "%s: %s: '%s' is out of range (%g-%g seconds)\n", prog, flag, text, min,
                max);
        return -1;
    }
    *out = v;
    return 0;
}

int flag_choice(const char *prog, const char *flag, const char *text, const char *const *choices,
                int *out)
{
    for (int i = 0; choices[i]; i++) {
        if (strcmp(text, choices[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    fprintf(stderr, "%s: %s: '%s' is not one of", prog, flag, text);
    for (int i = 0; choices[i]; i++)
        fprintf(stderr, "%s %s", i ? "," : "", choices[i]);
    fputc('\n', stderr);
    return -1;
}

int flag_hostport(const char *prog, const char *flag, const char *text, ringo_addr *out)
{
    const char *colon = strrchr(text, ':');
    if (!colon) {
        fprintf(stderr, "%s: %s: '%s' is not ADDR:PORT (e.g. 127.0.0.1:9090, [::1]:9090)\n", prog,
                flag, text);
        return -1;
    }
    const char *port = colon + 1;
    uint64_t v;
    if (!is_digits(port) || digits_value(port, &v) || v > 65535) {
        fprintf(stderr, "%s: %s: '%s': the port '%s' is not a number (0-65535)\n", prog, flag, text,
                port);
        return -1;
    }
    if (ringo_addr_parse(out, text) < 0) {
        fprintf(stderr,
                "%s: %s: '%s': '%.*s' is not a numeric IPv4 or IPv6 address ([v6] in brackets, * "
                "for all)\n",
                prog, flag, text, (int)(colon - text), text);
        return -1;
    }
    return 0;
}

int flag_host_and_port(const char *prog, const char *host_flag, const char *host, int port,
                       ringo_addr *out)
{
    char text[300];
    int v6 = strchr(host, ':') && host[0] != '[';
    int n = snprintf(text, sizeof text, "%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
    if (!*host || n < 0 || (size_t)n >= sizeof text || ringo_addr_parse(out, text) < 0) {
        fprintf(stderr, "%s: %s: '%s' is not a numeric IPv4 or IPv6 address (or * for all)\n", prog,
                host_flag, host);
        return -1;
    }
    return 0;
}

/* The long option named by arg ("--name" or "--name=value"), or NULL. */
static const struct option *long_option(const char *arg, const struct option *longopts)
{
    size_t len = strcspn(arg + 2, "=");
    for (const struct option *o = longopts; o && o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, arg + 2, len) == 0)
            return o;
    return NULL;
}

int flag_getopt_error(const char *prog, int c, char **argv, const struct option *longopts)
{
    /* getopt has moved optind past the element for every long option and
     * for a short one that ended its element; an unknown short option
     * inside a cluster ("-qx") may still be in the current one. */
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    int is_long = strncmp(arg, "--", 2) == 0 && arg[2];
    const struct option *o = is_long ? long_option(arg, longopts) : NULL;
    if (c == ':') {
        if (is_long)
            fprintf(stderr, "%s: %.*s: missing value\n", prog, (int)strcspn(arg, "="), arg);
        else
            fprintf(stderr, "%s: -%c: missing value\n", prog, optopt);
    } else if (is_long && o && strchr(arg, '=') && o->has_arg == no_argument) {
        fprintf(stderr, "%s: --%s: takes no value\n", prog, o->name);
    } else if (is_long && (optopt == 0 || !o)) {
        fprintf(stderr, "%s: unknown flag '%.*s'\n", prog, (int)strcspn(arg, "="), arg);
    } else if (optopt > ' ' && optopt < 0x7f) {
        fprintf(stderr, "%s: unknown flag '-%c'\n", prog, optopt);
    } else {
        fprintf(stderr, "%s: bad flag '%s'\n", prog, arg);
    }
    flag_hint(prog);
    return TOOL_EXIT_USAGE;
}

int flag_no_operands(const char *prog, int argc, char **argv)
{
    if (optind >= argc)
        return -1;
    fprintf(stderr, "%s: unexpected argument '%s' (the flags all start with --)\n", prog,
            argv[optind]);
    flag_hint(prog);
    return TOOL_EXIT_USAGE;
}
