/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Data path of the "vhostuserclient" ports, run by PMD threads: receive
 * (guest -> OVS) into pre-allocated mbufs of the port's mempool, and
 * transmit (OVS -> guest).  No allocation, logging or lock per packet.
 */

#include <config.h>

#include <errno.h>
#include <string.h>

#include <rte_mbuf.h>
#include <rte_spinlock.h>

#include "coverage.h"
#include "dp-packet.h"
#include "netdev-provider.h"
#include "netdev-vhost-offload.h"
#include "netdev-vhost-private.h"
#include "netdev-vhost-qos.h"
#include "util.h"
#include "vhost-mempool.h"

COVERAGE_DEFINE(vhost_client_rx_mbuf_alloc_failed);
COVERAGE_DEFINE(vhost_client_rx_large_buf_exhausted);
COVERAGE_DEFINE(vhost_client_tx_contention);

/* Bursts map one to one: a batch fits one core call and vice versa. */
BUILD_ASSERT_DECL(NVH_MAX_BURST == NETDEV_MAX_BURST);

/* One receive queue: the guest's transmitq of queue pair 'up.queue_id'.
 * 'mbufs' always holds NVH_MAX_BURST empty mbufs (fewer only after an
 * allocation failure), which 'pkts' describes to the core. */
struct netdev_rxq_vhost {
    struct netdev_rxq up;
    struct vhost_mempool *vmp;      /* Reference, or NULL: nothing to poll. */
    struct rte_mempool *pool;
    uint32_t n_mbufs;
    struct rte_mbuf *mbufs[NVH_MAX_BURST];
    struct nvh_packet pkts[NVH_MAX_BURST];
};

static struct netdev_rxq_vhost *
netdev_rxq_vhost_cast(const struct netdev_rxq *rxq)
{
    return CONTAINER_OF(rxq, struct netdev_rxq_vhost, up);
}

/* ---- Receive: guest -> OVS ------------------------------------------- */

struct netdev_rxq *
netdev_vhost_rxq_alloc(void)
{
    struct netdev_rxq_vhost *rx = xzalloc(sizeof *rx);

    return &rx->up;
}

/* Takes 'n' mbufs from the pool into 'rx->mbufs[start..]' and makes each a
 * fresh Ethernet dp_packet: the mbuf fields as rte_pktmbuf_alloc_bulk()
 * resets them, and the dp_packet fields as dp_packet_reset_offsets() and
 * dp_packet_batch_init_packet_fields() set them, so that a received packet
 * needs only its length.  Also describes each buffer to the core in
 * 'rx->pkts'.  Returns false, taking nothing, if the pool has too few. */
static bool
netdev_vhost_rxq_fill(struct netdev_rxq_vhost *rx, uint32_t start, uint32_t n)
{
    if (rte_mempool_get_bulk(rx->pool, (void **) &rx->mbufs[start], n)) {
        return false;
    }
    for (uint32_t i = start; i < start + n; i++) {
        struct rte_mbuf *m = rx->mbufs[i];
        struct dp_packet *packet = (struct dp_packet *) m;

        rte_pktmbuf_reset(m);
        dp_packet_reset_offsets(packet);
        dp_packet_reset_cutlen(packet);
        packet->packet_type = htonl(PT_ETH);
        rx->pkts[i].data = rte_pktmbuf_mtod(m, uint8_t *);
        rx->pkts[i].capacity = rte_pktmbuf_tailroom(m);
        rx->pkts[i].opaque = m;
    }
    return true;
}

/* nvh_large_buffer_fn of ports with offloads ('aux' is the port): attaches
 * a large buffer to the fresh mbuf of 'pkt' as its external buffer, as
 * DPDK's vhost library does with RTE_VHOST_USER_EXTBUF_SUPPORT, so that
 * OVS sees one ordinary single-segment mbuf.  Runs on the PMD thread that
 * polls queue pair 'qp'. */
bool
netdev_vhost_large_buffer(void *aux, uint32_t qp,
                          struct nvh_packet *pkt, uint32_t len OVS_UNUSED)
{
    struct netdev_vhost *dev = aux;
    struct rte_mbuf *m = pkt->opaque;

    if (OVS_UNLIKELY(!dev->large || RTE_MBUF_HAS_EXTBUF(m)
                     || !vhost_mempool_attach_large(dev->large, m))) {
        /* The core drops the frame and counts it (oversized_frames). */
        COVERAGE_INC(vhost_client_rx_large_buf_exhausted);
        return false;
    }
    pkt->data = rte_pktmbuf_mtod(m, uint8_t *);
    pkt->capacity = rte_pktmbuf_tailroom(m);
    dev->large_lent[qp] = true;
    return true;
}

