#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "alog.h"
#include "metrics.h"

#define METRICS_MAX_COLLECTORS 32
#define METRICS_OUT_MAX (16u << 20)

struct metrics_out {
	char *data;
	size_t len, cap;
	bool failed;
};

struct metrics {
	pthread_mutex_t lock;
	struct {
		metrics_collect_fn fn;
		void *arg;
	} c[METRICS_MAX_COLLECTORS];
	int n;
	metrics_probe_fn healthy, ready;
	void *probe_arg;
	struct MHD_Daemon *d;
};

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m)
		pthread_mutex_init(&m->lock, NULL);
	return m;
}

static void metrics_lock(struct metrics *m)
{
	pthread_mutex_lock(&m->lock);
}

static void metrics_unlock(struct metrics *m)
{
	pthread_mutex_unlock(&m->lock);
}

int metrics_register(struct metrics *m, metrics_collect_fn fn, void *arg)
{
	if (m->n == METRICS_MAX_COLLECTORS)
		return -ENOSPC;
	metrics_lock(m);
	m->c[m->n].fn = fn;
	m->c[m->n++].arg = arg;
	metrics_unlock(m);
	return 0;
}

void metrics_unregister(struct metrics *m, metrics_collect_fn fn, void *arg)
{
	int kept = 0;

	metrics_lock(m);
	for (int i = 0; i < m->n; i++)
		if (m->c[i].fn != fn || m->c[i].arg != arg)
			m->c[kept++] = m->c[i];
	m->n = kept;
	metrics_unlock(m);
}

void metrics_set_probes(struct metrics *m, metrics_probe_fn healthy, metrics_probe_fn ready, void *arg)
{
	m->healthy = healthy;
	m->ready = ready;
	m->probe_arg = arg;
}

void metrics_printf(struct metrics_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->failed)
		return;
	for (;;) {
		size_t room = o->cap - o->len;

		va_start(ap, fmt);
		n = vsnprintf(o->data ? o->data + o->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = true;
			return;
		}
		if ((size_t)n < room) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = o->cap ? o->cap * 2 : 16384;
		while (cap < o->len + (size_t)n + 1)
			cap *= 2;
		char *nd = cap <= METRICS_OUT_MAX ? realloc(o->data, cap) : NULL;
		if (!nd) {
			o->failed = true;
			return;
		}
		o->data = nd;
		o->cap = cap;
	}
}

void metrics_family(struct metrics_out *o, const char *name, const char *type, const char *help)
{
	metrics_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_sample_u64(struct metrics_out *o, const char *name, const char *labels, unsigned long long value)
{
	metrics_printf(o, "%s%s%s%s %llu\n", name, labels && *labels ? "{" : "", labels ? labels : "",
		       labels && *labels ? "}" : "", value);
}

void metrics_single_u64(struct metrics_out *o, const char *name, const char *type, const char *help,
			unsigned long long value)
{
	metrics_family(o, name, type, help);
	metrics_sample_u64(o, name, NULL, value);
}

char *metrics_render(struct metrics *m, size_t *len)
{
	struct metrics_out o = { 0 };

	metrics_lock(m);
	for (int i = 0; i < m->n; i++)
		m->c[i].fn(&o, m->c[i].arg);
	metrics_unlock(m);
	metrics_printf(&o, "%s", "");
	if (o.failed) {
		free(o.data);
		return NULL;
	}
	*len = o.len;
	return o.data;
}

static enum MHD_Result metrics_reply(struct MHD_Connection *c, unsigned code, char *body, size_t len,
				     const char *ctype)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result metrics_probe(struct metrics *m, struct MHD_Connection *c, metrics_probe_fn fn,
				     const char *what)
{
	bool ok = !fn || fn(m->probe_arg);
	char *body = NULL;
	int n = asprintf(&body, "%s %s\n", what, ok ? "ok" : "not ok");

	if (n < 0)
		return MHD_NO;
	return metrics_reply(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, body, (size_t)n,
			     "text/plain; charset=utf-8");
}

static enum MHD_Result metrics_handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				       const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct metrics *m = cls;
	char *body;
	size_t len = 0;

	(void)version;
	(void)upload;
	(void)con_cls;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return metrics_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, strdup("GET only\n"), 9, "text/plain");
	if (*upload_size)
		return MHD_NO;
	if (!strcmp(url, "/healthz"))
		return metrics_probe(m, c, m->healthy, "healthz");
	if (!strcmp(url, "/readyz"))
		return metrics_probe(m, c, m->ready, "readyz");
	if (strcmp(url, "/metrics"))
		return metrics_reply(c, MHD_HTTP_NOT_FOUND, strdup("not found: try /metrics\n"), 24, "text/plain");
	body = metrics_render(m, &len);
	if (!body)
		return metrics_reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, strdup("out of memory\n"), 14, "text/plain");
	return metrics_reply(c, MHD_HTTP_OK, body, len, "text/plain; version=0.0.4; charset=utf-8");
}

/* "HOST:PORT", ":PORT", "[V6]:PORT" into a socket address. */
static int metrics_addr_parse(const char *addr, struct sockaddr_storage *ss, struct fs_err *e)
{
	const char *colon = strrchr(addr, ':');
	char host[64];
	long port;
	char *end;

	if (!colon || (size_t)(colon - addr) >= sizeof(host))
		return err_set(e, CNI_ERR_INVALID_CONFIG, "--metrics-addr \"%.100s\" is not HOST:PORT", addr);
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 0 || port > 65535)
		return err_set(e, CNI_ERR_INVALID_CONFIG, "--metrics-addr \"%.100s\": bad port", addr);
	memset(ss, 0, sizeof(*ss));
	/* "[v6]:port", or a bare v6 from $(HOST_IP) in a manifest. */
	if (strchr(host, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		char *h = host;

		if (h[0] == '[' && h[strlen(h) - 1] == ']') {
			h[strlen(h) - 1] = '\0';
			h++;
		}
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, h, &s6->sin6_addr) == 1)
			return 0;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (!host[0] || inet_pton(AF_INET, host, &s4->sin_addr) == 1)
			return 0;
	}
	return err_set(e, CNI_ERR_INVALID_CONFIG, "--metrics-addr \"%.100s\": \"%s\" is not an IP address", addr, host);
}

int metrics_start(struct metrics *m, const char *addr, unsigned *port_out, struct fs_err *e)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

	if (metrics_addr_parse(addr, &ss, e))
		return -1;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* Bounded: a few scrapers at a time, slow clients dropped. */
	m->d = MHD_start_daemon(flags, 0, NULL, NULL, metrics_handler, m, MHD_OPTION_SOCK_ADDR, &ss,
				MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				MHD_OPTION_END);
	if (!m->d)
		return err_set(e, CNI_ERR_IO, "metrics server on %s: cannot listen (address in use or not local?)", addr);
	info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
	*port_out = info ? info->port : 0;
	return 0;
}

void metrics_stop(struct metrics *m)
{
	if (m->d)
		MHD_stop_daemon(m->d);
	m->d = NULL;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	metrics_stop(m);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
