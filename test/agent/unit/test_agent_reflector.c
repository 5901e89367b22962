/* The reflector's transitions without a network: every (state, outcome)
 * pair of rf_next(), the outcomes of finished lists and watches, backoff
 * growth and reset, relist vs resume, the hung bound; and the loop's data
 * hook and cancel (a file:// transfer, no network). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "reflector.h"

#define S(st, bo, er, fr) { .state = (st), .backoff = (bo), .error = (er), .from = (fr) }
#define STAY(st) { .state = (st), .stay = true }
#define STOP { .state = RF_STOPPED }
#define FAIL_LIST S(RF_WAIT_LIST, true, true, RF_FROM_SAME)
#define FAIL_WATCH S(RF_WAIT_LIST, true, true, RF_FROM_RV)

/* The whole table, written out: [state][outcome]. */
static const struct rf_step expect[RF_NSTATES][RF_NOUTCOMES] = {
	[RF_STOPPED] = {
		[RF_O_START] = S(RF_LISTING, false, false, RF_FROM_NONE),
		[RF_O_TIMER] = STAY(RF_STOPPED), [RF_O_PAGE] = STAY(RF_STOPPED),
		[RF_O_LISTED] = STAY(RF_STOPPED), [RF_O_LIST_GONE] = STAY(RF_STOPPED),
		[RF_O_PAGE_OVER] = STAY(RF_STOPPED), [RF_O_FAILED] = STAY(RF_STOPPED),
		[RF_O_GONE] = STAY(RF_STOPPED), [RF_O_ENDED] = STAY(RF_STOPPED),
		[RF_O_DROPPED] = STAY(RF_STOPPED), [RF_O_HUNG] = STAY(RF_STOPPED),
		[RF_O_STOP] = STAY(RF_STOPPED),
	},
	[RF_WAIT_LIST] = {
		[RF_O_START] = STAY(RF_WAIT_LIST), [RF_O_TIMER] = S(RF_LISTING, false, false, RF_FROM_SAME),
		[RF_O_PAGE] = STAY(RF_WAIT_LIST), [RF_O_LISTED] = STAY(RF_WAIT_LIST),
		[RF_O_LIST_GONE] = STAY(RF_WAIT_LIST), [RF_O_PAGE_OVER] = STAY(RF_WAIT_LIST),
		[RF_O_FAILED] = STAY(RF_WAIT_LIST), [RF_O_GONE] = STAY(RF_WAIT_LIST),
		[RF_O_ENDED] = STAY(RF_WAIT_LIST), [RF_O_DROPPED] = STAY(RF_WAIT_LIST),
		[RF_O_HUNG] = STAY(RF_WAIT_LIST), [RF_O_STOP] = STOP,
	},
	[RF_LISTING] = {
		[RF_O_START] = STAY(RF_LISTING), [RF_O_TIMER] = STAY(RF_LISTING),
		[RF_O_PAGE] = S(RF_LISTING, false, false, RF_FROM_SAME),
		[RF_O_LISTED] = S(RF_WATCHING, false, false, RF_FROM_SAME),
		[RF_O_LIST_GONE] = S(RF_LISTING, false, false, RF_FROM_NONE),
		[RF_O_PAGE_OVER] = S(RF_LISTING, false, false, RF_FROM_START),
		[RF_O_FAILED] = FAIL_LIST, [RF_O_GONE] = FAIL_LIST, [RF_O_ENDED] = FAIL_LIST,
		[RF_O_DROPPED] = FAIL_LIST, [RF_O_HUNG] = FAIL_LIST, [RF_O_STOP] = STOP,
	},
	[RF_WAIT_WATCH] = {
		[RF_O_START] = STAY(RF_WAIT_WATCH), [RF_O_TIMER] = S(RF_WATCHING, false, false, RF_FROM_SAME),
		[RF_O_PAGE] = STAY(RF_WAIT_WATCH), [RF_O_LISTED] = STAY(RF_WAIT_WATCH),
		[RF_O_LIST_GONE] = STAY(RF_WAIT_WATCH), [RF_O_PAGE_OVER] = STAY(RF_WAIT_WATCH),
		[RF_O_FAILED] = STAY(RF_WAIT_WATCH), [RF_O_GONE] = STAY(RF_WAIT_WATCH),
		[RF_O_ENDED] = STAY(RF_WAIT_WATCH), [RF_O_DROPPED] = STAY(RF_WAIT_WATCH),
		[RF_O_HUNG] = STAY(RF_WAIT_WATCH), [RF_O_STOP] = STOP,
	},
	[RF_WATCHING] = {
		[RF_O_START] = STAY(RF_WATCHING), [RF_O_TIMER] = STAY(RF_WATCHING),
		[RF_O_PAGE] = FAIL_WATCH, [RF_O_LISTED] = FAIL_WATCH, [RF_O_LIST_GONE] = FAIL_WATCH,
		[RF_O_PAGE_OVER] = FAIL_WATCH, [RF_O_FAILED] = FAIL_WATCH,
		[RF_O_GONE] = S(RF_WAIT_LIST, true, false, RF_FROM_RV),
		[RF_O_ENDED] = S(RF_WATCHING, false, false, RF_FROM_SAME),
		[RF_O_DROPPED] = S(RF_WAIT_WATCH, true, true, RF_FROM_SAME),
		[RF_O_HUNG] = S(RF_WAIT_WATCH, true, true, RF_FROM_SAME), [RF_O_STOP] = STOP,
	},
};

