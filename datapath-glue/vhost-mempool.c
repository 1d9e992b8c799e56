/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DPDK mempools of the "vhostuserclient" ports.  See vhost-mempool.h.
 */

#include <config.h>

#include "vhost-mempool.h"

#include <errno.h>

#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "dp-packet.h"
#include "netdev-vhost-private.h"
#include "openvswitch/list.h"
#include "openvswitch/thread.h"
#include "openvswitch/util.h"
#include "openvswitch/vlog.h"

/* Mbufs per pool.  Like netdev-dpdk's minimum: enough for the pre-allocated
 * receive bursts of many queues plus packets in flight in other ports'
 * queues.  If hugepage memory is short the count is halved, down to
 * VHOST_MEMPOOL_MIN_MBUFS. */
#define VHOST_MEMPOOL_MBUFS (4096 * 4)
#define VHOST_MEMPOOL_MIN_MBUFS 4096
#define VHOST_MEMPOOL_CACHE_SIZE RTE_MEMPOOL_CACHE_MAX_SIZE

/* Data room alignment, as netdev-dpdk's NETDEV_DPDK_MBUF_ALIGN. */
#define VHOST_MEMPOOL_BUF_ALIGN 1024

BUILD_ASSERT_DECL(VHOST_MEMPOOL_MIN_MBUFS % VHOST_MEMPOOL_CACHE_SIZE == 0);

struct vhost_mempool {
    struct rte_mempool *mp;
    int socket_id;
    int mtu;
    int refcount;                   /* Protected by 'vhost_mempool_mutex'. */
    struct ovs_list list_node;      /* In 'vhost_mempools'. */
};

static struct ovs_mutex vhost_mempool_mutex = OVS_MUTEX_INITIALIZER;
static struct ovs_list vhost_mempools OVS_GUARDED_BY(vhost_mempool_mutex)
    = OVS_LIST_INITIALIZER(&vhost_mempools);

/* Bytes of data room per mbuf for 'mtu': a frame with two VLAN headers,
 * rounded up, plus headroom.  2048 + headroom for MTU 1500. */
static uint32_t
vhost_mempool_data_room(int mtu)
{
    /* An mbuf's data room is a uint16_t; a multiple of the cache line
     * size keeps the private area aligned. */
    return MIN(ROUND_UP(NETDEV_VHOST_MTU_TO_MAX_FRAME_LEN(mtu),
                        VHOST_MEMPOOL_BUF_ALIGN) + RTE_PKTMBUF_HEADROOM,
               UINT16_MAX & ~(RTE_CACHE_LINE_SIZE - 1));
}

static void
vhost_mempool_init_packet(struct rte_mempool *mp OVS_UNUSED,
                          void *opaque OVS_UNUSED, void *obj,
                          unsigned int idx OVS_UNUSED)
{
    dp_packet_init_dpdk(obj);
}

/* Frees the pools that nobody references and whose mbufs are all back. */
static void
vhost_mempool_sweep(void)
    OVS_REQUIRES(vhost_mempool_mutex)
{
    struct vhost_mempool *vmp;

    LIST_FOR_EACH_SAFE (vmp, list_node, &vhost_mempools) {
        /* rte_mempool_full() counts the ring before the caches, so it gives
         * no false positive while no one allocates from the pool. */
        if (!vmp->refcount && rte_mempool_full(vmp->mp)) {
            VLOG_DBG("freeing mempool \"%s\"", vmp->mp->name);
            ovs_list_remove(&vmp->list_node);
            rte_mempool_free(vmp->mp);
            free(vmp);
        }
    }
}

static struct rte_mempool *
vhost_mempool_create(int socket_id, int mtu)
{
    uint32_t data_room = vhost_mempool_data_room(mtu);
    uint32_t n_mbufs = VHOST_MEMPOOL_MBUFS;
    char name[RTE_MEMPOOL_NAMESIZE];

    /* The private area holds the rest of the dp_packet.  Pad it so that each
     * element stays a multiple of the cache line size. */
    uint32_t pkt_size = sizeof(struct dp_packet) + data_room;
    uint32_t priv_size = sizeof(struct dp_packet) - sizeof(struct rte_mbuf)
                         + (ROUND_UP(pkt_size, RTE_CACHE_LINE_SIZE)
                            - pkt_size);

    for (;;) {
        struct rte_mempool *mp;

        snprintf(name, sizeof name, "nvh_s%d_m%d_n%"PRIu32,
                 socket_id, mtu, n_mbufs);
        mp = rte_pktmbuf_pool_create(name, n_mbufs, VHOST_MEMPOOL_CACHE_SIZE,
                                     priv_size, data_room, socket_id);
        if (mp) {
            rte_mempool_obj_iter(mp, vhost_mempool_init_packet, NULL);
            VLOG_INFO("created mempool \"%s\": %"PRIu32" mbufs with %"PRIu32
                      " bytes of data room on socket %d",
                      name, n_mbufs, data_room, socket_id);
            return mp;
        }
        if (rte_errno != ENOMEM || n_mbufs / 2 < VHOST_MEMPOOL_MIN_MBUFS) {
            VLOG_ERR("cannot create mempool \"%s\" (%"PRIu32" mbufs of %"
                     PRIu32" bytes on socket %d): %s",
                     name, n_mbufs, data_room, socket_id,
                     rte_strerror(rte_errno));
            return NULL;
        }
        n_mbufs /= 2;
        VLOG_WARN("not enough hugepage memory for a mempool on socket %d, "
                  "retrying with %"PRIu32" mbufs", socket_id, n_mbufs);
    }
}

struct vhost_mempool *
vhost_mempool_get(int socket_id, int mtu)
{
    struct vhost_mempool *vmp;

    ovs_mutex_lock(&vhost_mempool_mutex);
    LIST_FOR_EACH (vmp, list_node, &vhost_mempools) {
        if (vmp->socket_id == socket_id && vmp->mtu == mtu) {
            vmp->refcount++;
            goto out;
        }
    }

    vhost_mempool_sweep();

    struct rte_mempool *mp = vhost_mempool_create(socket_id, mtu);
    if (!mp) {
        vmp = NULL;
        goto out;
    }
    vmp = xmalloc(sizeof *vmp);
    vmp->mp = mp;
    vmp->socket_id = socket_id;
    vmp->mtu = mtu;
    vmp->refcount = 1;
    ovs_list_push_back(&vhost_mempools, &vmp->list_node);

out:
    ovs_mutex_unlock(&vhost_mempool_mutex);
    return vmp;
}

void
vhost_mempool_ref(struct vhost_mempool *vmp)
{
    ovs_mutex_lock(&vhost_mempool_mutex);
    ovs_assert(vmp->refcount > 0);
    vmp->refcount++;
    ovs_mutex_unlock(&vhost_mempool_mutex);
}

void
vhost_mempool_unref(struct vhost_mempool *vmp)
{
    if (!vmp) {
        return;
    }

    ovs_mutex_lock(&vhost_mempool_mutex);
    ovs_assert(vmp->refcount > 0);
    vmp->refcount--;
    vhost_mempool_sweep();
    ovs_mutex_unlock(&vhost_mempool_mutex);
}

struct rte_mempool *
vhost_mempool_pool(const struct vhost_mempool *vmp)
{
    return vmp->mp;
}

int
vhost_mempool_socket_id(const struct vhost_mempool *vmp)
{
    return vmp->socket_id;
}

int
vhost_mempool_mtu(const struct vhost_mempool *vmp)
{
    return vmp->mtu;
}
