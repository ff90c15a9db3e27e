/* src/http/httpdate.c - see httpdate.h. Calendar arithmetic on the
 * proleptic Gregorian calendar in days since 1970-01-01 (H. Hinnant's
 * days_from_civil / civil_from_days), so that every field is checked as
 * written instead of being normalised by timegm. */
#include <errno.h>
#include <string.h>

#include "http/httpdate.h"

static const char wdays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const wdays_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                          "Thursday", "Friday", "Saturday"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

#define DAY_S 86400

/* Days from 1970-01-01 to y-m-d (m 1-12, d 1-31). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                   /* 0..399 */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* 0..365, from 1 March */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* 0..146096 */
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* 0 = Sunday; 1970-01-01 was a Thursday. */
static int weekday(int64_t days)
{
    int64_t w = (days + 4) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
    static const unsigned char n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : n[m - 1];
}

/* n ASCII digits at p, or -1. */
static int num(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* The index of the 3-letter name at p in tab (case-sensitive), or -1. */
static int name3(const char *p, const char (*tab)[4], int n)
{
    for (int i = 0; i < n; i++)
        if (memcmp(p, tab[i], 3) == 0)
            return i;
    return -1;
}

struct fields {
    int64_t year;
    int mon; /* 1-12 */
    int day, hour, min, sec;
    int wday; /* as named, 0 = Sunday */
};

/* "HH:MM:SS" at p (8 bytes). */
static int time_of_day(const char *p, struct fields *f)
{
    if (p[2] != ':' || p[5] != ':')
        return -1;
    f->hour = num(p, 2);
    f->min = num(p + 3, 2);
    f->sec = num(p + 6, 2);
    return f->hour < 0 || f->min < 0 || f->sec < 0 ? -1 : 0;
}

/* Sun, 06 Nov 1994 08:49:37 GMT */
static int imf_fixdate(const char *p, size_t len, struct fields *f)
{
    if (len != RINGO_HTTP_DATE_LEN || p[3] != ',' || p[4] != ' ' || p[7] != ' ' || p[11] != ' ' ||
        p[16] != ' ' || p[25] != ' ' || memcmp(p + 26, "GMT", 3) != 0)
        return -1;
    f->wday = name3(p, wdays, 7);
    f->day = num(p + 5, 2);
    f->mon = name3(p + 8, months, 12) + 1;
    int y = num(p + 12, 4);
    f->year = y;
    if (f->wday < 0 || f->day < 0 || f->mon == 0 || y < 0)
        return -1;
    return time_of_day(p + 17, f);
}

/* Sunday, 06-Nov-94 08:49:37 GMT */
static int rfc850(const char *p, size_t len, int64_t now_year, struct fields *f)
{
    size_t l = 0;
    f->wday = -1;
    for (int i = 0; i < 7 && f->wday < 0; i++) {
        l = strlen(wdays_long[i]);
        if (len > l && memcmp(p, wdays_long[i], l) == 0 && p[l] == ',')
            f->wday = i;
    }
    if (f->wday < 0)
        return -1;
    p += l + 1;
    len -= l + 1;
    /* " 06-Nov-94 08:49:37 GMT" */
    if (len != 23 || p[0] != ' ' || p[3] != '-' || p[7] != '-' || p[10] != ' ' || p[19] != ' ' ||
        memcmp(p + 20, "GMT", 3) != 0)
        return -1;
    f->day = num(p + 1, 2);
    f->mon = name3(p + 4, months, 12) + 1;
    int yy = num(p + 8, 2);
    if (f->day < 0 || f->mon == 0 || yy < 0)
        return -1;
    /* RFC 9110 5.6.7: more than 50 years ahead means a century earlier */
    int64_t y = now_year - now_year % 100 + yy;
    if (y > now_year + 50)
        y -= 100;
    else if (y <= now_year - 50)
        y += 100;
    f->year = y;
    return time_of_day(p + 11, f);
}

/* Sun Nov  6 08:49:37 1994 */
static int asctime_date(const char *p, size_t len, struct fields *f)
{
    if (len != 24 || p[3] != ' ' || p[7] != ' ' || p[10] != ' ' || p[19] != ' ')
        return -1;
    f->wday = name3(p, wdays, 7);
    f->mon = name3(p + 4, months, 12) + 1;
    f->day = p[8] == ' ' ? num(p + 9, 1) : num(p + 8, 2);
    int y = num(p + 20, 4);
    f->year = y;
    if (f->wday < 0 || f->mon == 0 || f->day < 0 || y < 0)
        return -1;
    return time_of_day(p + 11, f);
}

int ringo__http_date_parse(const char *v, size_t len, int64_t now, int64_t *out)
{
    struct fields f;
    int r;
    if (len >= 4 && v[3] == ',') {
        r = imf_fixdate(v, len, &f);
    } else if (len >= 4 && v[3] == ' ') {
        r = asctime_date(v, len, &f);
    } else {
        int64_t now_days = (now >= 0 ? now : now - (DAY_S - 1)) / DAY_S, ny;
        int nm, nd;
        civil_from_days(now_days, &ny, &nm, &nd);
        r = rfc850(v, len, ny, &f);
    }
    if (r < 0 || f.day < 1 || f.day > month_days(f.year, f.mon) || f.hour > 23 || f.min > 59 ||
        f.sec > 60)
        return -EINVAL;
    int64_t days = days_from_civil(f.year, f.mon, f.day);
    if (weekday(days) != f.wday)
        return -EINVAL; /* "Mon, 06 Nov 1994": no such day */
    *out = days * DAY_S + f.hour * 3600 + f.min * 60 + f.sec;
    return 0;
}

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

void ringo__http_date_fmt(int64_t t, char out[30])
{
    const int64_t lo = days_from_civil(0, 1, 1) * DAY_S;
    const int64_t hi = days_from_civil(9999, 12, 31) * DAY_S + DAY_S - 1;
    t = t < lo ? lo : t > hi ? hi : t;
    int64_t days = (t >= 0 ? t : t - (DAY_S - 1)) / DAY_S;
    int s = (int)(t - days * DAY_S);
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    memcpy(out, wdays[weekday(days)], 3);
    memcpy(out + 3, ", ", 2);
    put2(out + 5, d);
    out[7] = ' ';
    memcpy(out + 8, months[m - 1], 3);
    out[11] = ' ';
    put2(out + 12, (int)(y / 100));
    put2(out + 14, (int)(y % 100));
    out[16] = ' ';
    put2(out + 17, s / 3600);
    out[19] = ':';
    put2(out + 20, s / 60 % 60);
    out[22] = ':';
    put2(out + 23, s % 60);
    memcpy(out + 25, " GMT", 5); /* with the NUL */
}
