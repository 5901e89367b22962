//go:build libcni_gc

package main

import (
	"context"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

const hasGC = true

// libcni >= 1.2: GC with cni.dev/valid-attachments, and STATUS.
func gcNetworkList(ctx context.Context, c *libcni.CNIConfig, list *libcni.NetworkConfigList, valid, ifname string) error {
	args := &libcni.GCArgs{}
	for _, v := range strings.Split(valid, ",") {
		if v == "" {
			continue
		}
		id, ifn, found := strings.Cut(v, "/")
		if !found {
			ifn = ifname
		}
		args.ValidAttachments = append(args.ValidAttachments, types.GCAttachment{ContainerID: id, IfName: ifn})
	}
	return c.GCNetworkList(ctx, list, args)
}

func statusNetworkList(ctx context.Context, c *libcni.CNIConfig, list *libcni.NetworkConfigList) error {
	return c.GetStatusNetworkList(ctx, list)
}