/* Puts back the large buffers that the core attached to mbufs
 * 'rx->mbufs[start..]' for frames it then dropped (nvh.h), so that an idle
 * queue holds none. */
static void
netdev_vhost_rxq_put_large(struct netdev_rxq_vhost *rx, uint32_t start)
{
    for (uint32_t i = start; i < rx->n_mbufs; i++) {
        struct rte_mbuf *m = rx->mbufs[i];

        if (OVS_UNLIKELY(RTE_MBUF_HAS_EXTBUF(m))) {
            rte_pktmbuf_detach(m);
            rx->pkts[i].data = rte_pktmbuf_mtod(m, uint8_t *);
            rx->pkts[i].capacity = rte_pktmbuf_tailroom(m);
        }
    }
}

/* Fills the empty tail of 'rx->mbufs'.  Called only after a failed refill
 * (and at construction), never on an idle queue. */
static void
netdev_vhost_rxq_top_up(struct netdev_rxq_vhost *rx)
{
    uint32_t n = NVH_MAX_BURST - rx->n_mbufs;

    if (netdev_vhost_rxq_fill(rx, rx->n_mbufs, n)) {
        rx->n_mbufs = NVH_MAX_BURST;
    } else {
        COVERAGE_INC(vhost_client_rx_mbuf_alloc_failed);
    }
}

int
netdev_vhost_rxq_construct(struct netdev_rxq *rxq)
{
    struct netdev_rxq_vhost *rx = netdev_rxq_vhost_cast(rxq);
    struct netdev_vhost *dev = netdev_vhost_cast(rxq->netdev);

    ovs_mutex_lock(&dev->mutex);
    if (dev->mp) {
        vhost_mempool_ref(dev->mp);
        rx->vmp = dev->mp;
        rx->pool = vhost_mempool_pool(dev->mp);
        rx->n_mbufs = 0;
        netdev_vhost_rxq_top_up(rx);
    }
    ovs_mutex_unlock(&dev->mutex);

    return 0;
}

void
netdev_vhost_rxq_destruct(struct netdev_rxq *rxq)
{
    struct netdev_rxq_vhost *rx = netdev_rxq_vhost_cast(rxq);

    if (rx->n_mbufs) {
        rte_pktmbuf_free_bulk(rx->mbufs, rx->n_mbufs);
        rx->n_mbufs = 0;
    }
    vhost_mempool_unref(rx->vmp);
    rx->vmp = NULL;
    rx->pool = NULL;
}

void
netdev_vhost_rxq_dealloc(struct netdev_rxq *rxq)
{
    free(netdev_rxq_vhost_cast(rxq));
}

bool
netdev_vhost_rxq_enabled(struct netdev_rxq *rxq)
{
    struct netdev_vhost *dev = netdev_vhost_cast(rxq->netdev);
    bool enabled;

    atomic_read_relaxed(&dev->rxq_enabled[rxq->queue_id], &enabled);
    return enabled;
}

int
netdev_vhost_rxq_recv(struct netdev_rxq *rxq, struct dp_packet_batch *batch,
                      int *qfill)
{
    struct netdev_rxq_vhost *rx = netdev_rxq_vhost_cast(rxq);
    struct netdev_vhost *dev = netdev_vhost_cast(rxq->netdev);
    uint32_t n, kept;
    bool up;

    if (qfill) {
        *qfill = 0;
    }

    bool held;

    atomic_read_relaxed(&dev->admin_up, &up);
    atomic_read_relaxed(&dev->rx_hold, &held);
    if (OVS_UNLIKELY(!rx->pool || !dev->core || !up || held)) {
        return EAGAIN;
    }
    if (OVS_UNLIKELY(rx->n_mbufs < NVH_MAX_BURST)) {
        netdev_vhost_rxq_top_up(rx);
        if (!rx->n_mbufs) {
            return EAGAIN;
        }
    }

    n = nvh_dequeue_burst(dev->core, rxq->queue_id, rx->pkts, rx->n_mbufs);
    if (OVS_UNLIKELY(dev->large_lent[rxq->queue_id])) {
        dev->large_lent[rxq->queue_id] = false;
        netdev_vhost_rxq_put_large(rx, n);
    }
    if (!n) {
        return EAGAIN;
    }

    /* The other fields were set when the mbufs were taken
     * (netdev_vhost_rxq_fill()). */
    for (uint32_t i = 0; i < n; i++) {
        struct dp_packet *packet = (struct dp_packet *) rx->mbufs[i];

        dp_packet_set_size(packet, rx->pkts[i].len);
        if (dev->rx_offloads) {
            netdev_vhost_offload_rx(packet, &rx->pkts[i].offload);
        }
        batch->packets[i] = packet;
    }

    /* Ingress policing ("ingress_policing_rate"). */
    kept = netdev_vhost_policer_run(dev, batch->packets, n);
    if (OVS_UNLIKELY(kept < n)) {
        netdev_vhost_counter_add(&dev->rx_stats[rxq->queue_id].rx_qos_drops,
                                 n - kept);
    }
    batch->count = kept;

    /* Replace exactly the mbufs handed over. */
    if (OVS_UNLIKELY(!netdev_vhost_rxq_fill(rx, 0, n))) {
        uint32_t left = rx->n_mbufs - n;

        COVERAGE_INC(vhost_client_rx_mbuf_alloc_failed);
        memmove(rx->mbufs, &rx->mbufs[n], left * sizeof rx->mbufs[0]);
        memmove(rx->pkts, &rx->pkts[n], left * sizeof rx->pkts[0]);
        rx->n_mbufs = left;
    }

    /* Packets and bytes are counted by the core (nvh_vring_get_stats). */
    return 0;
}

