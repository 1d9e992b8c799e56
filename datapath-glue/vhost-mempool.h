// SPDX-License-Identifier: Apache-2.0
/*
 * DPDK mempools of the "vhostuserclient" ports: mbufs laid out as OVS
 * dp_packets (source DPBUF_DPDK), so that DPDK ports transmit them without a
 * copy.  One pool per (NUMA socket, MTU), shared by every port that needs
 * it and reference counted.
 */

#ifndef VHOST_MEMPOOL_H
#define VHOST_MEMPOOL_H 1

#include <stdint.h>

struct rte_mempool;

struct vhost_mempool;

/* Returns a reference to the pool for 'socket_id' (SOCKET_ID_ANY allowed)
 * and 'mtu', creating it if needed, or NULL if it cannot be created.  DPDK
 * must be initialised.  Thread-safe. */
struct vhost_mempool *vhost_mempool_get(int socket_id, int mtu);

/* Takes another reference to 'vmp'. */
void vhost_mempool_ref(struct vhost_mempool *vmp);

/* Drops a reference.  A pool that nobody references any more is freed once
 * all its mbufs are back (some may still sit in other ports' queues). */
void vhost_mempool_unref(struct vhost_mempool *vmp);

struct rte_mempool *vhost_mempool_pool(const struct vhost_mempool *vmp);
int vhost_mempool_socket_id(const struct vhost_mempool *vmp);
int vhost_mempool_mtu(const struct vhost_mempool *vmp);

#endif /* vhost-mempool.h */
