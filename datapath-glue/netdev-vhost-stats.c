/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Status and statistics of the "vhostuserclient" ports (the appctl
 * commands are in netdev-vhost-appctl.c).
 *
 * Direction names follow OVS: "rx" is guest -> OVS (the guest's transmitq,
 * vring 2N+1), "tx" is OVS -> guest (the guest's receiveq, vring 2N).
 * Counters are read without locks: each value is consistent on its own, the
 * set is not a snapshot.  Packets and bytes come from the core's vring
 * counters only (netdev-vhost-counters.h).
 */

#include <config.h>

#include <inttypes.h>
#include <string.h>

#include "coverage.h"
#include "netdev-provider.h"
#include "netdev-vhost-counters.h"
#include "netdev-vhost-private.h"
#include "netdev-vhost-vrings.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/list.h"
#include "openvswitch/vlog.h"
#include "smap.h"
#include "util.h"



void
netdev_vhost_sum_sw(const struct netdev_vhost *dev,
                    struct netdev_vhost_sw_totals *t)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < NVH_MAX_QUEUE_PAIRS; i++) {
        const struct netdev_vhost_queue_stats *tx = &dev->tx_stats[i];

        t->tx_dropped += netdev_vhost_counter_read(&tx->dropped);
        t->tx_retries += netdev_vhost_counter_read(&tx->tx_retries);
        t->tx_failure_drops
            += netdev_vhost_counter_read(&tx->tx_failure_drops);
        t->tx_mtu_exceeded_drops
            += netdev_vhost_counter_read(&tx->tx_mtu_exceeded_drops);
        t->tx_qos_drops += netdev_vhost_counter_read(&tx->tx_qos_drops);
        t->tx_invalid_hwol_drops
            += netdev_vhost_counter_read(&tx->tx_invalid_hwol_drops);
        t->rx_qos_drops
            += netdev_vhost_counter_read(&dev->rx_stats[i].rx_qos_drops);
    }
    t->tx_dropped
        += netdev_vhost_counter_read(&dev->tx_stats_unmapped.dropped);
}

/* The core keeps its counters across reconnections (they survive the
 * reset of a vring), so every vring is summed, not only the ones in use
 * now; counters of core devices replaced after a path change are added. */
void
netdev_vhost_sum_core(const struct netdev_vhost *dev,
                      struct netdev_vhost_core_totals *t)
    OVS_REQUIRES(dev->mutex)
{
    memset(t, 0, sizeof *t);
    for (uint32_t v = 0; v < NVH_MAX_VRINGS; v++) {
        struct nvh_vring_stats s;

        netdev_vhost_core_totals_add(t, v, &dev->retired_vring_stats[v]);
        if (dev->core && nvh_vring_get_stats(dev->core, v, &s)) {
            netdev_vhost_core_totals_add(t, v, &s);
        }
    }
}

/* The core counts each vring the guest broke (a rule violation that stops
 * the queue until the frontend sets it up again) but cannot log from the
 * data path: the statistics update, which OVS runs every few seconds, logs
 * each new one, rate-limited. */
static void
netdev_vhost_report_broken_rings(struct netdev_vhost *dev,
                                 const struct netdev_vhost_core_totals *core)
    OVS_REQUIRES(dev->mutex)
{
    uint64_t rx = core->rx.broken_rings, tx = core->tx.broken_rings;

    if (OVS_UNLIKELY(rx + tx > dev->broken_rings_reported)) {
        VLOG_WARN_RL(&dev->warn_rl, "%s: the guest broke a vring's rules (%"PRIu64
                     " transmitq, %"PRIu64" receiveq so far): the queue is "
                     "stopped until the frontend sets it up again; see "
                     "ovs-appctl vhostuserclient/show %s",
                     netdev_get_name(&dev->up), rx, tx,
                     netdev_get_name(&dev->up));
        dev->broken_rings_reported = rx + tx;
    }
}

/* The core survives a SIGBUS in the guest memory or dirty log the frontend
 * shared (its file truncated, a hole punched in it, its filesystem full)
 * and closes that connection, counting it; the statistics update logs each
 * new one, rate-limited. */
