#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "conflist.h"
#include "json.h"
#include "util.h"

struct span {
	size_t ws;      /* first byte after the '[' or ',' before the value */
	size_t start;   /* first byte of the value */
	size_t end;     /* one past its last byte */
};

/* Where the "plugins" array and each of its elements sit in the text. */
struct layout {
	size_t open;    /* offset of '[' */
	size_t close;   /* offset of ']' */
	int n;
	struct span *elem;
};

static void layout_free(struct layout *l)
{
	free(l->elem);
	l->elem = NULL;
	l->n = 0;
}

/* The same bytes cJSON skips between tokens. */
static size_t skip_ws(const char *buf, size_t len, size_t p)
{
	while (p < len && (unsigned char)buf[p] <= 32)
		p++;
	return p;
}

/* cJSON parses the value that starts at p; its end offset comes back. */
static int value_at(const char *buf, size_t len, size_t p, size_t *end, cJSON **item)
{
	const char *stop = NULL;
	cJSON *v;

	if (p >= len)
		return -EINVAL;
	v = cJSON_ParseWithLengthOpts(buf + p, len - p, &stop, 0);
	if (!v || !stop || stop <= buf + p || stop > buf + len) {
		cJSON_Delete(v);
		return -EINVAL;
	}
	*end = (size_t)(stop - buf);
	if (item)
		*item = v;
	else
		cJSON_Delete(v);
	return 0;
}

static int layout_array(const char *buf, size_t len, size_t p, struct layout *l)
{
	int cap = 0;

	l->open = p++;
	for (;;) {
		size_t ws = p, end;
		struct span *s;

		p = skip_ws(buf, len, p);
		if (p >= len)
			return -EINVAL;
		if (buf[p] == ']' && l->n == 0)
			break;
		if (l->n == cap) {
			struct span *ns = realloc(l->elem, sizeof(*ns) * (size_t)(cap ? cap * 2 : 8));

			if (!ns)
				return -ENOMEM;
			l->elem = ns;
			cap = cap ? cap * 2 : 8;
		}
		if (value_at(buf, len, p, &end, NULL))
			return -EINVAL;
		s = &l->elem[l->n++];
		s->ws = ws;
		s->start = p;
		s->end = end;
		p = skip_ws(buf, len, end);
		if (p < len && buf[p] == ',') {
			p++;
			continue;
		}
		if (p < len && buf[p] == ']')
			break;
		return -EINVAL;
	}
	l->close = p;
	return 0;
}

/* Finds the top-level "plugins" array of a document cJSON already accepted
 * as an object; 1 when there is none. A second "plugins" key is refused:
 * cJSON reads the first, Go's encoding/json (libcni) the last. */
/* One "key": value member of the top object at *p; the plugins array is
 * laid out in l (a second one is -EEXIST). *p ends past the value. */
static int layout_member(const char *buf, size_t len, size_t *p, struct layout *l, bool *found)
{
	cJSON *key = NULL;
	size_t end;
	bool is_plugins;
	int ret;

	if (value_at(buf, len, *p, &end, &key))
		return -EINVAL;
	if (!cJSON_IsString(key)) {
		cJSON_Delete(key);
		return -EINVAL;
	}
	is_plugins = !strcmp(key->valuestring, "plugins");
	cJSON_Delete(key);
	*p = skip_ws(buf, len, end);
	if (*p >= len || buf[*p] != ':')
		return -EINVAL;
	*p = skip_ws(buf, len, *p + 1);
	if (is_plugins) {
		if (*found)
			return -EEXIST;
		*found = true;
		if (*p >= len || buf[*p] != '[')
			return -EINVAL;
		if ((ret = layout_array(buf, len, *p, l)))
			return ret;
		end = l->close + 1;
	} else if (value_at(buf, len, *p, &end, NULL)) {
		return -EINVAL;
	}
	*p = skip_ws(buf, len, end);
	return 0;
}

