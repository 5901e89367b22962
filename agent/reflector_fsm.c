/* The reflector's transitions, pure: no clock, no network, no store. */
#include "reflector.h"

#define RF_STEP(s, b, e, f) ((struct rf_step){ .state = (s), .backoff = (b), .error = (e), .from = (f) })

/* A watch that ended sooner than this without an event is "very short"
 * (client-go's term): back off instead of reconnecting at once. */
#define RF_SHORT_WATCH_MS 1000

static struct rf_step rf_next_listing(enum rf_outcome o)
{
	switch (o) {
	case RF_O_PAGE:
		return RF_STEP(RF_LISTING, false, false, RF_FROM_SAME);
	case RF_O_LISTED:
		return RF_STEP(RF_WATCHING, false, false, RF_FROM_SAME);
	case RF_O_LIST_GONE:
		return RF_STEP(RF_LISTING, false, false, RF_FROM_NONE);
	case RF_O_PAGE_OVER:
		return RF_STEP(RF_LISTING, false, false, RF_FROM_START);
	case RF_O_START:
	case RF_O_TIMER:
		return (struct rf_step){ .state = RF_LISTING, .stay = true };
	default:	/* FAILED, or a watch's outcome: the list failed */
		return RF_STEP(RF_WAIT_LIST, true, true, RF_FROM_SAME);
	}
}

static struct rf_step rf_next_watching(enum rf_outcome o)
{
	switch (o) {
	case RF_O_ENDED:
		return RF_STEP(RF_WATCHING, false, false, RF_FROM_SAME);
	case RF_O_GONE:
		return RF_STEP(RF_WAIT_LIST, true, false, RF_FROM_RV);
	case RF_O_DROPPED:
	case RF_O_HUNG:
		return RF_STEP(RF_WAIT_WATCH, true, true, RF_FROM_SAME);
	case RF_O_START:
	case RF_O_TIMER:
		return (struct rf_step){ .state = RF_WATCHING, .stay = true };
	default:	/* FAILED, or a list's outcome: relist */
		return RF_STEP(RF_WAIT_LIST, true, true, RF_FROM_RV);
	}
}

struct rf_step rf_next(enum rf_state s, enum rf_outcome o)
{
	struct rf_step same = { .state = s, .stay = true };

	if (o == RF_O_STOP)
		return (struct rf_step){ .state = RF_STOPPED, .stay = s == RF_STOPPED };
	switch (s) {
	case RF_STOPPED:
		return o == RF_O_START ? RF_STEP(RF_LISTING, false, false, RF_FROM_NONE) : same;
	case RF_WAIT_LIST:
		return o == RF_O_TIMER ? RF_STEP(RF_LISTING, false, false, RF_FROM_SAME) : same;
	case RF_WAIT_WATCH:
		return o == RF_O_TIMER ? RF_STEP(RF_WATCHING, false, false, RF_FROM_SAME) : same;
	case RF_LISTING:
		return rf_next_listing(o);
	case RF_WATCHING:
		return rf_next_watching(o);
	default:
		return same;
	}
}

enum rf_outcome rf_list_outcome(CURLcode rc, long http, bool over, long page, bool at_place)
{
	if (rc != CURLE_OK)
		return over && page > 1 ? RF_O_PAGE_OVER : RF_O_FAILED;
	/* The resourceVersion (or continue token) is gone: a fresh,
	 * consistent list, at once. */
	if (http == 410 && at_place)
		return RF_O_LIST_GONE;
	return http == 200 ? RF_NOUTCOMES : RF_O_FAILED;
}

enum rf_outcome rf_watch_outcome(const struct rf_watch_end *w)
{
	if (w->gone || w->http == 410)
		return RF_O_GONE;
	if ((w->http && w->http != 200) || w->failed)
		return RF_O_FAILED;
	if (w->rc == CURLE_OK && (w->lasted_ms >= RF_SHORT_WATCH_MS || w->events))
		return RF_O_ENDED;
	/* As client-go: a dropped connection or one that timed out resumes
	 * (the resourceVersion is still good); only 410 Gone and errors the
	 * stream itself reports relist. */
	return w->rc == CURLE_OPERATION_TIMEDOUT && w->http == 200 ? RF_O_HUNG : RF_O_DROPPED;
}

long rf_watch_bound_ms(const struct reflector_cfg *cfg, long t)
{
	/* The server ends the watch at t (it sends no bookmark on a quiet
	 * resource, so silence is no sign of trouble); the margin catches one
	 * that never does. A dead connection is keepalive's. */
	return (t + cfg->margin_s) * 1000L;
}

const char *rf_state_name(enum rf_state s)
{
	static const char *const n[RF_NSTATES] = { "stopped", "waiting to list", "listing", "waiting to watch",
						   "watching" };

	return (unsigned)s < RF_NSTATES ? n[s] : "?";
}

const char *rf_outcome_name(enum rf_outcome o)
{
	static const char *const n[RF_NOUTCOMES] = { "start", "timer", "page", "listed", "list gone",
						     "page over", "failed", "gone", "ended", "dropped",
						     "hung", "stop" };

	return (unsigned)o < RF_NOUTCOMES ? n[o] : "?";
}
