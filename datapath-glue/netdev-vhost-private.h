// SPDX-License-Identifier: Apache-2.0
/*
 * Private declarations of the "vhostuserclient" netdev class, shared by the
 * files of datapath-glue/.  Nothing here is visible outside the plugin.
 */

#ifndef NETDEV_VHOST_PRIVATE_H
#define NETDEV_VHOST_PRIVATE_H 1

#include <stdbool.h>
#include <stdint.h>

#include <rte_spinlock.h>

#include "netdev-provider.h"
#include "netdev-vhost/nvh.h"
#include "openvswitch/list.h"
#include "openvswitch/thread.h"
#include "openvswitch/util.h"
#include "openvswitch/vlog.h"
#include "ovs-atomic.h"
#include "ovs-rcu.h"
#include "packets.h"

struct netdev_vhost_policer;
struct netdev_vhost_qos_conf;
struct rte_mempool;
struct vhost_mempool;

/* All files of the plugin log to the one VLOG module "netdev_vhost", which
 * plugin.c defines.  VLOG_DEFINE_THIS_MODULE may appear only once per
 * module, so the other files reach it through the pointer that it exports. */
#ifndef NETDEV_VHOST_DEFINES_VLOG_MODULE
extern struct vlog_module *VLM_netdev_vhost;
#define this_module (*VLM_netdev_vhost)
#endif

/* Frame length for an MTU: Ethernet header and CRC, as netdev-dpdk counts
 * it.  Larger packets are dropped on transmit. */
#define NETDEV_VHOST_MTU_TO_FRAME_LEN(MTU) ((MTU) + ETH_HEADER_LEN + 4)
/* Largest frame for an MTU, with room for two VLAN headers. */
#define NETDEV_VHOST_MTU_TO_MAX_FRAME_LEN(MTU) \
    (NETDEV_VHOST_MTU_TO_FRAME_LEN(MTU) + 2 * VLAN_HEADER_LEN)
#define NETDEV_VHOST_MIN_MTU 68
#define NETDEV_VHOST_MAX_FRAME_LEN 9728

/* Large buffers per queue pair of a port with userspace TSO: each receive
 * burst (NVH_MAX_BURST frames) can need one per frame, and a burst's
 * packets may still be on their way out (another port's queue) when the
 * next one comes. */
#define NETDEV_VHOST_LARGE_BUFS_PER_QUEUE (2 * NVH_MAX_BURST)

/* "tx-retries-max": same range and default as dpdkvhostuserclient. */
#define NETDEV_VHOST_TX_RETRIES_MIN 0
#define NETDEV_VHOST_TX_RETRIES_MAX 32
/* "max-guest-memory-mb": from 64 MB to 64 TiB (x86-64 user space holds 128
 * TiB); the core's default, NVH_DEFAULT_MAX_GUEST_MEMORY, is 1 TiB. */
#define NETDEV_VHOST_MAX_GUEST_MEMORY_MB_MIN 64
#define NETDEV_VHOST_MAX_GUEST_MEMORY_MB_MAX (UINT64_C(64) << 20)
#define NETDEV_VHOST_TX_RETRIES_DEF 8

/* The glue's own counters of one guest receiveq (OVS transmit): only what
 * the glue drops itself, and its retries.  Packets and bytes that reached
 * the guest, and frames the core dropped, are the core's vring counters
 * (netdev-vhost-counters.h).  Updated only when a burst drops or retries,
 * by the threads that send on the queue pair (relaxed atomic adds: several
 * OVS txqs may map onto one pair), read by anyone without locks. */
struct netdev_vhost_queue_stats {
    PADDED_MEMBERS(CACHE_LINE_SIZE,
        atomic_uint64_t dropped;          /* Every packet lost here. */
        atomic_uint64_t tx_retries;
        atomic_uint64_t tx_failure_drops;
        atomic_uint64_t tx_mtu_exceeded_drops;
        atomic_uint64_t tx_qos_drops;     /* Egress QoS. */
        atomic_uint64_t tx_invalid_hwol_drops;
    );
};