static int layout_scan(const char *buf, size_t len, struct layout *l)
{
	bool found = false;
	size_t p = 0;
	int ret;

	memset(l, 0, sizeof(*l));
	if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3))
		p = 3;
	p = skip_ws(buf, len, p);
	if (p >= len || buf[p] != '{')
		return -EINVAL;
	p = skip_ws(buf, len, p + 1);
	if (p < len && buf[p] == '}')
		return 1;
	for (;;) {
		if ((ret = layout_member(buf, len, &p, l, &found)))
			return ret;
		if (p < len && buf[p] == ',') {
			p = skip_ws(buf, len, p + 1);
			continue;
		}
		if (p < len && buf[p] == '}')
			break;
		return -EINVAL;
	}
	return found ? 0 : 1;
}

/* One whole JSON object, nothing after it (as libcni's json.Unmarshal),
 * and no escaped NUL that a C string would cut. */
static cJSON *doc_parse(const char *buf, size_t len, struct fs_err *e)
{
	cJSON *root;

	if (len == 0) {
		err_set(e, CNI_ERR_DECODE, "the file is empty");
		return NULL;
	}
	/* JSON text never holds a NUL byte (libcni refuses it too); cJSON
	 * would take it for white space or cut a string at it. */
	if (memchr(buf, '\0', len)) {
		err_set(e, CNI_ERR_DECODE, "not valid JSON (NUL byte at byte %zu of %zu)",
			(size_t)((const char *)memchr(buf, '\0', len) - buf), len);
		return NULL;
	}
	root = json_parse_strict(buf, len, "the text", CNI_ERR_INVALID_CONFIG, e);
	if (root && !cJSON_IsObject(root)) {
		err_set(e, CNI_ERR_DECODE, "not a JSON object");
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

static bool plugin_is(const cJSON *plugin, const char *type)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(plugin, "type");

	return cJSON_IsString(t) && !strcmp(t->valuestring, type);
}

/* The parsed document and the text layout, which must agree element for
 * element (they come from the same bytes). */
static int doc_load(const char *buf, size_t len, cJSON **root, const cJSON **plugins,
		    struct layout *l, struct fs_err *e)
{
	const cJSON *p;
	int ret, i = 0;

	memset(l, 0, sizeof(*l));
	*plugins = NULL;
	*root = doc_parse(buf, len, e);
	if (!*root)
		return -1;
	*plugins = cJSON_GetObjectItemCaseSensitive(*root, "plugins");
	ret = layout_scan(buf, len, l);
	if (ret == -EEXIST)
		return err_set(e, CNI_ERR_DECODE, "key \"plugins\" appears twice");
	if (ret == -ENOMEM)
		return err_set(e, CNI_ERR_IO, "out of memory");
	if (ret == 1 && !*plugins)
		return 1;
	if (ret || !cJSON_IsArray(*plugins))
		return err_set(e, CNI_ERR_INVALID_CONFIG, "key \"plugins\" must be a list");
	if (cJSON_GetArraySize(*plugins) != l->n)
		return err_set(e, CNI_ERR_DECODE, "cannot locate the %d plugins in the text",
			       cJSON_GetArraySize(*plugins));
	cJSON_ArrayForEach(p, *plugins) {
		if (!cJSON_IsObject(p))
			return err_set(e, CNI_ERR_INVALID_CONFIG, "plugins[%d] is not a JSON object", i);
		i++;
	}
	return 0;
}

/* buf with [from, to) replaced by the il bytes at ins. */
static char *text_splice_n(const char *buf, size_t len, size_t from, size_t to, const char *ins,
			   size_t il, size_t *outlen)
{
	size_t n = len - (to - from) + il;
	char *out = malloc(n + 1);

	if (!out)
		return NULL;
	memcpy(out, buf, from);
	if (il)
		memcpy(out + from, ins, il);
	memcpy(out + from + il, buf + to, len - to);
	out[n] = '\0';
	*outlen = n;
	return out;
}

static char *text_splice(const char *buf, size_t len, size_t from, size_t to, const char *ins,
			 size_t *outlen)
{
	return text_splice_n(buf, len, from, to, ins, ins ? strlen(ins) : 0, outlen);
}

/* Cuts element i with the separator that ties it to its neighbours, so that
 * an insert followed by a remove gives back the same bytes. */
static char *remove_elem(const char *buf, size_t len, const struct layout *l, int i, size_t *outlen)
{
	if (l->n == 1)
		return text_splice(buf, len, l->open + 1, l->elem[0].end, NULL, outlen);
	if (i == 0)
		return text_splice(buf, len, l->elem[0].start, l->elem[1].start, NULL, outlen);
	return text_splice(buf, len, l->elem[i - 1].end, l->elem[i].end, NULL, outlen);
}

/* Adds text after element i (-1: into an empty list), indented like it. */
static char *insert_after(const char *buf, size_t len, const struct layout *l, int i,
			  const char *text, size_t *outlen)
{
	const struct span *s;
	size_t wslen, tlen;
	char *ins, *out;

	if (i < 0)
		return text_splice(buf, len, l->open + 1, l->open + 1, text, outlen);
	s = &l->elem[i];
	wslen = s->start - s->ws;
	tlen = strlen(text);
	ins = malloc(1 + wslen + tlen);
	if (!ins)
		return NULL;
	ins[0] = ',';
	memcpy(ins + 1, buf + s->ws, wslen);
	memcpy(ins + 1 + wslen, text, tlen);
	out = text_splice_n(buf, len, s->end, s->end, ins, 1 + wslen + tlen, outlen);
	free(ins);
	return out;
}

/* flowsteer gets the list's cniVersion and name from libcni: the entry must
 * pass flowsteer's own config check with them, else every pod would fail
 * ADD with code 1 or 7 once it is chained. */
static int entry_check(const cJSON *entry, const char *cni_version, const char *name, struct fs_err *e)
{
	struct fs_config c;
	struct fs_err ce = { 0 };
	cJSON *conf = cJSON_Duplicate(entry, 1);
	char *text = NULL;
	int ret = -1;

	if (!conf)
		return err_set(e, CNI_ERR_IO, "out of memory");
	cJSON_DeleteItemFromObjectCaseSensitive(conf, "cniVersion");
	cJSON_DeleteItemFromObjectCaseSensitive(conf, "name");
	if (cni_version)
		cJSON_AddStringToObject(conf, "cniVersion", cni_version);
	cJSON_AddStringToObject(conf, "name", name ? name : "");
	text = cJSON_PrintUnformatted(conf);
	if (!text) {
		err_set(e, CNI_ERR_IO, "out of memory");
		goto out;
	}
	if (config_parse(text, strlen(text), &c, &ce) == 0)
		ret = 0;
	else
		err_set(e, ce.code, "flowsteer would reject its entry here: %s", ce.msg);
	config_free(&c);
out:
	free(text);
	cJSON_Delete(conf);
	return ret;
}

static const char *string_of(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int conflist_entry_parse(const char *json, cJSON **out, struct fs_err *e)
{
	const char *src = json ? json : CONFLIST_DEFAULT_ENTRY;
	struct fs_err pe = { 0 };
	cJSON *entry;

	*out = NULL;
	entry = doc_parse(src, strlen(src), &pe);
	if (!entry)
		return err_set(e, CNI_ERR_INVALID_CONFIG, "entry %.200s: %s", src, pe.msg);
	if (!plugin_is(entry, "flowsteer")) {
		cJSON_Delete(entry);
		return err_set(e, CNI_ERR_INVALID_CONFIG,
			       "entry %.200s: must have \"type\": \"flowsteer\"", src);
	}
	if (entry_check(entry, "1.0.0", "entry", &pe)) {
		cJSON_Delete(entry);
		return err_set(e, pe.code, "entry %.200s: %s", src, pe.msg);
	}
	*out = entry;
	return 0;
}

/* A single-plugin .conf as libcni's ConfListFromConf sees it: cniVersion and
 * name belong to the list, the rest is the one plugin, flowsteer after it. */
static int conf_convert(const cJSON *conf, const cJSON *entry, char **out, size_t *outlen,
			struct fs_err *e)
{
	cJSON *list = cJSON_CreateObject(), *plugins = NULL, *plugin = NULL;
	const cJSON *v;
	int ret = -1;

	if (!list)
		return err_set(e, CNI_ERR_IO, "out of memory");
	v = cJSON_GetObjectItemCaseSensitive(conf, "cniVersion");
	if (v)
		cJSON_AddItemToObject(list, "cniVersion", cJSON_Duplicate(v, 1));
	v = cJSON_GetObjectItemCaseSensitive(conf, "name");
	if (v)
		cJSON_AddItemToObject(list, "name", cJSON_Duplicate(v, 1));
	plugins = cJSON_AddArrayToObject(list, "plugins");
	plugin = cJSON_Duplicate(conf, 1);
	if (!plugins || !plugin) {
		cJSON_Delete(plugin);
		err_set(e, CNI_ERR_IO, "out of memory");
		goto out;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(plugin, "cniVersion");
	cJSON_DeleteItemFromObjectCaseSensitive(plugin, "name");
	cJSON_AddItemToArray(plugins, plugin);
	cJSON_AddItemToArray(plugins, cJSON_Duplicate(entry, 1));
	*out = cJSON_Print(list);
	if (!*out) {
		err_set(e, CNI_ERR_IO, "out of memory");
		goto out;
	}
	/* cJSON_Print leaves the last line open; files end with a newline. */
	*outlen = strlen(*out);
	{
		char *nl = realloc(*out, *outlen + 2);

		if (!nl) {
			free(*out);
			*out = NULL;
			err_set(e, CNI_ERR_IO, "out of memory");
			goto out;
		}
		nl[(*outlen)++] = '\n';
		nl[*outlen] = '\0';
		*out = nl;
	}
	ret = 0;
out:
	cJSON_Delete(list);
	return ret;
}

/* One edit step on cur: 0 with *next (more may follow), 1 when cur is done. */
static int insert_step(const char *cur, size_t len, const cJSON *entry, const char *entry_text,
		       char **next, size_t *nextlen, bool *last, struct fs_err *e)
{
	struct layout l;
	cJSON *root = NULL;
	const cJSON *plugins, *p;
	int calico = -1, first_fs = -1, last_fs = -1, n_fs = 0, i = 0, ret;

	*next = NULL;
	*last = false;
	ret = doc_load(cur, len, &root, &plugins, &l, e);
	if (ret)
		goto out;
	cJSON_ArrayForEach(p, plugins) {
		if (calico < 0 && plugin_is(p, "calico"))
			calico = i;
		if (plugin_is(p, "flowsteer")) {
			if (first_fs < 0)
				first_fs = i;
			last_fs = i;
			n_fs++;
		}
		i++;
	}
	if (n_fs > 1 || (n_fs == 1 && calico >= 0 && first_fs < calico)) {
		/* Duplicates go; an entry before calico would get no prevResult. */
		*next = remove_elem(cur, len, &l, last_fs, nextlen);
	} else if (n_fs == 1) {
		*last = true;
		if (cJSON_Compare(cJSON_GetArrayItem(plugins, first_fs), entry, 1)) {
			ret = 1;
			goto out;
		}
		*next = text_splice(cur, len, l.elem[first_fs].start, l.elem[first_fs].end, entry_text, nextlen);
	} else {
		*last = true;
		*next = insert_after(cur, len, &l, calico >= 0 ? calico : l.n - 1, entry_text, nextlen);
	}
	if (!*next)
		ret = err_set(e, CNI_ERR_IO, "out of memory");
out:
	layout_free(&l);
	cJSON_Delete(root);
	return ret;
}

/* An edit ends with the new text, or CONFLIST_UNCHANGED when no step
 * changed anything. Takes cur. */
static int edit_done(char *cur, size_t curlen, int steps, char **out, size_t *outlen)
{
	if (!steps) {
		free(cur);
		return CONFLIST_UNCHANGED;
	}
	*out = cur;
	*outlen = curlen;
	return 0;
}

/* A .conf: one plugin, no list; it becomes a list with the entry after it. */
static int insert_conf(const cJSON *root, const cJSON *entry, char **out, size_t *outlen,
		       bool *converted, struct fs_err *e)
{
	if (!string_of(root, "type"))
		return err_set(e, CNI_ERR_INVALID_CONFIG,
			       "neither a plugin list (no \"plugins\") nor a plugin (no \"type\")");
	if (plugin_is(root, "flowsteer"))
		return err_set(e, CNI_ERR_INVALID_CONFIG,
			       "a flowsteer-only config: flowsteer chains after another plugin");
	if (entry_check(entry, string_of(root, "cniVersion"), string_of(root, "name"), e) ||
	    conf_convert(root, entry, out, outlen, e))
		return -1;
	if (converted)
		*converted = true;
	return 0;
}

/* A list: one step at a time (drop a duplicate, move an entry before
 * calico, replace or insert ours) until nothing is left to do. */
static int insert_list(const char *buf, size_t len, const cJSON *entry, char **out, size_t *outlen,
		       struct fs_err *e)
{
	char *text = cJSON_PrintUnformatted(entry), *cur = malloc(len + 1), *next;
	size_t curlen = len, nextlen;
	int ret = 0, steps = 0;
	bool last = false;

	if (!text || !cur) {
		ret = err_set(e, CNI_ERR_IO, "out of memory");
		goto out;
	}
	memcpy(cur, buf, len);
	cur[len] = '\0';
	while (!last) {
		next = NULL;
		nextlen = 0;
		ret = insert_step(cur, curlen, entry, text, &next, &nextlen, &last, e);
		if (ret)
			break;
		free(cur);
		cur = next;
		curlen = nextlen;
		steps++;
	}
	if (ret >= 0) {
		ret = edit_done(cur, curlen, steps, out, outlen);
		cur = NULL;
	}
out:
	free(cur);
	free(text);
	return ret;
}

int conflist_insert(const char *buf, size_t len, const cJSON *entry, char **out, size_t *outlen,
		    bool *converted, struct fs_err *e)
{
	cJSON *root = NULL, *def = NULL;
	const cJSON *plugins;
	struct layout l;
	int ret;

	*out = NULL;
	*outlen = 0;
	if (converted)
		*converted = false;
	if (!entry) {
		if (conflist_entry_parse(NULL, &def, e))
			return -1;
		entry = def;
	}
	ret = doc_load(buf, len, &root, &plugins, &l, e);
	layout_free(&l);
	if (ret == 1)
		ret = insert_conf(root, entry, out, outlen, converted, e);
	else if (ret == 0 && !(ret = entry_check(entry, string_of(root, "cniVersion"), string_of(root, "name"), e)))
		ret = insert_list(buf, len, entry, out, outlen, e);
	cJSON_Delete(root);
	cJSON_Delete(def);
	return ret;
}

int conflist_remove(const char *buf, size_t len, char **out, size_t *outlen, struct fs_err *e)
{
	char *cur = NULL;
	size_t curlen = len;
	int ret, steps = 0;

	*out = NULL;
	*outlen = 0;
	for (;;) {
		const cJSON *plugins, *p;
		cJSON *root = NULL;
		struct layout l;
		char *next;
		int i = 0, last_fs = -1;

		ret = doc_load(cur ? cur : buf, curlen, &root, &plugins, &l, e);
		if (ret == 1) {
			if (plugin_is(root, "flowsteer"))
				ret = err_set(e, CNI_ERR_INVALID_CONFIG,
					      "a flowsteer-only config: remove the file instead");
			else
				ret = CONFLIST_UNCHANGED;
		}
		if (ret) {
			layout_free(&l);
			cJSON_Delete(root);
			goto out;
		}
		cJSON_ArrayForEach(p, plugins) {
			if (plugin_is(p, "flowsteer"))
				last_fs = i;
			i++;
		}
		next = last_fs < 0 ? NULL : remove_elem(cur ? cur : buf, curlen, &l, last_fs, &curlen);
		layout_free(&l);
		cJSON_Delete(root);
		if (last_fs < 0)
			break;
		if (!next) {
			ret = err_set(e, CNI_ERR_IO, "out of memory");
			goto out;
		}
		free(cur);
		cur = next;
		steps++;
	}
	return edit_done(cur, curlen, steps, out, outlen);
out:
	free(cur);
	return ret;
}
