/* The credentials' own checks and their wiping: what kube.c (the in-cluster
 * ServiceAccount, the token file) and kubeconfig.c (libyaml) share. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kube.h"

void kube_wipe_free(void *p, size_t len)
{
	if (!p)
		return;
	explicit_bzero(p, len);
	free(p);
}

void kube_creds_free(struct kube_creds *c)
{
	kube_wipe_free(c->ca_data, c->ca_len);
	if (c->token)
		kube_wipe_free(c->token, strlen(c->token));
	kube_wipe_free(c->cert_data, c->cert_len);
	kube_wipe_free(c->key_data, c->key_len);
	memset(c, 0, sizeof(*c));
}

bool kube_token_valid(const char *token)
{
	if (!*token)
		return false;
	for (const char *p = token; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
			return false;
	return true;
}

static bool kube_label_valid(const char *s, size_t len)
{
	if (len == 0 || len > 63)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return s[0] != '-' && s[len - 1] != '-';
}

bool kube_name_valid(const char *s, bool subdomain)
{
	size_t len = strlen(s);
	const char *p = s;

	if (!subdomain)
		return kube_label_valid(s, len);
	if (len == 0 || len > 253)
		return false;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);

		if (!kube_label_valid(p, l))
			return false;
		if (!dot)
			return true;
		p = dot + 1;
	}
}