static void
netdev_vhost_report_memory_faults(struct netdev_vhost *dev)
    OVS_REQUIRES(dev->mutex)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 60);
    struct nvh_device_info info;

    if (!dev->core) {
        return;
    }
    netdev_vhost_get_info(dev->core, &info);
    if (OVS_UNLIKELY(info.memory_faults > dev->memory_faults_reported)) {
        VLOG_WARN_RL(&rl, "%s: the guest memory the frontend shared faulted "
                     "(%"PRIu64" times so far): the connection was closed, "
                     "the switch keeps running; see ovs-appctl "
                     "vhostuserclient/show %s", netdev_get_name(&dev->up),
                     info.memory_faults, netdev_get_name(&dev->up));
        dev->memory_faults_reported = info.memory_faults;
    }
}

void
netdev_vhost_retire_core_stats(struct netdev_vhost *dev)
    OVS_REQUIRES(dev->mutex)
{
    for (uint32_t v = 0; dev->core && v < NVH_MAX_VRINGS; v++) {
        struct nvh_vring_stats s;

        if (nvh_vring_get_stats(dev->core, v, &s)) {
            netdev_vhost_vring_stats_add(&dev->retired_vring_stats[v], &s);
        }
    }
}

/* virtio 1.2, 6: VIRTIO_F_RING_PACKED (34) selects the packed virtqueue
 * layout (2.8); without it every virtqueue is split (2.7). */
#define NETDEV_VHOST_F_RING_PACKED (UINT64_C(1) << 34)

const char *
netdev_vhost_ring_type(uint64_t features)
{
    return features & NETDEV_VHOST_F_RING_PACKED ? "packed" : "split";
}

const char *
netdev_vhost_state_name(enum nvh_connection_state state)
{
    switch (state) {
    case NVH_STATE_WAITING:
        return "waiting for socket";
    case NVH_STATE_CONNECTED:
        return "connected, negotiating";
    case NVH_STATE_READY:
        return "ready";
    }
    return "unknown";
}

/* Gets the state of 'core' into 'info', its strings terminated. */
void
netdev_vhost_get_info(struct nvh_device *core, struct nvh_device_info *info)
{
    nvh_device_get_info(core, info);
    info->last_error[sizeof info->last_error - 1] = '\0';
    info->warning[sizeof info->warning - 1] = '\0';
}

/* The status of a port that has no core device. */
static void
netdev_vhost_status_not_created(const struct netdev_vhost *dev,
                                struct smap *args)
    OVS_REQUIRES(dev->mutex)
{
    smap_add(args, "status", "disconnected");
    smap_add(args, "state", dev->create_error ? "error" : "not created");
    if (dev->create_error) {
        smap_add(args, "last_error", dev->create_error);
    }
}

/* What the frontend of a connected port negotiated and set up. */
static void
netdev_vhost_status_negotiated(const struct nvh_device_info *info,
                               struct smap *args)
{
    smap_add_format(args, "connected_seconds", "%"PRIu64,
                    info->connected_ms / 1000);
    smap_add_format(args, "features", "0x%016"PRIx64, info->features);
    smap_add(args, "ring_type", netdev_vhost_ring_type(info->features));
    smap_add_format(args, "protocol_features", "0x%016"PRIx64,
                    info->protocol_features);
    /* The MTU the frontend reported (VHOST_USER_NET_SET_MTU, with
     * VIRTIO_NET_F_MTU): "mtu" is the port's own. */
    if (info->mtu) {
        smap_add_format(args, "frontend_mtu", "%"PRIu32, info->mtu);
    }
    if (info->numa_node >= 0) {
        smap_add_format(args, "numa", "%d", info->numa_node);
    }
    smap_add_format(args, "queue_pairs", "%"PRIu32, info->n_queue_pairs);
    smap_add_format(args, "num_of_vrings", "%"PRIu32, info->n_vrings);
    /* Started vrings need not be contiguous: list every vring the
     * frontend gave a size. */
    for (uint32_t v = netdev_vhost_next_vring(info, 0);
         v < NVH_MAX_VRINGS; v = netdev_vhost_next_vring(info, v + 1)) {
        smap_add_nocopy(args, xasprintf("vring_%"PRIu32"_size", v),
                        xasprintf("%d", info->vring_size[v]));
    }
}