/* ---- Transmit: OVS -> guest ------------------------------------------ */

/* Frees the packets of 'batch' once sent (copied into the guest) or
 * dropped: DPDK mbufs in bulk, one mempool operation per run of one pool
 * instead of one per packet; any other packet one by one. */
static void
netdev_vhost_free_batch(struct dp_packet_batch *batch)
{
    struct rte_mbuf *mbufs[NETDEV_MAX_BURST];
    struct dp_packet *packet;
    uint32_t n = 0;

    DP_PACKET_BATCH_FOR_EACH (i, packet, batch) {
        if (OVS_LIKELY(packet->source == DPBUF_DPDK)) {
            mbufs[n++] = &packet->mbuf;
        } else {
            dp_packet_delete(packet);
        }
    }
    if (n) {
        rte_pktmbuf_free_bulk(mbufs, n);
    }
    dp_packet_batch_init(batch);
}

/* What the glue itself did not deliver of one transmit batch, by reason,
 * and how many retries it counts.  Packets and bytes that reached the guest,
 * and what the core dropped for lack of room in the guest's buffers
 * (handled, so part of what was sent), are counted by the core
 * (nvh_vring_get_stats). */
struct netdev_vhost_tx_drops {
    uint64_t mtu;               /* Larger than the MTU allows. */
    uint64_t multi_seg;         /* In several segments. */
    uint64_t hwol;              /* An offload request that cannot be met. */
    uint64_t qos;               /* Egress QoS. */
    uint64_t failed;            /* Not taken by the guest after retries. */
    uint64_t retries;
};

/* Describes 'packet' to the core in '*p'.  Returns false, counting the drop
 * in 'drops', if the packet cannot go to the guest: larger than the MTU
 * allows, in several segments, or TSO without a TCP header. */
static inline bool
netdev_vhost_tx_describe(const struct netdev_vhost *dev,
                         struct dp_packet *packet, struct nvh_packet *p,
                         struct netdev_vhost_tx_drops *drops)
{
    uint32_t size = dp_packet_size(packet);

    /* As dpdkvhostuserclient, TSO packets may exceed the MTU. */
    if (OVS_UNLIKELY(size > dev->max_packet_len)
        && !(dev->offloads && dp_packet_hwol_is_tso(packet))) {
        drops->mtu++;
        return false;
    }
    /* Multi-segment mbufs are not supported. */
    if (OVS_UNLIKELY(packet->source == DPBUF_DPDK
                     && packet->mbuf.nb_segs > 1)) {
        drops->multi_seg++;
        return false;
    }

    *p = (struct nvh_packet) {
        .data = dp_packet_data(packet),
        .len = size,
    };
    if (dev->offloads
        && OVS_UNLIKELY(!netdev_vhost_offload_tx(
                            packet, dev->max_packet_len - ETH_HEADER_LEN - 4,
                            &p->offload))) {
        /* TSO without a TCP header, or an MTU that leaves its segments
         * no payload (tx_invalid_hwol_drops). */
        drops->hwol++;
        return false;
    }
    return true;
}

/* Describes the packets of 'batch' that can go to the guest in 'pkts', and
 * each one's dp_packet in 'kept', in order; counts the others in 'drops'.
 * Returns how many 'pkts' describes. */
static inline uint32_t
netdev_vhost_tx_describe_batch(const struct netdev_vhost *dev,
                               struct dp_packet_batch *batch,
                               struct nvh_packet *pkts,
                               struct dp_packet **kept,
                               struct netdev_vhost_tx_drops *drops)
{
    struct dp_packet *packet;
    uint32_t n_pkts = 0;

    DP_PACKET_BATCH_FOR_EACH (i, packet, batch) {
        if (netdev_vhost_tx_describe(dev, packet, &pkts[n_pkts], drops)) {
            kept[n_pkts++] = packet;
        }
    }
    return n_pkts;
}

