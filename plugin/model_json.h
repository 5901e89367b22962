/* The one serializer of the data model (model.h): records, node.json and
 * the `flowsteer status` view as JSON (model_json.c), and records and
 * node.json back, strictly (model_parse.c; code 5 naming the key). */
#ifndef FLOWSTEER_MODEL_JSON_H
#define FLOWSTEER_MODEL_JSON_H

#include <cjson/cJSON.h>

#include "err.h"
#include "model.h"

#define STATE_VERSION 1

/* A record (docs/state.md), and back. */
cJSON *model_json_attachment(const struct attachment *a);
int model_json_attachment_parse(const cJSON *j, const char *where, struct attachment *a, struct fs_err *e);
/* node.json, and back. */
cJSON *model_json_node(const struct node_state *n);
int model_json_node_parse(const cJSON *j, const char *where, struct node_state *n, struct fs_err *e);

/* The `flowsteer status` view of what was recorded (the caller adds what
 * it read live): an attachment with its status line, one of its devices,
 * and a node device with its originals (masks as hex, nbits wide). */
cJSON *model_json_attachment_view(const struct attachment *a);
cJSON *model_json_dev_view(const struct dev *d, unsigned nbits);
cJSON *model_json_node_dev_view(const struct dev *nd, unsigned nbits);

/* Pieces the ADD result (result.c) shares: a device's outcome (queuesSet,
 * queuesTotal, errno) added to o, returning o; the warnings; a count, or
 * null when it is negative (unknown). */
cJSON *model_json_dev_outcome(cJSON *o, const struct dev *d);
cJSON *model_json_warnings(const struct fs_warn *w);
cJSON *model_json_num(long long v);

#endif
