/*
 * Stop-and-copy, with the guest suspended: quiesce every VBD (nothing in
 * flight), take the exact final dirty set, and either send those blocks
 * now or hand them over as the stale bitmap post-copy will serve; then
 * wait until the destination has written it all (and armed its gates).
 * Also the simulated guest's state, which travels on the data channel.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#include "src_internal.h"

int xlmig_source_send_state(struct xlmig_source *s, const void *blob,
                            size_t len)
{
    const size_t chunk = XLMIG_SENDQ_MAX_RECORD - XLMIG_HDR_LEN - 64;
    uint8_t *buf;
    struct xlmig_state_end end = { .total = len,
                                   .crc = (uint32_t)crc32(0, Z_NULL, 0) };
    const uint8_t *p = blob;
    int rc = 0;

    if (!s->q)
        return src_fail(s, EINVAL, "guest state before negotiation");
    if (!(s->features & XLMIG_F_SIM_STATE))
        return src_fail(s, EPROTONOSUPPORT, "the destination does not "
                        "accept guest state");
    buf = malloc(XLMIG_SENDQ_MAX_RECORD);
    if (!buf)
        return src_fail(s, ENOMEM, "out of memory");
    for (size_t off = 0; off < len && !rc; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        end.crc = (uint32_t)crc32(end.crc, p + off, (uInt)n);
        rc = src_queue_record(s, buf, xlmig_enc_blob(buf, XLMIG_REC_STATE,
                                                     p + off, (uint32_t)n));
    }
    if (!rc)
        rc = src_queue_record(s, buf, xlmig_enc_state_end(buf, &end));
    free(buf);
    return rc;
}

static int send_bitmap(struct xlmig_source *s, struct src_disk *d)
{
    const uint32_t max = 32768;
    struct xlmig_extent *e = malloc(max * sizeof(*e));
    uint8_t *buf = malloc(XLMIG_HDR_LEN + 8 + max * XLMIG_EXTENT_LEN);
    struct xlmig_bitmap_end end = { .disk = d->id, .total = 0 };
    uint64_t pos = 0;
    uint32_t n = 0;
    int rc = 0;

    if (!e || !buf) {
        free(e);
        free(buf);
        return src_fail(s, ENOMEM, "out of memory");
    }
    while (!rc) {
        bool more = xlmig_bitmap_next_extent(d->stale, &pos, 0, &e[n]);
        if (more) {
            end.total += e[n].count;
            n++;
        }
        if (n && (n == max || !more)) {
            rc = src_queue_record(s, buf,
                                  xlmig_enc_extents(buf, XLMIG_REC_BITMAP,
                                                    d->id, e, n));
            n = 0;
        }
        if (!more)
            break;
    }
    if (!rc)
        rc = src_queue_record(s, buf, xlmig_enc_bitmap_end(buf, &end));
    free(e);
    free(buf);
    return rc;
}

static int quiesce_all(struct xlmig_source *s)
{
    for (unsigned i = 0; i < s->ndisks; i++) {
        struct src_disk *d = &s->disks[i];
        int64_t left = xlmig_source_time_left_ms(s);
        int t = left >= 0 && left < s->o.quiesce_timeout_ms
                    ? (int)(left > 0 ? left : 1) : s->o.quiesce_timeout_ms;
        int rc = d->vbd->ops->quiesce(d->vbd, t);

        if (rc < 0)
            return src_fail(s, -rc, "disk %s: quiesce failed: %s", d->name,
                            d->vbd->err.msg);
        d->quiesced = true;
    }
    return 0;
}

/* The measured disk downtime went over the budget: say so, with where
 * the time went. */
static void over_budget(struct xlmig_source *s)
{
    struct xlmig_event ev = xlmig_event_make("warning", "stopcopy");
    double ms = (double)(s->st.t_stopcopy_done - s->st.t_stopcopy_start) *
                1e-6;
    char msg[256];

    if (ms <= s->o.max_downtime_ms)
        return;
    snprintf(msg, sizeof(msg), "disk downtime %.1f ms exceeded the %.0f ms "
             "budget (expected %.1f ms; quiesce and snapshot took %.1f ms)",
             ms, s->o.max_downtime_ms, s->st.expected_downtime_ms,
             (double)(s->st.t_quiesced - s->st.t_stopcopy_start) * 1e-6);
    ev.expected_downtime_ms = s->st.expected_downtime_ms;
    ev.downtime_budget_ms = s->o.max_downtime_ms;
    ev.message = msg;
    src_event(s, &ev);
}

