// SPDX-License-Identifier: Apache-2.0
/*
 * DPDK mempools of the "vhostuserclient" ports: mbufs laid out as OVS
 * dp_packets (source DPBUF_DPDK), so that DPDK ports transmit them without a
 * copy.  One pool per (NUMA socket, MTU), shared by every port that needs
 * it and reference counted.
 */

#ifndef VHOST_MEMPOOL_H
#define VHOST_MEMPOOL_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rte_mbuf;
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

/* Returns a new pool of 'n_bufs' large buffers on 'socket_id' (one port's:
 * never shared), or NULL if it cannot be created.  Released with
 * vhost_mempool_unref() like the others; vhost_mempool_mtu() is 0. */
struct vhost_mempool *vhost_mempool_get_large(int socket_id, uint32_t n_bufs);

/* Attaches a buffer of 'large' (a pool of vhost_mempool_get_large()) to the
 * fresh, direct mbuf 'm' as its external buffer: 'm' then holds a frame of
 * up to 64 kB after its usual headroom, and freeing 'm'
 * (rte_pktmbuf_free(), rte_pktmbuf_free_bulk(), dp_packet_delete()) or
 * rte_pktmbuf_detach() puts the buffer back.  Returns false if 'large' has
 * none left.  Thread-safe, no allocation. */
bool vhost_mempool_attach_large(struct rte_mempool *large, struct rte_mbuf *m);

/* Hugepage bytes one large buffer takes. */
size_t vhost_mempool_large_buf_size(void);

struct rte_mempool *vhost_mempool_pool(const struct vhost_mempool *vmp);
int vhost_mempool_socket_id(const struct vhost_mempool *vmp);
int vhost_mempool_mtu(const struct vhost_mempool *vmp);

#endif /* vhost-mempool.h */
