/* The ADD result's "flowsteer" object (docs/cni.md, "The ADD result's
 * flowsteer object"). */
#ifndef FLOWSTEER_RESULT_H
#define FLOWSTEER_RESULT_H

#include <cjson/cJSON.h>

#include "model.h"

cJSON *result_json(const struct attachment *a);

#endif
