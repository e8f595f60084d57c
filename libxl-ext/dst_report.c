/* The destination's final figures, as a struct and as one JSON line. */
#include <stdio.h>
#include <string.h>

#include "dst_internal.h"

void xlmig_dest_get_report(const struct xlmig_dest *d,
                           struct xlmig_dest_report *r)
{
    memset(r, 0, sizeof(*r));
    r->ok = !d->failed;
    r->past_go = d->got_go;
    r->ndisks = d->ndisks;
    r->data_bytes = d->st.data_bytes;
    r->zero_bytes = d->st.zero_bytes;
    r->stale_blocks = d->st.stale_blocks;
    r->installed = __atomic_load_n(&d->st.installed, __ATOMIC_RELAXED);
    r->refused = d->st.refused;
    r->demanded = __atomic_load_n(&d->st.demanded, __ATOMIC_RELAXED);
    r->postcopy_s = d->st.t_go && d->st.t_done
                        ? (double)(d->st.t_done - d->st.t_go) * 1e-9 : -1;
    r->error = d->failed ? d->err.msg : NULL;
    r->offline = d->offline;
    r->estimate = d->estimate;
    r->resumed_blocks = d->st.resumed_blocks;
    r->verify = d->ver != NULL;
    if (r->verify) {
        struct xlmig_verified v;

        dst_verify_counts(d, &v);
        r->verified.digests = v.checked;
        r->verified.bytes = v.bytes;
        r->verified.mismatched_blocks = v.mismatched;
        r->verified.unresolved_blocks = v.unresolved;
        r->verified.skipped = v.skipped;
        r->verify_mismatches = dst_verify_list(d);
    }
}

size_t xlmig_dest_report_json(const struct xlmig_dest *d, char *buf,
                              size_t len)
{
    struct xlmig_dest_report r;
    size_t p = 0;

    xlmig_dest_get_report(d, &r);
    if (len)
        buf[0] = '\0';
    xlmig_json_fmt(buf, len, &p, "{\"event\":\"report\",\"role\":"
                   "\"destination\",\"result\":\"%s\",\"data_bytes\":%llu,"
                   "\"zero_bytes\":%llu,\"stale_blocks\":%llu,"
                   "\"installed\":%llu,\"refused\":%llu,\"demanded\":%llu,"
                   "\"postcopy_s\":%.3f", r.ok ? "success" : "failed",
                   (unsigned long long)r.data_bytes,
                   (unsigned long long)r.zero_bytes,
                   (unsigned long long)r.stale_blocks,
                   (unsigned long long)r.installed,
                   (unsigned long long)r.refused,
                   (unsigned long long)r.demanded, r.postcopy_s);
    if (r.error) {
        xlmig_json_fmt(buf, len, &p, ",\"error\":");
        xlmig_json_str(buf, len, &p, r.error);
    }
    if (r.offline)
        xlmig_json_fmt(buf, len, &p, ",\"offline\":true,"
                       "\"resumed_blocks\":%llu",
                       (unsigned long long)r.resumed_blocks);
    if (r.estimate)
        xlmig_json_fmt(buf, len, &p, ",\"estimate\":true");
    if (r.verify) {
        xlmig_json_fmt(buf, len, &p, ",\"verify\":true,\"verified_digests\":"
                       "%llu,\"verified_bytes\":%llu,"
                       "\"verify_mismatched_blocks\":%llu,"
                       "\"verify_unresolved_blocks\":%llu,"
                       "\"verify_skipped\":%llu,\"verify_mismatches\":",
                       (unsigned long long)r.verified.digests,
                       (unsigned long long)r.verified.bytes,
                       (unsigned long long)r.verified.mismatched_blocks,
                       (unsigned long long)r.verified.unresolved_blocks,
                       (unsigned long long)r.verified.skipped);
        xlmig_json_str(buf, len, &p, r.verify_mismatches);
    }
    xlmig_json_fmt(buf, len, &p, "}");
    return p;
}