static void test_every_pair(void **state)
{
	(void)state;
	for (int s = 0; s < RF_NSTATES; s++)
		for (int o = 0; o < RF_NOUTCOMES; o++) {
			struct rf_step got = rf_next((enum rf_state)s, (enum rf_outcome)o);
			const struct rf_step *want = &expect[s][o];

			if (got.state != want->state || got.stay != want->stay ||
			    (!want->stay && (got.backoff != want->backoff || got.error != want->error ||
					     got.from != want->from)))
				fail_msg("%s + %s: got %s%s", rf_state_name((enum rf_state)s),
					 rf_outcome_name((enum rf_outcome)o), rf_state_name(got.state),
					 got.stay ? " (stay)" : "");
			/* A delay only where there is something to wait for. */
			if (got.backoff)
				assert_true(got.state == RF_WAIT_LIST || got.state == RF_WAIT_WATCH);
		}
}

static void test_list_outcomes(void **state)
{
	(void)state;
	assert_int_equal(rf_list_outcome(CURLE_OK, 200, false, 500, false), RF_NOUTCOMES);
	/* A page over its bound: smaller pages, down to one object. */
	assert_int_equal(rf_list_outcome(CURLE_WRITE_ERROR, 200, true, 500, false), RF_O_PAGE_OVER);
	assert_int_equal(rf_list_outcome(CURLE_WRITE_ERROR, 200, true, 2, false), RF_O_PAGE_OVER);
	assert_int_equal(rf_list_outcome(CURLE_WRITE_ERROR, 200, true, 1, false), RF_O_FAILED);
	assert_int_equal(rf_list_outcome(CURLE_COULDNT_CONNECT, 0, false, 500, false), RF_O_FAILED);
	/* 410 at a resourceVersion or continue token: a fresh list; 410 to
	 * a fresh list is a failure like any other status. */
	assert_int_equal(rf_list_outcome(CURLE_OK, 410, false, 500, true), RF_O_LIST_GONE);
	assert_int_equal(rf_list_outcome(CURLE_OK, 410, false, 500, false), RF_O_FAILED);
	assert_int_equal(rf_list_outcome(CURLE_OK, 403, false, 500, true), RF_O_FAILED);
	assert_int_equal(rf_list_outcome(CURLE_OK, 500, false, 500, false), RF_O_FAILED);
}

static enum rf_outcome watch_end(CURLcode rc, long http, bool gone, bool failed, long long ms,
				 unsigned long long events)
{
	struct rf_watch_end w = { .rc = rc, .http = http, .gone = gone, .failed = failed, .lasted_ms = ms,
				  .events = events };

	return rf_watch_outcome(&w);
}