/* virtio 1.2, 5.1.3: VIRTIO_NET_F_HOST_TSO4 (11), HOST_TSO6 (12). */
#define NETDEV_VHOST_F_HOST_TSO \
    ((UINT64_C(1) << 11) | (UINT64_C(1) << 12))

/* The keys that newer dpdkvhostuserclient ports show while connected: the
 * port's queues and, as "userspace-tso=disabled", that userspace TSO is on
 * but this guest sends no TSO frames (it negotiated neither HOST_TSO4 nor
 * HOST_TSO6, the features netdev-dpdk withdraws when it disables TSO for a
 * port). */
static void
netdev_vhost_status_queues(const struct netdev_vhost *dev,
                           const struct nvh_device_info *info,
                           struct smap *args)
    OVS_REQUIRES(dev->mutex)
{
    if (dev->offloads && !(info->features & NETDEV_VHOST_F_HOST_TSO)) {
        smap_add(args, "userspace-tso", "disabled");
    }
    smap_add_format(args, "n_rxq", "%d", dev->up.n_rxq);
    smap_add_format(args, "n_txq", "%d", dev->up.n_txq);
}

/* The status of a port that has a core device. */
static void
netdev_vhost_status_core(const struct netdev_vhost *dev, struct smap *args)
    OVS_REQUIRES(dev->mutex)
{
    struct nvh_device_info info;

    netdev_vhost_get_info(dev->core, &info);
    smap_add(args, "status",
             info.state == NVH_STATE_WAITING ? "disconnected" : "connected");
    smap_add(args, "state", netdev_vhost_state_name(info.state));
    smap_add_format(args, "connects", "%"PRIu64, info.n_connects);
    /* Connections taken over from the previous ovs-vswitchd at a planned
     * restart (netdev-vhost-handover.c). */
    smap_add_format(args, "resumes", "%"PRIu64, info.n_resumes);
    /* Connections closed because the guest memory faulted (SIGBUS). */
    smap_add_format(args, "memory_faults", "%"PRIu64, info.memory_faults);
    if (info.state != NVH_STATE_WAITING) {
        netdev_vhost_status_negotiated(&info, args);
        netdev_vhost_status_queues(dev, &info, args);
    }
    /* Why the last connection ended, e.g. "reconnect requested" (or why
     * connecting fails, see the core's last_error). */
    if (info.last_error[0]) {
        smap_add(args, "last_error", info.last_error);
    }
    /* A problem that does not end the connection, e.g. guest memory that is
     * not shared with the switch (see docs/user-guide.md). */
    if (info.warning[0]) {
        smap_add(args, "warning", info.warning);
    }
}

/* Adds 'warning', if any, to the "warning" key, after what is there. */
static void
netdev_vhost_status_add_warning(struct smap *args, const char *warning)
{
    const char *current;

    if (!warning) {
        return;
    }
    current = smap_get(args, "warning");
    if (current) {
        char *joined = xasprintf("%s; %s", current, warning);

        smap_replace_nocopy(args, "warning", joined);
    } else {
        smap_add(args, "warning", warning);
    }
}

int
netdev_vhost_get_status(const struct netdev *netdev, struct smap *args)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);

    ovs_mutex_lock(&dev->mutex);
    /* Which backend serves the port, whatever its type is called. */
    smap_add(args, "backend", "netdev-vhost");
    smap_add(args, "mode", "client");
    if (dev->requested_path) {
        smap_add(args, "socket", dev->requested_path);
    }
    /* The MTU the port uses (mtu_request), known with or without a
     * frontend. */
    smap_add_format(args, "mtu", "%d", dev->mtu);
    if (dev->core) {
        netdev_vhost_status_core(dev, args);
        if (dev->mempool_error) {
            /* No buffers: the port has no carrier, whatever the guest
             * negotiated. */
            if (!strcmp(smap_get_def(args, "state", ""), "ready")) {
                smap_replace(args, "state", "connected");
            }
            netdev_vhost_status_add_warning(args, dev->mempool_error);
        }
    } else {
        netdev_vhost_status_not_created(dev, args);
    }
    /* Options refused while the port kept its previous ones. */
    if (dev->config_error) {
        smap_add(args, "config_error", dev->config_error);
    }
    ovs_mutex_unlock(&dev->mutex);
    netdev_vhost_status_add_warning(args, netdev_vhost_backend_warning());
    return 0;
}

