#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cni.h"
#include "config.h"
#include "util.h"

static const char *env_get(const char *name)
{
	const char *v = getenv(name);

	return v ? v : "";
}

/* CNI_ARGS is "K=V;K=V"; only K8S_POD_NAMESPACE, _NAME and _UID matter. A
 * value too long for its field is dropped, never cut. */
static void cni_args_parse(struct cni_env *env)
{
	const char *p = env->args;

	while (p && *p) {
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);

		if (eq) {
			size_t klen = (size_t)(eq - p), vlen = len - klen - 1;
			char *dst = NULL;
			size_t cap = 0;

			if (klen == 17 && !memcmp(p, "K8S_POD_NAMESPACE", 17))
				dst = env->k8s_namespace, cap = sizeof(env->k8s_namespace);
			else if (klen == 12 && !memcmp(p, "K8S_POD_NAME", 12))
				dst = env->k8s_pod, cap = sizeof(env->k8s_pod);
			else if (klen == 11 && !memcmp(p, "K8S_POD_UID", 11))
				dst = env->k8s_uid, cap = sizeof(env->k8s_uid);
			if (dst && vlen < cap) {
				memcpy(dst, eq + 1, vlen);
				dst[vlen] = '\0';
			}
		}
		p = end ? end + 1 : NULL;
	}
}

int cni_env_read(struct cni_env *env, unsigned need, struct fs_err *e)
{
	memset(env, 0, sizeof(*env));
	env->command = env_get("CNI_COMMAND");
	env->container_id = env_get("CNI_CONTAINERID");
	env->netns = env_get("CNI_NETNS");
	env->ifname = env_get("CNI_IFNAME");
	env->args = env_get("CNI_ARGS");
	env->path = env_get("CNI_PATH");
	cni_args_parse(env);

	if (need & CNI_NEED_CONTAINERID) {
		if (!*env->container_id)
			return err_set(e, CNI_ERR_INVALID_ENV, "CNI_CONTAINERID is not set");
		if (!containerid_valid(env->container_id))
			return err_set(e, CNI_ERR_INVALID_ENV,
				       "CNI_CONTAINERID \"%.80s\" is invalid (alphanumeric first, then [A-Za-z0-9_.-], at most 200 bytes)",
				       env->container_id);
	}
	if (need & CNI_NEED_IFNAME) {
		if (!*env->ifname)
			return err_set(e, CNI_ERR_INVALID_ENV, "CNI_IFNAME is not set");
		if (!ifname_valid(env->ifname))
			return err_set(e, CNI_ERR_INVALID_ENV,
				       "CNI_IFNAME \"%.40s\" is not a valid interface name (1-15 bytes, no '/', ':' or spaces)",
				       env->ifname);
	}
	if ((need & CNI_NEED_NETNS) && !*env->netns)
		return err_set(e, CNI_ERR_INVALID_ENV, "CNI_NETNS is not set");
	if (*env->netns && env->netns[0] != '/')
		return err_set(e, CNI_ERR_INVALID_ENV, "CNI_NETNS \"%.200s\" is not an absolute path",
			       env->netns);
	if ((need & CNI_NEED_PATH) && !*env->path)
		return err_set(e, CNI_ERR_INVALID_ENV, "CNI_PATH is not set");
	return 0;
}

/* fd to its end, NUL-terminated: 0, -EFBIG past CNI_STDIN_MAX bytes, or
 * -errno. */
static int stdin_slurp(int fd, char **out, size_t *outlen)
{
	size_t cap = 16384, len = 0;
	char *buf = malloc(cap + 1), *nb;
	ssize_t n;
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len == cap) {
			if (cap > CNI_STDIN_MAX) {
				ret = -EFBIG;
				break;
			}
			cap *= 2;
			if (!(nb = realloc(buf, cap + 1))) {
				ret = -ENOMEM;
				break;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR || !(ret = fd_wait(fd, POLLIN)))
				continue;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (!ret && len > CNI_STDIN_MAX)
		ret = -EFBIG;
	if (ret) {
		free(buf);
		return ret;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

int cni_stdin_read(int fd, char **out, size_t *outlen, struct fs_err *e)
{
	char *buf;
	size_t len;
	int ret = stdin_slurp(fd, &buf, &len);

	if (ret == -EFBIG)
		return err_set(e, CNI_ERR_DECODE, "network configuration on stdin exceeds %u bytes",
			       CNI_STDIN_MAX);
	if (ret)
		return err_set(e, CNI_ERR_IO, "reading stdin: %s",
			       ret == -ENOMEM ? "out of memory" : strerror(-ret));
	if (len == 0) {
		free(buf);
		return err_set(e, CNI_ERR_DECODE, "no network configuration on stdin (empty input)");
	}
	/* cJSON skips a NUL as whitespace and C strings end at one: a value
	 * like "/x\0/../y" would silently become "/x". JSON text has none. */
	if (memchr(buf, '\0', len)) {
		size_t at = strlen(buf);

		free(buf);
		return err_set(e, CNI_ERR_DECODE,
			       "network configuration is not valid JSON (NUL byte at byte %zu)", at);
	}
	*out = buf;
	*outlen = len;
	return 0;
}

int cni_json_print(FILE *out, const cJSON *obj)
{
	char *s = cJSON_PrintUnformatted(obj);

	int ret;

	if (!s)
		return -ENOMEM;
	/* Past stdio: its buffer would keep what failed for exit() to retry. */
	ret = fflush(out) == EOF ? -EIO : fd_write_all(fileno(out), s, strlen(s));
	if (!ret)
		ret = fd_write_all(fileno(out), "\n", 1);
	free(s);
	return ret;
}

void cni_error_print(FILE *out, const char *version, const struct fs_err *e)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return;
	cJSON_AddStringToObject(o, "cniVersion",
				version && cni_version_supported(version) ? version : "1.1.0");
	cJSON_AddNumberToObject(o, "code", e->code ? e->code : 999);
	cJSON_AddStringToObject(o, "msg", e->msg[0] ? e->msg : "unknown error");
	cni_json_print(out, o);
	cJSON_Delete(o);
}

cJSON *cni_version_reply(const char *cni_version)
{
	static const char *const versions[] = { CNI_SUPPORTED_VERSIONS };
	cJSON *o = cJSON_CreateObject(), *arr;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "cniVersion",
				cni_version && cni_version_supported(cni_version) ? cni_version : "1.1.0");
	arr = cJSON_AddArrayToObject(o, "supportedVersions");
	for (size_t i = 0; arr && i < ARRAY_SIZE(versions); i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(versions[i]));
	return o;
}