/* The glue's counter of one receive queue, updated by the one thread that
 * polls it, once per burst that drops. */
struct netdev_vhost_rxq_stats {
    PADDED_MEMBERS(CACHE_LINE_SIZE,
        atomic_uint64_t rx_qos_drops;     /* Ingress policing. */
    );
};

/* Serialises the senders of one guest queue pair's receive vring. */
struct netdev_vhost_tx_lock {
    PADDED_MEMBERS(CACHE_LINE_SIZE,
        rte_spinlock_t lock;
    );
};

struct netdev_vhost {
    struct netdev up;

    /* Data path state.  Written only by the main thread in construct,
     * reconfigure and destruct, while no PMD thread polls or sends on the
     * port (dpif-netdev guarantees that), read by the PMD threads. */
    struct nvh_device *core;              /* NULL if not created. */
    struct vhost_mempool *mp;             /* NULL until the guest is ready. */
    struct rte_mempool *large;            /* With 'offloads': the pool of
                                           * 'large_mp', else NULL. */
    struct vhost_mempool *large_mp;       /* Buffers for guest frames larger
                                           * than an mbuf of 'mp'. */
    /* Per queue pair: the large_buffer hook attached a buffer since the
     * last receive on it.  Written and read only by the PMD thread that
     * polls the pair's rxq, so that an idle receive need not look for
     * buffers to put back. */
    bool large_lent[NVH_MAX_QUEUE_PAIRS];
    uint32_t max_packet_len;              /* Frame length for 'mtu'. */
    int tx_map[NVH_MAX_QUEUE_PAIRS];      /* OVS txq -> guest pair, or -1. */
    bool tx_map_shared;                   /* Some pairs get several txqs. */
    bool offloads;                        /* userspace-tso-enable, fixed at
                                           * construction: the core offers
                                           * checksum and TSO offloads. */
    bool rx_offloads;                     /* The guest negotiated CSUM or
                                           * HOST_TSO4/6. */

    /* Changed at any time, read by PMD threads. */
    atomic_bool admin_up;                 /* NETDEV_UP in 'flags'. */
    atomic_bool rx_hold;                  /* The guest's frames wait in its
                                           * ring until the main loop runs
                                           * again (netdev-vhost-handover.c):
                                           * after a resume, and on the way
                                           * out at a planned restart. */
    atomic_int tx_retries_max;
    atomic_bool rxq_enabled[NVH_MAX_QUEUE_PAIRS];

    struct ovs_mutex mutex;

    /* Configuration, protected by 'mutex'. */
    char *path OVS_GUARDED;               /* Path 'core' connects to. */
    char *requested_path OVS_GUARDED;     /* From "vhost-server-path". */
    uint64_t max_guest_memory OVS_GUARDED; /* From "max-guest-memory-mb", in
                                            * bytes; 0: the core's default. */
    int mtu OVS_GUARDED;
    int requested_mtu OVS_GUARDED;
    struct eth_addr hwaddr OVS_GUARDED;
    enum netdev_flags flags OVS_GUARDED;

    /* State seen by the last reconfiguration, protected by 'mutex'. */
    bool ready OVS_GUARDED;               /* Carrier. */
    int numa_id OVS_GUARDED;
    uint64_t n_connects OVS_GUARDED;
    long long int carrier_resets OVS_GUARDED;
    /* Broken vrings already logged (netdev_vhost_get_stats). */
    uint64_t broken_rings_reported OVS_GUARDED;
    /* Guest memory faults already logged (netdev_vhost_get_stats). */
    uint64_t memory_faults_reported OVS_GUARDED;
    char *create_error OVS_GUARDED;       /* Why nvh_device_create failed. */
    char *config_error OVS_GUARDED;       /* Why the options last given were
                                           * refused while the port kept its
                                           * previous ones, or NULL. */
    char *mempool_error OVS_GUARDED;      /* Why the port has no buffers for
                                           * its guest, or NULL. */

