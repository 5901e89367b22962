#include <errno.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "caps.h"

/* The names of the first n of keep that cur does not permit, into
 * missing (64 bytes), comma-separated. */
static void caps_missing(cap_t cur, const cap_value_t *keep, const char *const *names, unsigned n,
			 char *missing)
{
	for (unsigned i = 0; i < n; i++) {
		cap_flag_value_t v = CAP_CLEAR;

		cap_get_flag(cur, keep[i], CAP_PERMITTED, &v);
		if (v != CAP_SET) {
			if (missing[0])
				strcat(missing, ", ");
			strcat(missing, names[i]);
		}
	}
}

int caps_drop(bool need_priv, bool need_dac, struct fs_err *e)
{
	static const char *const keep_names[] = { "CAP_SYS_ADMIN", "CAP_NET_ADMIN" };
	cap_value_t keep[] = { CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_DAC_OVERRIDE };
	int nkeep = 2, ret = 0;
	cap_flag_value_t dac = CAP_CLEAR;
	char missing[64] = "";
	cap_t cur, next = NULL;

	cur = cap_get_proc();
	if (!cur)
		return err_set(e, FS_ERR_PRIVILEGE, "reading process capabilities: %s", strerror(errno));
	if (need_priv) {
		caps_missing(cur, keep, keep_names, 2, missing);
		cap_get_flag(cur, CAP_DAC_OVERRIDE, CAP_PERMITTED, &dac);
		if (need_dac && dac == CAP_SET)
			nkeep = 3;
		if (missing[0]) {
			ret = err_set(e, FS_ERR_PRIVILEGE,
				      "missing privileges: %s (flowsteer must run as root with these capabilities)",
				      missing);
			goto out;
		}
	}
	next = cap_init();
	if (!next) {
		ret = err_set(e, FS_ERR_PRIVILEGE, "cap_init: %s", strerror(errno));
		goto out;
	}
	if (need_priv &&
	    (cap_set_flag(next, CAP_PERMITTED, nkeep, keep, CAP_SET) ||
	     cap_set_flag(next, CAP_EFFECTIVE, nkeep, keep, CAP_SET))) {
		ret = err_set(e, FS_ERR_PRIVILEGE, "cap_set_flag: %s", strerror(errno));
		goto out;
	}
	if (cap_set_proc(next)) {
		ret = err_set(e, FS_ERR_PRIVILEGE, "dropping capabilities: %s", strerror(errno));
		goto out;
	}
	/* Nothing we run later may regain what was dropped. */
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
out:
	cap_free(next);
	cap_free(cur);
	return ret;
}
