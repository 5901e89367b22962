//go:build !libcni_gc

package main

import (
	"context"
	"errors"

	"github.com/containernetworking/cni/libcni"
)

// libcni before 1.2 (Debian 12 ships 1.1.2) has no GC or STATUS: the driver
// says so, and the e2e scripts skip those verbs. e2e/lib.sh builds with
// -tags libcni_gc when the installed libcni has GCNetworkList.
const hasGC = false

var errNoGC = errors.New("this libcni has no GC/STATUS (needs libcni >= 1.2)")

func gcNetworkList(ctx context.Context, c *libcni.CNIConfig, list *libcni.NetworkConfigList, valid, ifname string) error {
	return errNoGC
}

func statusNetworkList(ctx context.Context, c *libcni.CNIConfig, list *libcni.NetworkConfigList) error {
	return errNoGC
}