/* Resume (the resourceVersion is good) vs relist (the stream said so). */
static void test_watch_relist_or_resume(void **state)
{
	(void)state;
	/* The server ended it: resumed at once, also a quiet one. */
	assert_int_equal(watch_end(CURLE_OK, 200, false, false, 300000, 0), RF_O_ENDED);
	assert_int_equal(watch_end(CURLE_OK, 200, false, false, 5, 3), RF_O_ENDED);
	assert_int_equal(rf_next(RF_WATCHING, RF_O_ENDED).state, RF_WATCHING);
	/* Ended at once with nothing: "very short", resumed after a backoff. */
	assert_int_equal(watch_end(CURLE_OK, 200, false, false, 5, 0), RF_O_DROPPED);
	/* A dropped connection resumes too. */
	assert_int_equal(watch_end(CURLE_RECV_ERROR, 200, false, false, 9000, 4), RF_O_DROPPED);
	assert_int_equal(watch_end(CURLE_COULDNT_CONNECT, 0, false, false, 10, 0), RF_O_DROPPED);
	assert_int_equal(rf_next(RF_WATCHING, RF_O_DROPPED).state, RF_WAIT_WATCH);
	/* 410, as HTTP or as an ERROR event (the cancel's code is no drop). */
	assert_int_equal(watch_end(CURLE_OK, 410, false, false, 10, 0), RF_O_GONE);
	assert_int_equal(watch_end(CURLE_ABORTED_BY_CALLBACK, 200, true, false, 10, 2), RF_O_GONE);
	/* What the stream reports relists, after a backoff. */
	assert_int_equal(watch_end(CURLE_ABORTED_BY_CALLBACK, 200, false, true, 10, 0), RF_O_FAILED);
	assert_int_equal(watch_end(CURLE_WRITE_ERROR, 200, false, true, 10, 0), RF_O_FAILED);
	assert_int_equal(watch_end(CURLE_OK, 500, false, false, 10, 0), RF_O_FAILED);
	assert_int_equal(watch_end(CURLE_OK, 403, false, false, 10, 0), RF_O_FAILED);
	assert_int_equal(rf_next(RF_WATCHING, RF_O_GONE).from, RF_FROM_RV);
	assert_int_equal(rf_next(RF_WATCHING, RF_O_FAILED).from, RF_FROM_RV);
	/* The relist at the old version is 410 too: a fresh one. */
	assert_int_equal(rf_next(RF_LISTING, RF_O_LIST_GONE).from, RF_FROM_NONE);
}

static void test_hung_bound(void **state)
{
	struct reflector_cfg cfg = { .watch_min_s = 300, .margin_s = 60 };

	(void)state;
	assert_int_equal(rf_watch_bound_ms(&cfg, 300), 360000);
	assert_int_equal(rf_watch_bound_ms(&cfg, 599), 659000);
	/* Cut by the bound after it answered 200: hung, resumed with a
	 * warning; a connect that timed out (no answer) is a drop. */
	assert_int_equal(watch_end(CURLE_OPERATION_TIMEDOUT, 200, false, false, 360000, 0), RF_O_HUNG);
	assert_int_equal(watch_end(CURLE_OPERATION_TIMEDOUT, 0, false, false, 10000, 0), RF_O_DROPPED);
	assert_int_equal(rf_next(RF_WATCHING, RF_O_HUNG).state, RF_WAIT_WATCH);
	assert_true(rf_next(RF_WATCHING, RF_O_HUNG).error);
}

/* The delays a run of outcomes gets from rf_next() and the backoff. */
static long long step_delay(struct backoff *bo, enum rf_state *s, enum rf_outcome o, long long now)
{
	struct rf_step st = rf_next(*s, o);

	*s = st.state;
	return st.backoff ? backoff_next(bo, now, 0.0) : 0;
}

