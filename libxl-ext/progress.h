/*
 * Progress events (struct xlmig_event, xlmig.h): built by the engine,
 * delivered to the caller's callback, formatted as one JSON line by
 * xlmig_event_json() (the contract of `--json`).
 */
#ifndef XLMIG_PROGRESS_H
#define XLMIG_PROGRESS_H

#include <stdint.h>

#include "xlmig.h"

/* Where a side's events go: the role and clock they carry, the callback. */
struct xlmig_emitter {
    const char *role;
    uint64_t t0_ns;
    xlmig_event_fn *fn;
    xlmig_log_fn *log;
    void *opaque;
};

void xlmig_emitter_init(struct xlmig_emitter *em, const char *role,
                        xlmig_event_fn *fn, xlmig_log_fn *log, void *opaque);
/* An event with every numeric field "not applicable". */
struct xlmig_event xlmig_event_make(const char *event, const char *phase);
/* Memory figures with every field "not applicable" (throttle: off). */
void xlmig_memory_init(struct xlmig_memory *m);
/* Stamps role and time, then calls the callback (if any). */
void xlmig_emit(const struct xlmig_emitter *em, struct xlmig_event *ev);
void xlmig_logf(const struct xlmig_emitter *em, enum xlmig_log_level level,
                const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Appends s as a JSON string literal (quotes included) to buf at *pos;
 * *pos grows by what it needed even past len (snprintf style). */
void xlmig_json_str(char *buf, size_t len, size_t *pos, const char *s);
/* printf into buf at *pos, snprintf style. */
void xlmig_json_fmt(char *buf, size_t len, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