/* Takes the lock of guest queue pair 'qp' if other threads may send on it
 * too, and returns it, or NULL if the caller has the pair to itself. */
static inline rte_spinlock_t *
netdev_vhost_tx_lock(struct netdev_vhost *dev, int qp, bool concurrent_txq)
{
    rte_spinlock_t *lock = &dev->tx_lock[qp].lock;

    if (!concurrent_txq && !dev->tx_map_shared) {
        return NULL;
    }
    if (OVS_UNLIKELY(!rte_spinlock_trylock(lock))) {
        COVERAGE_INC(vhost_client_tx_contention);
        rte_spinlock_lock(lock);
    }
    return lock;
}

/* Hands 'pkts[0..n_pkts)' to the guest's receiveq of queue pair 'qp'.
 * Same retry policy as dpdkvhostuserclient: retries while the guest accepts
 * something, at most 'tx-retries-max' times, counted in 'drops'.  Returns
 * how many the core took. */
static inline uint32_t
netdev_vhost_tx_enqueue(struct netdev_vhost *dev, int qp,
                        struct nvh_packet *pkts, uint32_t n_pkts,
                        struct netdev_vhost_tx_drops *drops)
{
    int max_retries = 0, retries = 0;
    uint32_t sent = 0;

    while (sent < n_pkts) {
        uint32_t n = nvh_enqueue_burst(dev->core, qp, &pkts[sent],
                                       n_pkts - sent);
        if (!n) {
            break;
        }
        sent += n;
        if (sent < n_pkts && !retries) {
            atomic_read_relaxed(&dev->tx_retries_max, &max_retries);
        }
        if (sent == n_pkts || retries++ >= max_retries) {
            break;
        }
    }
    drops->retries = MIN(retries, max_retries);
    return sent;
}

/* Adds 'drops' to the counters of a transmit queue.  Rare: most bursts
 * neither drop nor retry. */
static inline void
netdev_vhost_tx_count(struct netdev_vhost_queue_stats *stats,
                      const struct netdev_vhost_tx_drops *drops)
{
    if (OVS_UNLIKELY(drops->mtu || drops->multi_seg || drops->hwol
                     || drops->qos || drops->failed || drops->retries)) {
        netdev_vhost_counter_add(&stats->dropped,
                                 drops->failed + drops->mtu
                                 + drops->multi_seg + drops->hwol
                                 + drops->qos);
        /* As netdev-dpdk, which counts a packet it cannot copy into an
         * mbuf as a failure. */
        netdev_vhost_counter_add(&stats->tx_failure_drops,
                                 drops->failed + drops->multi_seg);
        netdev_vhost_counter_add(&stats->tx_mtu_exceeded_drops, drops->mtu);
        netdev_vhost_counter_add(&stats->tx_invalid_hwol_drops, drops->hwol);
        netdev_vhost_counter_add(&stats->tx_qos_drops, drops->qos);
        netdev_vhost_counter_add(&stats->tx_retries, drops->retries);
    }
}

int
netdev_vhost_send(struct netdev *netdev, int qid,
                  struct dp_packet_batch *batch, bool concurrent_txq)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);
    int txq = qid % netdev->n_txq;
    struct netdev_vhost_queue_stats *stats;
    struct netdev_vhost_tx_drops drops = { 0 };
    struct nvh_packet pkts[NETDEV_MAX_BURST];
    struct dp_packet *kept[NETDEV_MAX_BURST];   /* Described by 'pkts'. */
    int qp = dev->tx_map[txq];
    uint32_t n_pkts, sent;
    rte_spinlock_t *lock;
    bool up;

    atomic_read_relaxed(&dev->admin_up, &up);
    if (OVS_UNLIKELY(!dev->core || qp < 0 || !up)) {
        netdev_vhost_counter_add(&dev->tx_stats_unmapped.dropped,
                                 dp_packet_batch_size(batch));
        netdev_vhost_free_batch(batch);
        return 0;
    }
    stats = &dev->tx_stats[qp];

    n_pkts = netdev_vhost_tx_describe_batch(dev, batch, pkts, kept, &drops);

    /* Egress QoS, after the MTU and offload checks, as netdev-dpdk. */
    drops.qos = n_pkts;
    n_pkts = netdev_vhost_qos_run(dev, kept, pkts, n_pkts);
    drops.qos -= n_pkts;

    lock = netdev_vhost_tx_lock(dev, qp, concurrent_txq);
    sent = netdev_vhost_tx_enqueue(dev, qp, pkts, n_pkts, &drops);
    if (lock) {
        rte_spinlock_unlock(lock);
    }

    drops.failed = n_pkts - sent;
    netdev_vhost_tx_count(stats, &drops);
    netdev_vhost_free_batch(batch);
    return 0;
}
