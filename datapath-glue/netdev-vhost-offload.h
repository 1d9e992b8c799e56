// SPDX-License-Identifier: Apache-2.0
/*
 * Checksum and TCP segmentation offload of the "vhostuserclient" ports with
 * other_config:userspace-tso-enable=true: translation between the core's
 * virtio-net header fields (struct nvh_offload) and dp_packet offload flags,
 * with the results dpdkvhostuserclient gets from DPDK 22.11's vhost library
 * (legacy offload mode, as OVS 3.1 registers its vhost ports) and from
 * netdev_dpdk_prep_hwol_packet().
 */

#ifndef NETDEV_VHOST_OFFLOAD_H
#define NETDEV_VHOST_OFFLOAD_H 1

#include <stdbool.h>
#include <stdint.h>

#include "netdev-vhost/nvh.h"

/* Virtio feature bits that make DPDK's vhost library apply the transmit
 * header to a received packet ("host offloads": VIRTIO_NET_F_CSUM,
 * HOST_TSO4, HOST_TSO6, HOST_ECN, HOST_UFO). */
#define NETDEV_VHOST_HOST_OFFLOAD_FEATURES \
    ((UINT64_C(1) << 0) | (UINT64_C(1) << 11) | (UINT64_C(1) << 12) \
     | (UINT64_C(1) << 13) | (UINT64_C(1) << 14))

struct dp_packet;
struct netdev;

/* Sets the netdev's NETDEV_TX_OFFLOAD_* flags when userspace TSO is on. */
void netdev_vhost_offload_init(struct netdev *);

/* Guest -> OVS, for a packet whose guest negotiated a host offload
 * (VIRTIO_NET_F_CSUM or HOST_TSO4/6): sets L2/L3 lengths and
 * DP_PACKET_OL_TX_IPV4/IPV6, then the L4 checksum and TCP segmentation flags
 * that 'off' asks for.  A header that does not match the packet clears them
 * all, as DPDK does. */
void netdev_vhost_offload_rx(struct dp_packet *,
                             const struct nvh_offload *off);

/* OVS -> guest: fills 'off' from the packet's offload flags, computing the
 * IPv4 header checksum of a TSO packet, with segments sized for 'mtu'.
 * Returns false if the packet must be dropped (TSO without a TCP header, or
 * with headers that leave no segment payload within 'mtu'). */
bool netdev_vhost_offload_tx(struct dp_packet *, int mtu,
                             struct nvh_offload *off);

#endif /* netdev-vhost-offload.h */