int
netdev_vhost_get_stats(const struct netdev *netdev,
                       struct netdev_stats *stats)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);
    struct netdev_vhost_port_counters port;
    struct netdev_vhost_core_totals core;
    struct netdev_vhost_sw_totals sw;

    ovs_mutex_lock(&dev->mutex);
    netdev_vhost_sum_sw(dev, &sw);
    netdev_vhost_sum_core(dev, &core);
    netdev_vhost_report_broken_rings(dev, &core);
    netdev_vhost_report_memory_faults(dev);
    ovs_mutex_unlock(&dev->mutex);

    netdev_vhost_port_counters_get(&core, sw.tx_dropped, &port);
    stats->rx_packets = port.rx_packets;
    stats->rx_bytes = port.rx_bytes;
    stats->rx_dropped = sw.rx_qos_drops;     /* Ingress policing. */
    stats->rx_errors = port.rx_errors;
    stats->tx_packets = port.tx_packets;
    stats->tx_bytes = port.tx_bytes;
    stats->tx_dropped = port.tx_dropped;
    stats->tx_errors = port.tx_errors;

    /* The classes dpdkvhostuserclient reports, from the same per-vring
     * counters: multicast and broadcast frames, and the size bins of DPDK's
     * vhost statistics, where OVS adds frames under 64 bytes to the 64-byte
     * bin and reports the 1024-1518 bin as 1024-1522. */
    stats->multicast = core.rx.multicast;
    stats->rx_broadcast_packets = core.rx.broadcast;
    stats->tx_multicast_packets = core.tx.multicast;
    stats->tx_broadcast_packets = core.tx.broadcast;
#define NETDEV_VHOST_SIZE_BINS(DIR, S)                                  \
    stats->DIR##_1_to_64_packets = S.size_bins[0] + S.size_bins[1];     \
    stats->DIR##_65_to_127_packets = S.size_bins[2];                    \
    stats->DIR##_128_to_255_packets = S.size_bins[3];                   \
    stats->DIR##_256_to_511_packets = S.size_bins[4];                   \
    stats->DIR##_512_to_1023_packets = S.size_bins[5];                  \
    stats->DIR##_1024_to_1522_packets = S.size_bins[6];                 \
    stats->DIR##_1523_to_max_packets = S.size_bins[7];
    NETDEV_VHOST_SIZE_BINS(rx, core.rx)
    NETDEV_VHOST_SIZE_BINS(tx, core.tx)
#undef NETDEV_VHOST_SIZE_BINS

    return 0;
}

/* Per-queue counters, in the order of DPDK's vhost statistics.  The port
 * offers neither VIRTIO_F_IOMMU_PLATFORM nor inflight I/O tracking
 * (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD), so the IOTLB and inflight
 * counters dpdkvhostuserclient also lists are always 0 here. */
#define NETDEV_VHOST_QSTATS                                             \
    QSTAT("good_packets", st->packets)                                  \
    QSTAT("good_bytes", st->bytes)                                      \
    QSTAT("multicast_packets", st->multicast)                           \
    QSTAT("broadcast_packets", st->broadcast)                           \
    QSTAT("undersize_packets", st->size_bins[0])                        \
    QSTAT("size_64_packets", st->size_bins[1])                          \
    QSTAT("size_65_127_packets", st->size_bins[2])                      \
    QSTAT("size_128_255_packets", st->size_bins[3])                     \
    QSTAT("size_256_511_packets", st->size_bins[4])                     \
    QSTAT("size_512_1023_packets", st->size_bins[5])                    \
    QSTAT("size_1024_1518_packets", st->size_bins[6])                   \
    QSTAT("size_1519_max_packets", st->size_bins[7])                    \
    QSTAT("guest_notifications", st->guest_notifications)               \
    QSTAT("iotlb_hits", 0)                                              \
    QSTAT("iotlb_misses", 0)                                            \
    QSTAT("inflight_submitted", 0)                                      \
    QSTAT("inflight_completed", 0)

