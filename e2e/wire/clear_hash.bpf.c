// SPDX-License-Identifier: GPL-2.0
/*
 * tc program for the e2e testbed's underlay "wire" (e2e/lib.sh,
 * tb_wire_emulate): forgets the packet's skb hash as it leaves a node.
 *
 * Why: both emulated nodes share one kernel, and a veth pair hands the skb,
 * metadata included, to the other node. TCP stamps every skb with its
 * socket's random sk_txhash, so the server node would see the client
 * socket's hash instead of one computed from the packet, and RFS's global
 * rps_sock_flow_table (one per kernel, not per node) would then steer the
 * client node's packets to the server's CPUs and back. Between real nodes
 * no metadata crosses the wire: the receiving NIC hashes the packet itself.
 * Clearing the hash here makes the receiver recompute it from the headers.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

static void (*bpf_set_hash_invalid)(struct __sk_buff *skb) = (void *)BPF_FUNC_set_hash_invalid;

__attribute__((section("tc"), used)) int wire_clear_hash(struct __sk_buff *skb)
{
	bpf_set_hash_invalid(skb);
	return TC_ACT_OK;
}

char _license[] __attribute__((section("license"), used)) = "GPL";