    /* Rate limits of the port's log lines that its frontend can cause at
     * will (the core's lines about this port, link changes, broken rings):
     * per port, so that one frontend can neither flood the log nor hide
     * another port's lines behind a shared limit.  Thread-safe. */
    struct vlog_rate_limit info_rl;       /* INFO and DBG. */
    struct vlog_rate_limit warn_rl;       /* WARN and ERR. */

    /* Ingress policing and egress QoS (netdev-vhost-qos.c): replaced under
     * 'mutex', freed after an RCU grace period, read by PMD threads. */
    OVSRCU_TYPE(struct netdev_vhost_policer *) ingress_policer;
    OVSRCU_TYPE(struct netdev_vhost_qos_conf *) qos_conf;
    uint32_t policer_rate OVS_GUARDED;    /* kbit/s, 0: no policing. */
    uint32_t policer_burst OVS_GUARDED;   /* kbit. */

    /* In 'netdev_vhost_list'. */
    struct ovs_list list_node;

    /* Vring counters of core devices destroyed because the path changed,
     * protected by 'mutex': the port's statistics stay monotonic. */
    struct nvh_vring_stats retired_vring_stats[NVH_MAX_VRINGS] OVS_GUARDED;

    /* One per guest queue pair, indexed by the pair an OVS txq maps onto
     * ('tx_map'), so that tx_q<N> counters are those of the guest's
     * receiveq N; 'tx_stats_unmapped.dropped' counts what was dropped
     * before a pair was picked (port down, not ready, no pair enabled). */
    struct netdev_vhost_queue_stats tx_stats[NVH_MAX_QUEUE_PAIRS];
    struct netdev_vhost_queue_stats tx_stats_unmapped;
    /* One per OVS rxq. */
    struct netdev_vhost_rxq_stats rx_stats[NVH_MAX_QUEUE_PAIRS];
    struct netdev_vhost_tx_lock tx_lock[NVH_MAX_QUEUE_PAIRS];
};

/* Every "vhostuserclient" netdev, for "vhostuserclient/show". */
extern struct ovs_mutex netdev_vhost_list_mutex;
extern struct ovs_list netdev_vhost_list
    OVS_GUARDED_BY(netdev_vhost_list_mutex);

/* Tells OVS that the status of every such netdev changed, so that it
 * refreshes their status columns (netdev-vhost-client.c). */
void netdev_vhost_status_changed_all(void);

static inline struct netdev_vhost *
netdev_vhost_cast(const struct netdev *netdev)
{
    return CONTAINER_OF(netdev, struct netdev_vhost, up);
}

static inline void
netdev_vhost_counter_add(atomic_uint64_t *counter, uint64_t n)
{
    if (n) {
        uint64_t orig;

        atomic_add_relaxed(counter, n, &orig);
    }
}

static inline uint64_t
netdev_vhost_counter_read(const atomic_uint64_t *counter)
{
    uint64_t value;

    atomic_read_relaxed(CONST_CAST(atomic_uint64_t *, counter), &value);
    return value;
}

/* The netdev class (netdev-vhost-client.c). */
extern const struct netdev_class netdev_vhost_client_class;

/* Data path (netdev-vhost-datapath.c). */
struct netdev_rxq *netdev_vhost_rxq_alloc(void);
int netdev_vhost_rxq_construct(struct netdev_rxq *);
void netdev_vhost_rxq_destruct(struct netdev_rxq *);
void netdev_vhost_rxq_dealloc(struct netdev_rxq *);
bool netdev_vhost_rxq_enabled(struct netdev_rxq *);
int netdev_vhost_rxq_recv(struct netdev_rxq *, struct dp_packet_batch *,
                          int *qfill);
int netdev_vhost_send(struct netdev *, int qid, struct dp_packet_batch *,
                      bool concurrent_txq);
bool netdev_vhost_large_buffer(void *aux, uint32_t qp, struct nvh_packet *,
                               uint32_t len);

