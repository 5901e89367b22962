#include <stdio.h>
#include <string.h>

#include "config.h"
#include "prevres.h"
#include "util.h"

int prevres_host(const cJSON *prev, char host[16], struct fs_err *e)
{
	const cJSON *ifs = cJSON_GetObjectItemCaseSensitive(prev, "interfaces"), *it;
	int i = 0;

	host[0] = '\0';
	if (!ifs || cJSON_IsNull(ifs))
		return 0;
	if (!cJSON_IsArray(ifs))
		return err_set(e, CNI_ERR_INVALID_CONFIG, "prevResult.interfaces must be a list");
	cJSON_ArrayForEach(it, ifs) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
		const cJSON *sandbox = cJSON_GetObjectItemCaseSensitive(it, "sandbox");

		if (!cJSON_IsObject(it) || !cJSON_IsString(name))
			return err_set(e, CNI_ERR_INVALID_CONFIG,
				       "prevResult.interfaces[%d] has no string \"name\"", i);
		if (!ifname_valid(name->valuestring))
			return err_set(e, CNI_ERR_INVALID_CONFIG,
				       "prevResult.interfaces[%d].name \"%.40s\" is not a valid interface name",
				       i, name->valuestring);
		if (sandbox && !cJSON_IsString(sandbox) && !cJSON_IsNull(sandbox))
			return err_set(e, CNI_ERR_INVALID_CONFIG,
				       "prevResult.interfaces[%d].sandbox must be a string", i);
		/* Calico reports one host veth; the first wins. */
		if (!host[0] && !(cJSON_IsString(sandbox) && sandbox->valuestring[0]))
			strcpy(host, name->valuestring);
		i++;
	}
	return 0;
}

cJSON *prevres_convert(const cJSON *prev, const char *version, struct fs_err *e)
{
	cJSON *out = cJSON_Duplicate(prev, 1), *ips, *ip;
	bool v1 = cni_version_cmp(version, "1.0.0") >= 0;

	if (!out) {
		err_set(e, CNI_ERR_IO, "copying prevResult: out of memory");
		return NULL;
	}
	/* Every copy: cJSON keeps duplicate keys, and a stale one left in front
	 * of ours would be the version a reader taking the first one sees. */
	while (cJSON_GetObjectItemCaseSensitive(out, "cniVersion"))
		cJSON_DeleteItemFromObjectCaseSensitive(out, "cniVersion");
	/* cniVersion first, as every CNI plugin prints it. */
	cJSON_AddItemToObject(out, "cniVersion", cJSON_CreateString(version));
	cJSON_InsertItemInArray(out, 0, cJSON_DetachItemFromObjectCaseSensitive(out, "cniVersion"));
	ips = cJSON_GetObjectItemCaseSensitive(out, "ips");
	if (!cJSON_IsArray(ips))
		return out;
	cJSON_ArrayForEach(ip, ips) {
		const cJSON *addr = cJSON_GetObjectItemCaseSensitive(ip, "address");

		if (!cJSON_IsObject(ip))
			continue;
		if (v1) {
			cJSON_DeleteItemFromObjectCaseSensitive(ip, "version");
		} else if (!cJSON_GetObjectItemCaseSensitive(ip, "version") && cJSON_IsString(addr)) {
			cJSON_AddStringToObject(ip, "version",
						strchr(addr->valuestring, ':') ? "6" : "4");
		}
	}
	return out;
}
