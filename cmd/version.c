#include <stdio.h>

#include "cmd.h"
#include "cni.h"

int cli_version(int argc, char **argv)
{
	printf("flowsteer %s\nCNI protocol versions: 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0\n", FLOWSTEER_VERSION);
	return 0;
}