#define QSTAT(NAME, VALUE) + 1
enum { NETDEV_VHOST_N_QSTATS = 0 NETDEV_VHOST_QSTATS };
#undef QSTAT

static void
netdev_vhost_put_qstats(struct netdev_custom_stats *custom, size_t *i,
                        const char *dir, uint32_t q,
                        const struct nvh_vring_stats *st)
{
#define QSTAT(NAME, VALUE)                                              \
    snprintf(custom->counters[*i].name, NETDEV_CUSTOM_STATS_NAME_SIZE,  \
             "%s_q%"PRIu32"_%s", dir, q, NAME);                         \
    custom->counters[(*i)++].value = (VALUE);
    NETDEV_VHOST_QSTATS
#undef QSTAT
}

/* This port's own counters of queue pair 'q', after DPDK's: what ingress
 * policing dropped of the guest's transmitqN; what the guest's receiveqN
 * did not get (the glue's drops and frames its buffers could not hold, as
 * in tx_dropped), of that what was not placed after the retries, the
 * retries, and the bursts cut short because the ring was full. */
#define NETDEV_VHOST_N_OWN_QSTATS 5

static void
netdev_vhost_put_own_qstats(const struct netdev_vhost *dev,
                            struct netdev_custom_stats *custom, size_t *i,
                            uint32_t q, const struct nvh_vring_stats *tx_st)
{
    const struct netdev_vhost_queue_stats *tx = &dev->tx_stats[q];
    struct {
        const char *dir, *name;
        uint64_t value;
    } own[NETDEV_VHOST_N_OWN_QSTATS] = {
        { "rx", "dropped",
          netdev_vhost_counter_read(&dev->rx_stats[q].rx_qos_drops) },
        { "tx", "dropped", (netdev_vhost_counter_read(&tx->dropped)
                            + tx_st->rx_buffer_too_small) },
        { "tx", "failure_drops",
          netdev_vhost_counter_read(&tx->tx_failure_drops) },
        { "tx", "retries", netdev_vhost_counter_read(&tx->tx_retries) },
        { "tx", "guest_ring_full", tx_st->ring_full },
    };

    for (size_t k = 0; k < ARRAY_SIZE(own); k++) {
        snprintf(custom->counters[*i].name, NETDEV_CUSTOM_STATS_NAME_SIZE,
                 "%s_q%"PRIu32"_%s", own[k].dir, q, own[k].name);
        custom->counters[(*i)++].value = own[k].value;
    }
}

/* Per queue pair, the pairs the port has rxqs for: what the core's vrings
 * counted, including those of core devices replaced after a path change.
 * Returns the number of pairs. */
static uint32_t
netdev_vhost_sum_queue_pairs(const struct netdev_vhost *dev,
                             struct nvh_vring_stats per_vring[NVH_MAX_VRINGS])
    OVS_REQUIRES(dev->mutex)
{
    uint32_t n_qp = dev->up.n_rxq;

    for (uint32_t v = 0; v < 2 * n_qp && v < NVH_MAX_VRINGS; v++) {
        struct nvh_vring_stats s;

        per_vring[v] = dev->retired_vring_stats[v];
        if (dev->core && nvh_vring_get_stats(dev->core, v, &s)) {
            netdev_vhost_vring_stats_add(&per_vring[v], &s);
        }
    }
    return n_qp;
}

/* The port-wide custom statistics, CSTAT(NAME, VALUE), VALUE named after
 * the locals of netdev_vhost_get_custom_stats().  The "ovs_" names are
 * dpdkvhostuserclient's. */
