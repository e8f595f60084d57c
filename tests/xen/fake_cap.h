/*
 * A fake host for the CPU cap's operations (xconv_cap.h): a table of
 * domains with their scheduler and cap, an in-memory xenstore, owners alive
 * or dead, and failures on demand.  Shared by the unit tests of xconv_cap
 * and of the source's memory phase (xsmem).
 */
#ifndef XLMIG_TESTS_FAKE_CAP_H
#define XLMIG_TESTS_FAKE_CAP_H

#include <stdbool.h>
#include <stdint.h>

#include "xconv_cap.h"

struct host {
    struct xconv_dom dom[4];
    uint32_t domid[4];
    unsigned ndom;
    struct { char k[192], v[64]; } kv[64];
    unsigned nkv;
    unsigned nset, nput;
    bool fail_set, fail_put, fail_get;
    bool alive;
    char log[1024];                 /* "put", "set:cap" in order */
};

extern const struct xconv_cap_ops fake_cap_ops;

struct xconv_dom *fake_cap_find(struct host *h, uint32_t domid);
void fake_cap_add_dom(struct host *h, uint32_t domid, const char *uuid,
                      const char *sched, int cap, unsigned vcpus);
int fake_cap_kv_find(struct host *h, const char *path);

#endif
