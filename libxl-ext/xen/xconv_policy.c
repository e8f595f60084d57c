#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "progress.h"
#include "xconv_policy.h"

void xconv_opts_default(struct xconv_opts *o)
{
    o->start = XCONV_DEF_START;
    o->step = XCONV_DEF_STEP;
    o->max = XCONV_DEF_MAX;
    o->trigger_pct = XCONV_DEF_TRIGGER_PCT;
    o->trigger_passes = XCONV_DEF_TRIGGER_PASSES;
    o->min_pages = XCONV_DEF_MIN_PAGES;
}

/* 1..3 decimal digits, no leading zero, then sep (',' or the end). */
static const char *number(const char *s, char sep, unsigned *v)
{
    unsigned n = 0, d = 0;

    if (*s == '0')
        return NULL;                    /* 0 is out of range; no "050" */
    while (*s >= '0' && *s <= '9' && d < 4) {
        n = n * 10 + (unsigned)(*s - '0');
        s++;
        d++;
    }
    if (!d || d > 3 || *s != sep)
        return NULL;
    *v = n;
    return sep ? s + 1 : s;
}

int xconv_parse(const char *arg, struct xconv_opts *o,
                struct xlmig_error *err)
{
    unsigned v[3];
    const char *s = arg;

    xconv_opts_default(o);
    if (!arg)
        return 0;
    if (!(s = number(s, ',', &v[0])) || !(s = number(s, ',', &v[1])) ||
        !number(s, '\0', &v[2])) {
        return xlmig_fail(err, EINVAL, "--auto-converge=%s: expected "
                          "START,STEP,MAX (three percentages, e.g. %d,%d,%d)",
                          arg, XCONV_DEF_START, XCONV_DEF_STEP,
                          XCONV_DEF_MAX);
    }
    if (v[0] < 1 || v[0] > 99 || v[1] < 1 || v[1] > 99 || v[2] < 1 ||
        v[2] > 99) {
        return xlmig_fail(err, EINVAL, "--auto-converge=%s: each "
                          "percentage must be 1 to 99", arg);
    }
    if (v[0] > v[2]) {
        return xlmig_fail(err, EINVAL, "--auto-converge=%s: START (%u) is "
                          "above MAX (%u)", arg, v[0], v[2]);
    }
    o->start = v[0];
    o->step = v[1];
    o->max = v[2];
    return 0;
}

void xconv_policy_init(struct xconv_policy *p, const struct xconv_opts *o)
{
    memset(p, 0, sizeof(*p));
    if (o)
        p->o = *o;
    else
        xconv_opts_default(&p->o);
    if (!p->o.trigger_passes)
        p->o.trigger_passes = 1;
}

unsigned xconv_policy_pass(struct xconv_policy *p, uint64_t now_ns,
                           unsigned pass, uint64_t prev_pages,
                           uint64_t pages)
{
    unsigned next;

    if (p->stopped || pass == 0)
        return 0;
    if (pages < p->o.min_pages ||
        (double)pages * 100.0 <= (double)p->o.trigger_pct * (double)prev_pages) {
        p->high = 0;
        return 0;
    }
    if (++p->high < p->o.trigger_passes)
        return 0;
    p->high = 0;
    next = p->throttle ? p->throttle + p->o.step : p->o.start;
    if (next > p->o.max)
        next = p->o.max;
    if (next <= p->throttle)
        return 0;                       /* at the ceiling */
    p->throttle = next;
    if (p->nsteps < XCONV_MAX_STEPS) {
        struct xconv_step *s = &p->steps[p->nsteps];
        s->t_ns = now_ns;
        s->pass = pass;
        s->throttle = next;
        s->prev_pages = prev_pages;
        s->pages = pages;
        s->cap = -1;
    }
    p->nsteps++;
    return next;
}

void xconv_policy_set_cap(struct xconv_policy *p, int cap)
{
    if (p->nsteps && p->nsteps <= XCONV_MAX_STEPS)
        p->steps[p->nsteps - 1].cap = cap;
}

void xconv_policy_stop(struct xconv_policy *p)
{
    p->stopped = true;
}

void xconv_steps_json(const struct xconv_policy *p, uint64_t t0_ns,
                      char *buf, size_t len, size_t *pos)
{
    unsigned n = p->nsteps < XCONV_MAX_STEPS ? p->nsteps : XCONV_MAX_STEPS;

    xlmig_json_fmt(buf, len, pos, "[");
    for (unsigned i = 0; i < n; i++) {
        const struct xconv_step *s = &p->steps[i];
        double t = s->t_ns >= t0_ns ? (double)(s->t_ns - t0_ns) * 1e-9 : 0;

        xlmig_json_fmt(buf, len, pos, "%s{\"t\":%.3f,\"pass\":%u,"
                       "\"throttle_pct\":%u,\"cap\":%d,\"prev_pages\":%llu,"
                       "\"pages\":%llu}", i ? "," : "", t, s->pass,
                       s->throttle, s->cap, (unsigned long long)s->prev_pages,
                       (unsigned long long)s->pages);
    }
    xlmig_json_fmt(buf, len, pos, "]");
}