/* Buffers (vhost-mempool.c): makes 'dev->mp' a pool for NUMA node
 * 'socket_id' (or SOCKET_ID_ANY) and the MTU and, with offloads,
 * 'dev->large_mp' a pool of large buffers for 'n_qp' queue pairs.  Returns
 * false, with 'dev->mempool_error' set, if the port lacks either: it cannot
 * move the guest's packets. */
bool netdev_vhost_update_mempool(struct netdev_vhost *dev, int socket_id,
                                 int n_qp)
    OVS_REQUIRES(dev->mutex);

/* Status and statistics (netdev-vhost-stats.c). */
int netdev_vhost_get_status(const struct netdev *, struct smap *);
int netdev_vhost_get_stats(const struct netdev *, struct netdev_stats *);
int netdev_vhost_get_custom_stats(const struct netdev *,
                                  struct netdev_custom_stats *);

/* Sums of the glue's own transmit counters (its drops and retries). */
struct netdev_vhost_sw_totals {
    uint64_t tx_dropped;
    uint64_t tx_retries;
    uint64_t tx_failure_drops;
    uint64_t tx_mtu_exceeded_drops;
    uint64_t tx_qos_drops;
    uint64_t rx_qos_drops;
    uint64_t tx_invalid_hwol_drops;
};
void netdev_vhost_sum_sw(const struct netdev_vhost *dev,
                         struct netdev_vhost_sw_totals *t);
/* The core keeps its counters across reconnections, so every vring is
 * summed, not only the ones in use now, with those of replaced core
 * devices. */
struct netdev_vhost_core_totals;
void netdev_vhost_sum_core(const struct netdev_vhost *dev,
                           struct netdev_vhost_core_totals *t)
    OVS_REQUIRES(dev->mutex);
const char *netdev_vhost_ring_type(uint64_t features);
const char *netdev_vhost_state_name(enum nvh_connection_state);
/* Gets the state of 'core' into 'info', its strings terminated. */
void netdev_vhost_get_info(struct nvh_device *core,
                           struct nvh_device_info *info);

/* Options (netdev-vhost-config.c). */
int netdev_vhost_get_config(const struct netdev *, struct smap *);
int netdev_vhost_set_config(struct netdev *, const struct smap *,
                            char **errp);

/* The backend of "dpdkvhostuserclient" and the ignored DPDK vhost knobs
 * (netdev-vhost-backend.c), main thread only. */
void netdev_vhost_backend_configure(const struct smap *ovs_other_config);
const char *netdev_vhost_backend_warning(void);

/* The appctl commands (netdev-vhost-appctl.c). */
void netdev_vhost_unixctl_register(void);

/* netdev-vhost-handover.c: a planned restart ("ovs-appctl exit") hands
 * every connected port's connection to a keeper process, from which the
 * next ovs-vswitchd resumes it. */
const char *netdev_vhost_handover_socket(void);
/* ovs_plugin_exit(): the main loop has ended, the bridges still exist. */
void netdev_vhost_handover_exit(bool cleanup);
/* Holds 'dev''s rx (its guest's frames stay in its ring) until the main
 * loop runs again. */
void netdev_vhost_hold_rx(struct netdev_vhost *dev);
/* The main loop runs (netdev_class 'run'): releases the rx holds, and the
 * keeper's leftovers once the database's ports exist. */
void netdev_vhost_handover_run(void);
/* netdev_class 'wait': wakes the main loop when a hold runs out. */
void netdev_vhost_handover_wait(void);
/* ovs_plugin_configure(): the ports of this configuration are created in
 * this round of the main loop. */
void netdev_vhost_handover_configured(void);
/* Adds the counters of 'dev->core' to 'dev->retired_vring_stats'; call just
 * before destroying a core device the port lives on without. */
void netdev_vhost_retire_core_stats(struct netdev_vhost *dev)
    OVS_REQUIRES(dev->mutex);

#endif /* netdev-vhost-private.h */