int src_stopcopy(struct xlmig_source *s)
{
    struct xlmig_event ev = xlmig_event_make("stopcopy", "stopcopy");
    uint64_t final_bytes, now;
    double rate, eta, so_far, rtt, expected;
    bool send_blocks;
    int rc;

    if ((rc = src_keepup_stop(s)) < 0)
        return rc;
    s->st.t_stopcopy_start = xlmig_now_ns();
    if (!s->st.t_suspended)
        s->st.t_suspended = s->st.t_stopcopy_start;
    if ((rc = quiesce_all(s)) < 0)
        return rc;
    s->st.t_quiesced = xlmig_now_ns();
    /* The guest is stopped: nothing of its to yield to until GO. */
    if (s->q)
        xlmig_sendq_set_yield(s->q, false);
    /* No request in flight any more: this snapshot is exact. */
    if ((rc = src_snapshot_all(s)) < 0)
        return rc;
    s->st.final_blocks = src_pending_blocks(s);
    final_bytes = s->st.final_blocks * s->o.block_size;
    rate = src_rate(s);
    if (rate <= 0 && s->q && s->st.t_push_done > s->st.t_start) {
        /* No recent rate (e.g. no dirty pass): PUSH's average. */
        struct xlmig_sendq_stats qs;

        xlmig_sendq_get_stats(s->q, &qs);
        rate = (double)(qs.data_bytes + qs.zero_bytes + qs.skipped_bytes) /
               ((double)(s->st.t_push_done - s->st.t_start) * 1e-9);
    }
    eta = xlmig_conv_eta(final_bytes, rate);
    /*
     * The disk downtime so far (quiesce and snapshot, measured), plus
     * sending the set, plus the round trip that confirms it: does it fit
     * the budget?  If not, the set goes over as a bitmap (post-copy): the
     * round trip remains, and the destination loads the bitmap into its
     * VBDs' gates (about what fetching the snapshot from ours took).
     */
    now = xlmig_now_ns();
    so_far = (double)(now - s->st.t_stopcopy_start) * 1e-9;
    rtt = (double)s->st.rtt_ns * 1e-9;
    expected = (so_far + eta + rtt) * 1000.0;
    send_blocks = !s->o.postcopy || !(s->features & XLMIG_F_POSTCOPY) ||
                  final_bytes == 0 ||
                  (rate > 0 && expected <= s->o.max_downtime_ms);
    if (!send_blocks)
        expected = (so_far + rtt +
                    (double)(now - s->st.t_quiesced) * 1e-9) * 1000.0;
    s->st.postcopy = !send_blocks;
    s->st.expected_downtime_ms = expected;
    /* The guest's: stopped since the suspend (measured), then the disk's
     * part, then READY / GO / REPORT (about two round trips). */
    s->st.expected_guest_ms = (double)(s->st.t_stopcopy_start -
                                       s->st.t_suspended) * 1e-6 +
                              expected + 2 * rtt * 1000.0;

    ev.remaining_blocks = (int64_t)s->st.final_blocks;
    ev.remaining_bytes = (int64_t)final_bytes;
    ev.total_blocks = (int64_t)s->st.final_blocks;
    ev.total_bytes = (int64_t)final_bytes;
    ev.block_size = s->o.block_size;
    if (rate > 0)
        ev.rate_Bps = rate;
    ev.expected_downtime_ms = expected;
    ev.downtime_budget_ms = s->o.max_downtime_ms;
    ev.message = final_bytes == 0 ? "nothing left to send"
                 : send_blocks ? "sending the remaining blocks now"
                               : "handing the stale bitmap over (post-copy)";
    src_event(s, &ev);

    if ((rc = src_phase(s, XLMIG_PHASE_STOPCOPY, 0, s->st.final_blocks)) < 0)
        return rc;
    for (unsigned i = 0; i < s->ndisks; i++) {
        struct src_disk *d = &s->disks[i];
        uint64_t pos = 0;
        struct xlmig_extent e;

        if (send_blocks) {
            while (xlmig_bitmap_next_extent(d->pending, &pos, 0, &e))
                if ((rc = src_queue_extent(s, d, e.start, e.count,
                                           XLMIG_ORIGIN_STOPCOPY,
                                           false)) < 0)
                    return rc;
            xlmig_bitmap_clear_all(d->pending);
        } else {
            /* The pending set becomes the stale set post-copy pushes. */
            d->stale = d->pending;
            d->pending = xlmig_bitmap_new(d->nblocks);
            if (!d->pending)
                return src_fail(s, ENOMEM, "out of memory");
            if ((rc = send_bitmap(s, d)) < 0)
                return rc;
        }
    }
    /* The destination closes the extra connections once it has
     * everything they carried (and then acknowledges this SYNC). */
    __atomic_store_n(&s->xfinal, true, __ATOMIC_RELEASE);
    if ((rc = src_sync(s)) < 0)
        return rc;
    /* --verify: blocks that read back wrong go again before GO (with
     * post-copy, the destination fetches them again itself). */
    if (send_blocks && (rc = src_verify_settle(s)) < 0)
        return rc;
    s->st.t_stopcopy_done = xlmig_now_ns();
    if (s->q)
        xlmig_sendq_set_yield(s->q, true);
    /* Everything the extra connections carry is written: from the
     * hand-off on, one connection. */
    src_close_extras(s);
    over_budget(s);
    /* READY / GO next (by the handoff hook or on the data channel). */
    ev = xlmig_event_make("phase", "handoff");
    src_event(s, &ev);
    return 0;
}
