/* Prometheus text exposition (version 0.0.4) on --metrics-addr, served by
 * libmicrohttpd on its own thread: /metrics, /healthz, /readyz.
 *
 * Collectors are callbacks registered before metrics_start(); a scrape calls
 * them in order with the registry lock held. State a collector reads that
 * the main loop changes must be atomics, or be guarded by a lock of the
 * collector's own (records.c's). Collectors plug in so:
 *
 *   static void attach_collect(struct metrics_out *o, void *arg)
 *   {
 *       metrics_family(o, "flowsteer_attachments", "gauge", "Tuned attachments by mode and scope.");
 *       metrics_sample_u64(o, "flowsteer_attachments", "mode=\"rfs\",scope=\"both\"", n);
 *   }
 *   metrics_register(m, attach_collect, ctx);
 */
#ifndef FLOWSTEER_AGENT_METRICS_H
#define FLOWSTEER_AGENT_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct metrics;
struct metrics_out;

typedef void (*metrics_collect_fn)(struct metrics_out *o, void *arg);
/* true = ready (/readyz 200), else 503. */
typedef bool (*metrics_probe_fn)(void *arg);

struct metrics *metrics_new(void);
/* 0, or -ENOSPC when the registry is full (the caller names the duty). */
int metrics_register(struct metrics *m, metrics_collect_fn fn, void *arg);
/* Drops what metrics_register(m, fn, arg) added; once it returns, no
 * scrape calls it (a duty unregisters before it stops). */
void metrics_unregister(struct metrics *m, metrics_collect_fn fn, void *arg);
void metrics_set_probes(struct metrics *m, metrics_probe_fn healthy, metrics_probe_fn ready, void *arg);
/* addr: "HOST:PORT", ":PORT" (all IPv4 addresses) or "[V6]:PORT"; port 0
 * picks a free one. *port_out gets the port bound. */
int metrics_start(struct metrics *m, const char *addr, unsigned *port_out, struct fs_err *e);
/* Stops the server (its thread); safe twice and when it never started. */
void metrics_stop(struct metrics *m);
void metrics_free(struct metrics *m);

/* Output helpers for collectors. */
void metrics_printf(struct metrics_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* # HELP and # TYPE lines of one family. */
void metrics_family(struct metrics_out *o, const char *name, const char *type, const char *help);
/* name{labels} value; labels may be NULL or "" (already escaped). */
void metrics_sample_u64(struct metrics_out *o, const char *name, const char *labels, unsigned long long value);

/* A family of one sample without labels: HELP, TYPE and the value. */
void metrics_single_u64(struct metrics_out *o, const char *name, const char *type, const char *help,
			unsigned long long value);

/* The whole exposition as a string (what /metrics serves); for tests. */
char *metrics_render(struct metrics *m, size_t *len);

#endif