static void test_backoff_growth_and_reset(void **state)
{
	struct backoff bo;
	enum rf_state s = RF_LISTING;
	long long now = 0;

	(void)state;
	backoff_init(&bo, 800, 30000, BACKOFF_RESET_MS);
	/* A failing list: 800 ms doubling to the 30 s cap. */
	for (long long want = 800; want <= 30000; want *= 2, now += 100) {
		assert_int_equal(step_delay(&bo, &s, RF_O_FAILED, now), want);
		assert_int_equal(s, RF_WAIT_LIST);
		assert_int_equal(step_delay(&bo, &s, RF_O_TIMER, now), 0);
		assert_int_equal(s, RF_LISTING);
	}
	assert_int_equal(step_delay(&bo, &s, RF_O_FAILED, now), 30000);
	/* Success goes on at once, and keeps no delay of its own. */
	s = RF_LISTING;
	assert_int_equal(step_delay(&bo, &s, RF_O_LISTED, now), 0);
	assert_int_equal(step_delay(&bo, &s, RF_O_ENDED, now), 0);
	assert_int_equal(s, RF_WATCHING);
	/* Failures soon after keep the cap; after 2 quiet minutes it starts
	 * over. */
	assert_int_equal(step_delay(&bo, &s, RF_O_DROPPED, now + 1000), 30000);
	s = RF_WATCHING;
	assert_int_equal(step_delay(&bo, &s, RF_O_DROPPED, now + 1000 + BACKOFF_RESET_MS + 1), 800);
	s = RF_WATCHING;
	assert_int_equal(step_delay(&bo, &s, RF_O_HUNG, now + 1000 + BACKOFF_RESET_MS + 2), 1600);
}

struct hook_run {
	int writes, hooks, dones;
	bool in_write, hook_in_write, cancel;
	size_t bytes;
	CURLcode rc;
	struct loop_xfer x;
};

static size_t hook_write(char *p, size_t size, size_t n, void *arg)
{
	struct hook_run *h = arg;

	(void)p;
	h->writes++;
	h->in_write = true;
	h->bytes += size * n;
	loop_xfer_wrote(&h->x);
	h->in_write = false;
	return size * n;
}

static void hook_data(struct loop *l, struct loop_xfer *x)
{
	struct hook_run *h = x->arg;

	(void)l;
	h->hooks++;
	h->hook_in_write |= h->in_write;
	assert_int_equal(h->dones, 0);
	if (h->cancel)
		loop_xfer_cancel(x);
}

static void hook_done(struct loop *l, struct loop_xfer *x, CURLcode rc)
{
	struct hook_run *h = x->arg;

	h->dones++;
	h->rc = rc;
	loop_stop(l);
}

static void hook_run(struct hook_run *h, bool cancel)
{
	char path[] = "/tmp/fs-rf-hook-XXXXXX", url[64];
	int fd = mkstemp(path);
	struct loop *l = loop_new();

	assert_true(fd >= 0 && l);
	assert_int_equal(write(fd, "a\nb\n", 4), 4);
	close(fd);
	snprintf(url, sizeof(url), "file://%s", path);
	*h = (struct hook_run){ .cancel = cancel };
	h->x = (struct loop_xfer){ .h = curl_easy_init(), .done = hook_done, .data = hook_data, .arg = h };
	curl_easy_setopt(h->x.h, CURLOPT_URL, url);
	curl_easy_setopt(h->x.h, CURLOPT_WRITEFUNCTION, hook_write);
	curl_easy_setopt(h->x.h, CURLOPT_WRITEDATA, h);
	assert_int_equal(loop_xfer_start(l, &h->x), 0);
	assert_int_equal(loop_run(l), 0);
	curl_easy_cleanup(h->x.h);
	loop_free(l);
	unlink(path);
}

/* The data hook runs on the loop after libcurl's callback returned and
 * before done; a cancel ends the transfer once, through the reap step. */
static void test_loop_data_hook(void **state)
{
	struct hook_run h;

	(void)state;
	hook_run(&h, false);
	assert_int_equal(h.bytes, 4);
	assert_true(h.writes >= 1);
	assert_true(h.hooks >= 1);
	assert_false(h.hook_in_write);
	assert_int_equal(h.dones, 1);
	assert_int_equal(h.rc, CURLE_OK);
	hook_run(&h, true);
	assert_int_equal(h.hooks, 1);
	assert_int_equal(h.dones, 1);
	assert_int_equal(h.rc, CURLE_ABORTED_BY_CALLBACK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_pair),
		cmocka_unit_test(test_list_outcomes),
		cmocka_unit_test(test_watch_relist_or_resume),
		cmocka_unit_test(test_hung_bound),
		cmocka_unit_test(test_backoff_growth_and_reset),
		cmocka_unit_test(test_loop_data_hook),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
