/* src/http/httpdate.h - HTTP-date (RFC 9110 5.6.7): strict parsing of its
 * three formats, formatting as IMF-fixdate. Pure: no I/O, no clock, no
 * locale, no libc time functions (timegm would quietly turn "31 Feb" into
 * 3 March). */
#ifndef RINGO_HTTP_HTTPDATE_H
#define RINGO_HTTP_HTTPDATE_H

#include <stddef.h>
#include <stdint.h>

/* The length of an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"). */
#define RINGO_HTTP_DATE_LEN 29

/* Parse v[0..len) as an HTTP-date: IMF-fixdate "Sun, 06 Nov 1994 08:49:37
 * GMT", or one of the obsolete forms a recipient must accept, RFC 850
 * "Sunday, 06-Nov-94 08:49:37 GMT" and asctime "Sun Nov  6 08:49:37 1994"
 * (a day under 10 as a space and one digit). Exactly the grammar: the
 * whole value (no leading or trailing whitespace: the header parser
 * strips OWS), single spaces, case-sensitive day and month names and
 * "GMT", fixed-width digit fields; and a date that exists: the day-name
 * the date falls on, a day of the month that month has (29 Feb only in a
 * leap year), hour 00-23, minute 00-59, second 00-60 (a leap second reads
 * as the next minute's 00). An RFC 850 two-digit year is taken as the
 * year with those digits within 50 years of now's year, a later one as a
 * century earlier (RFC 9110 5.6.7). now: the current time in seconds
 * since the epoch (used only for that). Whether the date is in the future
 * is the caller's question.
 * Returns 0 with *out in seconds since the epoch (UTC), or -EINVAL. */
int ringo__http_date_parse(const char *v, size_t len, int64_t now, int64_t *out);

/* t (seconds since the epoch, clamped to the years 0000-9999) as an
 * IMF-fixdate: writes RINGO_HTTP_DATE_LEN bytes and a NUL into out[30]. */
void ringo__http_date_fmt(int64_t t, char out[30]);

#endif
