/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DPDK mempools of the "vhostuserclient" ports (see vhost-mempool.h), and
 * the choice of a port's pools.
 */

#include <config.h>

#include "vhost-mempool.h"

#include <errno.h>

#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "dp-packet.h"
#include "netdev.h"
#include "netdev-vhost-private.h"
#include "openvswitch/list.h"
#include "openvswitch/thread.h"
#include "openvswitch/util.h"
#include "openvswitch/vlog.h"
#include "util.h"

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

/* Large buffers (vhost_mempool_create_large()): as long as an mbuf's
 * (uint16_t) buf_len allows, with the shared info that
 * rte_pktmbuf_attach_extbuf() needs after it. */
#define VHOST_LARGE_BUF_LEN UINT16_MAX
#define VHOST_LARGE_SHINFO_OFS ROUND_UP(VHOST_LARGE_BUF_LEN, 8)
#define VHOST_LARGE_ELT_SIZE \
    (VHOST_LARGE_SHINFO_OFS + sizeof(struct rte_mbuf_ext_shared_info))

struct vhost_mempool {
    struct rte_mempool *mp;
    int socket_id;
    int mtu;                        /* 0: a port's own large buffers. */
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

/* Adds 'mp' to the pools, with one reference.  NULL if 'mp' is. */
static struct vhost_mempool *
vhost_mempool_add(struct rte_mempool *mp, int socket_id, int mtu)
    OVS_REQUIRES(vhost_mempool_mutex)
{
    struct vhost_mempool *vmp;

    if (!mp) {
        return NULL;
    }
    vmp = xmalloc(sizeof *vmp);
    vmp->mp = mp;
    vmp->socket_id = socket_id;
    vmp->mtu = mtu;
    vmp->refcount = 1;
    ovs_list_push_back(&vhost_mempools, &vmp->list_node);
    return vmp;
}

struct vhost_mempool *
vhost_mempool_get(int socket_id, int mtu)
{
    struct vhost_mempool *vmp;

    ovs_mutex_lock(&vhost_mempool_mutex);
    LIST_FOR_EACH (vmp, list_node, &vhost_mempools) {
        if (vmp->mtu && vmp->socket_id == socket_id && vmp->mtu == mtu) {
            vmp->refcount++;
            goto out;
        }
    }

    vhost_mempool_sweep();
    vmp = vhost_mempool_add(vhost_mempool_create(socket_id, mtu),
                            socket_id, mtu);
out:
    ovs_mutex_unlock(&vhost_mempool_mutex);
    return vmp;
}

static struct rte_mempool *
vhost_mempool_create_large(int socket_id, uint32_t n_bufs)
{
    static unsigned int serial;     /* Under vhost_mempool_mutex. */
    char name[RTE_MEMPOOL_NAMESIZE];
    struct rte_mempool *mp;

    snprintf(name, sizeof name, "nvh_s%d_large%u_n%"PRIu32,
             socket_id, serial++, n_bufs);
    mp = rte_mempool_create(name, n_bufs, VHOST_LARGE_ELT_SIZE, 0, 0,
                            NULL, NULL, NULL, NULL, socket_id, 0);
    if (!mp) {
        VLOG_ERR("cannot create mempool \"%s\" (%"PRIu32" buffers of %"
                 PRIuSIZE" bytes on socket %d): %s", name, n_bufs,
                 (size_t) VHOST_LARGE_ELT_SIZE, socket_id,
                 rte_strerror(rte_errno));
        return NULL;
    }
    VLOG_INFO("created mempool \"%s\": %"PRIu32" large buffers of %"
              PRIuSIZE" bytes on socket %d", name, n_bufs,
              (size_t) VHOST_LARGE_ELT_SIZE, socket_id);
    return mp;
}

struct vhost_mempool *
vhost_mempool_get_large(int socket_id, uint32_t n_bufs)
{
    struct vhost_mempool *vmp;

    ovs_mutex_lock(&vhost_mempool_mutex);
    vhost_mempool_sweep();
    vmp = vhost_mempool_add(vhost_mempool_create_large(socket_id, n_bufs),
                            socket_id, 0);
    ovs_mutex_unlock(&vhost_mempool_mutex);
    return vmp;
}

static void
vhost_mempool_large_free(void *addr, void *opaque)
{
    rte_mempool_put(opaque, addr);
}

bool
vhost_mempool_attach_large(struct rte_mempool *large, struct rte_mbuf *m)
{
    struct rte_mbuf_ext_shared_info *shinfo;
    void *buf;

    if (rte_mempool_get(large, &buf)) {
        return false;
    }
    shinfo = ALIGNED_CAST(struct rte_mbuf_ext_shared_info *,
                          (char *) buf + VHOST_LARGE_SHINFO_OFS);
    shinfo->free_cb = vhost_mempool_large_free;
    shinfo->fcb_opaque = large;
    rte_mbuf_ext_refcnt_set(shinfo, 1);
    rte_pktmbuf_attach_extbuf(m, buf, rte_mempool_virt2iova(buf),
                              VHOST_LARGE_BUF_LEN, shinfo);
    return true;
}

size_t
vhost_mempool_large_buf_size(void)
{
    return VHOST_LARGE_ELT_SIZE;
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

/* ---- The pools of one port ------------------------------------------ */

/* Records in 'dev->mempool_error' why the port has no buffers ('msg'), or
 * clears it ('msg' NULL), logging a new reason once. */
static void
netdev_vhost_set_mempool_error(struct netdev_vhost *dev, char *msg)
    OVS_REQUIRES(dev->mutex)
{
    if (msg && !nullable_string_is_equal(msg, dev->mempool_error)) {
        VLOG_WARN_RL(&dev->warn_rl, "%s: %s", netdev_get_name(&dev->up),
                     msg);
    }
    free(dev->mempool_error);
    dev->mempool_error = msg;
}

/* Makes 'dev->large_mp' a pool of large buffers on 'socket_id' for 'n_qp'
 * queue pairs.  Returns false, keeping none, if it cannot be created. */
static bool
netdev_vhost_update_large(struct netdev_vhost *dev, int socket_id, int n_qp)
    OVS_REQUIRES(dev->mutex)
{
    uint32_t n_bufs = n_qp * NETDEV_VHOST_LARGE_BUFS_PER_QUEUE;
    struct vhost_mempool *vmp;

    if (dev->large_mp && vhost_mempool_socket_id(dev->large_mp) == socket_id
        && vhost_mempool_pool(dev->large_mp)->size >= n_bufs) {
        return true;
    }
    vhost_mempool_unref(dev->large_mp);
    dev->large = NULL;
    vmp = dev->large_mp = vhost_mempool_get_large(socket_id, n_bufs);
    if (!vmp) {
        netdev_vhost_set_mempool_error(dev, xasprintf(
            "no mempool of %"PRIu32" buffers of 64 kB for userspace TSO on "
            "socket %d (%"PRIu32" MB of huge pages): not enough memory, "
            "see dpdk-socket-mem", n_bufs, socket_id,
            (uint32_t) ((n_bufs * vhost_mempool_large_buf_size()) >> 20)));
        return false;
    }
    dev->large = vhost_mempool_pool(vmp);
    return true;
}

bool
netdev_vhost_update_mempool(struct netdev_vhost *dev, int socket_id,
                            int n_qp)
    OVS_REQUIRES(dev->mutex)
{
    struct vhost_mempool *vmp;

    if (!dev->mp || vhost_mempool_socket_id(dev->mp) != socket_id
        || vhost_mempool_mtu(dev->mp) != dev->mtu) {
        vmp = vhost_mempool_get(socket_id, dev->mtu);
        if (!vmp) {
            vhost_mempool_unref(dev->mp);
            dev->mp = NULL;
            netdev_vhost_set_mempool_error(dev, xasprintf(
                "no mempool for MTU %d on socket %d: not enough memory, "
                "see dpdk-socket-mem", dev->mtu, socket_id));
            return false;
        }
        vhost_mempool_unref(dev->mp);
        dev->mp = vmp;
    }
    if (dev->offloads && !netdev_vhost_update_large(dev, socket_id, n_qp)) {
        return false;
    }
    netdev_vhost_set_mempool_error(dev, NULL);
    return true;
}
