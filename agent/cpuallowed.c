#include <stdio.h>
#include <string.h>

#include "alog.h"
#include "cpuallowed.h"
#include "cpuwatch.h"
#include "plan.h"
#include "sysfs.h"

void cpuallowed_init(struct cpuallowed *c)
{
	c->loop = NULL;
}

int cpuallowed_start(struct cpuallowed *c, const char *entry_json, const char *state_dir, const char *cpu_state,
		     struct loop *l)
{
	struct fs_err e = { 0 };
	bool off = !strcmp(cpu_state, "off");

	c->loop = l;
	/* With "off" the file is never read (respect_exclusive below). */
	if (cpuwatch_config(entry_json, state_dir, off ? "/var/lib/kubelet/cpu_manager_state" : cpu_state, &c->cfg,
			    &e)) {
		alog(ALOG_ERROR, "flowsteer_cpu_allowed: the configuration (--entry): %s", e.msg);
		return -1;
	}
	/* No kubelet state to read: nothing is promised to a container. */
	if (off)
		c->cfg.respect_exclusive = false;
	return 0;
}

void cpuallowed_stop(struct cpuallowed *c)
{
	if (!c->loop)
		return;
	config_free(&c->cfg);
	c->loop = NULL;
}

void cpuallowed_render(struct metrics_out *o, const struct cpumask *online, const struct cpumask *mask,
		       unsigned nbits)
{
	metrics_family(o, "flowsteer_cpu_allowed", "gauge",
		       "1 for each online CPU the node's masks may hold now (cpus less excludeCpus, isolated, "
		       "nohz_full and the kubelet's exclusive CPUs), 0 for the other online CPUs.");
	for (unsigned cpu = 0; cpu < nbits && cpu < CPUMASK_MAX_CPUS; cpu++) {
		char label[32];

		if (!cpumask_test(online, cpu))
			continue;
		snprintf(label, sizeof(label), "cpu=\"%u\"", cpu);
		metrics_sample_u64(o, "flowsteer_cpu_allowed", label, cpumask_test(mask, cpu));
	}
}

void cpuallowed_collect(struct metrics_out *o, void *arg)
{
	struct cpuallowed *c = arg;
	struct cpumask online, mask;
	struct cpus_excluded why;
	struct fs_warn w = { 0 };
	struct fs_err e = { 0 };
	unsigned nbits = 0;
	int r;

	/* The kubelet's file unreadable is a warning and an empty mask (the
	 * re-mask duty logs it): every CPU shows 0, as the plugin would steer. */
	r = sysfs_cpus_online(&online, &nbits);
	if (r)
		alog(ALOG_DEBUG, "flowsteer_cpu_allowed: reading the online CPUs: %s", strerror(-r));
	else if (plan_masks(&c->cfg, &mask, &why, &nbits, &w, &e))
		alog(ALOG_DEBUG, "flowsteer_cpu_allowed: %s", e.msg);
	else
		cpuallowed_render(o, &online, &mask, nbits);
	warn_free(&w);
}