#define NETDEV_VHOST_CSTATS                                                 \
    CSTAT("ovs_tx_retries", sw.tx_retries)                                  \
    CSTAT("ovs_tx_failure_drops", sw.tx_failure_drops)                      \
    CSTAT("ovs_tx_mtu_exceeded_drops", sw.tx_mtu_exceeded_drops)            \
    CSTAT("ovs_tx_qos_drops", sw.tx_qos_drops)                              \
    CSTAT("ovs_rx_qos_drops", sw.rx_qos_drops)                              \
    CSTAT("ovs_tx_invalid_hwol_drops", sw.tx_invalid_hwol_drops)            \
    CSTAT("rx_invalid_descriptors", core.rx.invalid_descriptors)            \
    CSTAT("rx_undersized_frames", core.rx.undersized_frames)                \
    CSTAT("rx_oversized_frames", core.rx.oversized_frames)                  \
    CSTAT("rx_guest_notifications", core.rx.guest_notifications)            \
    CSTAT("rx_broken_rings", core.rx.broken_rings)                          \
    CSTAT("rx_call_stalls", core.rx.call_stalls)                            \
    CSTAT("tx_invalid_descriptors", core.tx.invalid_descriptors)            \
    CSTAT("tx_guest_buffer_too_small", core.tx.rx_buffer_too_small)         \
    CSTAT("tx_guest_ring_full", core.tx.ring_full)                          \
    CSTAT("tx_guest_notifications", core.tx.guest_notifications)            \
    CSTAT("tx_broken_rings", core.tx.broken_rings)                          \
    CSTAT("tx_call_stalls", core.tx.call_stalls)                            \
    CSTAT("memory_faults", info.memory_faults)

int
netdev_vhost_get_custom_stats(const struct netdev *netdev,
                              struct netdev_custom_stats *custom)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);
    struct netdev_vhost_core_totals core;
    struct netdev_vhost_sw_totals sw;
    struct nvh_vring_stats per_vring[NVH_MAX_VRINGS];
    struct nvh_device_info info = { .memory_faults = 0 };
    uint32_t n_qp;

    ovs_mutex_lock(&dev->mutex);
    netdev_vhost_sum_sw(dev, &sw);
    netdev_vhost_sum_core(dev, &core);
    n_qp = netdev_vhost_sum_queue_pairs(dev, per_vring);
    if (dev->core) {
        netdev_vhost_get_info(dev->core, &info);
    }
    ovs_mutex_unlock(&dev->mutex);

#define CSTAT(NAME, VALUE) + 1
    custom->size = 0 NETDEV_VHOST_CSTATS;
#undef CSTAT
    custom->size += (2 * NETDEV_VHOST_N_QSTATS + NETDEV_VHOST_N_OWN_QSTATS)
                    * n_qp;
    custom->counters = xcalloc(custom->size, sizeof *custom->counters);

    size_t i = 0;
#define CSTAT(NAME, VALUE)                                              \
    ovs_strlcpy(custom->counters[i].name, NAME,                         \
                NETDEV_CUSTOM_STATS_NAME_SIZE);                         \
    custom->counters[i++].value = (VALUE);
    NETDEV_VHOST_CSTATS
#undef CSTAT

    /* rx_q<N>: the guest's transmitqN (vring 2N+1); tx_q<N>: its
     * receiveqN (vring 2N).  Every rx queue, then every tx queue, in the
     * order and under the names of DPDK's vhost statistics, as
     * dpdkvhostuserclient lists them. */
    for (int dir = 0; dir < 2; dir++) {
        for (uint32_t q = 0; q < n_qp; q++) {
            const struct nvh_vring_stats *st = &per_vring[2 * q + !dir];

            netdev_vhost_put_qstats(custom, &i, dir ? "tx" : "rx", q, st);
        }
    }
    for (uint32_t q = 0; q < n_qp; q++) {
        netdev_vhost_put_own_qstats(dev, custom, &i, q, &per_vring[2 * q]);
    }
    ovs_assert(i == custom->size);

    return 0;
}
#undef NETDEV_VHOST_CSTATS
