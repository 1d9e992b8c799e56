/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The "vhostuserclient" netdev class: a vhost-user port, in client mode,
 * backed by the netdev-vhost core (nvh.h) instead of DPDK's vhost library.
 *
 * Threads:
 *   - The main thread opens, configures, reconfigures and closes ports and
 *     reads their status and statistics.
 *   - PMD threads call rxq_recv and send (netdev-vhost-datapath.c).
 *     dpif-netdev stops them from using a port before it calls reconfigure
 *     or destruct, so the data path state of struct netdev_vhost ('core',
 *     'mp', 'tx_map', ...) changes only while nobody uses it.
 *   - The core's control thread calls netdev_vhost_state_changed(), which
 *     only asks OVS to reconfigure the port; reconfigure then reads the new
 *     state on the main thread.
 */

#include <config.h>

#include <errno.h>
#include <string.h>

#include <rte_memory.h>
#include <rte_mempool.h>
#include <rte_spinlock.h>

#include "coverage.h"
#include "dpdk.h"
#include "hash.h"
#include "netdev-provider.h"
#include "netdev-vhost-offload.h"
#include "netdev-vhost-private.h"
#include "netdev-vhost-qos.h"
#include "openvswitch/list.h"
#include "openvswitch/vlog.h"
#include "smap.h"
#include "userspace-tso.h"
#include "util.h"
#include "vhost-mempool.h"

COVERAGE_DEFINE(vhost_client_device_recreated);

struct ovs_mutex netdev_vhost_list_mutex = OVS_MUTEX_INITIALIZER;
struct ovs_list netdev_vhost_list OVS_GUARDED_BY(netdev_vhost_list_mutex)
    = OVS_LIST_INITIALIZER(&netdev_vhost_list);

void
netdev_vhost_status_changed_all(void)
{
    struct netdev_vhost *dev;

    ovs_mutex_lock(&netdev_vhost_list_mutex);
    LIST_FOR_EACH (dev, list_node, &netdev_vhost_list) {
        netdev_change_seq_changed(&dev->up);
    }
    ovs_mutex_unlock(&netdev_vhost_list_mutex);
}

/* Runs on the core's control thread: must be cheap and must not call back
 * into the core.  Asking for a reconfiguration is a seq change. */
static void
netdev_vhost_state_changed(void *aux)
{
    struct netdev_vhost *dev = aux;

    netdev_request_reconfigure(&dev->up);
}

/* Runs on the core's control thread: a line the core logs about this port
 * (nvh_device_config.log).  Its frontend can cause such lines at will
 * (reconnects, refused requests, SEND_RARP, SET_LOG_BASE, LOG_ALL toggles),
 * so they go through the port's own rate limits; OVS reports what a limit
 * held back ("Dropped N log messages ..."). */
static void
netdev_vhost_port_log(void *aux, enum nvh_log_level level, const char *message)
{
    struct netdev_vhost *dev = aux;
    const char *name = netdev_get_name(&dev->up);

    switch (level) {
    case NVH_LOG_ERR:
        VLOG_ERR_RL(&dev->warn_rl, "%s: %s", name, message);
        break;
    case NVH_LOG_WARN:
        VLOG_WARN_RL(&dev->warn_rl, "%s: %s", name, message);
        break;
    case NVH_LOG_INFO:
        VLOG_INFO_RL(&dev->info_rl, "%s: %s", name, message);
        break;
    case NVH_LOG_DBG:
    default:
        VLOG_DBG_RL(&dev->info_rl, "%s: %s", name, message);
        break;
    }
}

static struct netdev *
netdev_vhost_alloc(void)
{
    struct netdev_vhost *dev = xzalloc_cacheline(sizeof *dev);

    return &dev->up;
}

static void
netdev_vhost_dealloc(struct netdev *netdev)
{
    free_cacheline(netdev_vhost_cast(netdev));
}

/* Needs no DPDK: set_config reports a missing DPDK with a clear message. */
static int
netdev_vhost_construct(struct netdev *netdev)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);

    ovs_mutex_init(&dev->mutex);
    /* Each port's first 20 lines of each kind show; then 10 INFO and 5 WARN
     * lines a minute. */
    dev->info_rl = (struct vlog_rate_limit) VLOG_RATE_LIMIT_INIT(10, 20);
    dev->warn_rl = (struct vlog_rate_limit) VLOG_RATE_LIMIT_INIT(5, 20);
    ovs_mutex_lock(&dev->mutex);
    dev->mtu = dev->requested_mtu = ETH_PAYLOAD_MAX;
    dev->max_packet_len = NETDEV_VHOST_MTU_TO_FRAME_LEN(dev->mtu);
    dev->flags = NETDEV_UP | NETDEV_PROMISC;
    ovs_mutex_unlock(&dev->mutex);
    /* userspace-tso-enable is read once at startup, as by OVS: the features
     * a port offers stay the same for the process lifetime. */
    dev->offloads = userspace_tso_enabled();
    netdev_vhost_offload_init(netdev);
    atomic_init(&dev->admin_up, true);
    atomic_init(&dev->rx_hold, false);
    atomic_init(&dev->tx_retries_max, NETDEV_VHOST_TX_RETRIES_DEF);
    for (int i = 0; i < NVH_MAX_QUEUE_PAIRS; i++) {
        dev->tx_map[i] = -1;
        atomic_init(&dev->rxq_enabled[i], false);
        rte_spinlock_init(&dev->tx_lock[i].lock);
    }
    netdev->n_rxq = 1;
    netdev->n_txq = 1;

    ovs_mutex_lock(&netdev_vhost_list_mutex);
    ovs_list_push_back(&netdev_vhost_list, &dev->list_node);
    ovs_mutex_unlock(&netdev_vhost_list_mutex);

    netdev_request_reconfigure(netdev);
    return 0;
}

static void
netdev_vhost_destruct(struct netdev *netdev)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);

    ovs_mutex_lock(&netdev_vhost_list_mutex);
    ovs_list_remove(&dev->list_node);
    ovs_mutex_unlock(&netdev_vhost_list_mutex);

    if (dev->core) {
        nvh_device_destroy(dev->core);
        dev->core = NULL;
    }
    vhost_mempool_unref(dev->mp);
    dev->mp = NULL;
    vhost_mempool_unref(dev->large_mp);
    dev->large_mp = NULL;
    dev->large = NULL;
    netdev_vhost_qos_destruct(dev);

    ovs_mutex_lock(&dev->mutex);
    free(dev->path);
    free(dev->requested_path);
    free(dev->create_error);
    free(dev->config_error);
    free(dev->mempool_error);
    ovs_mutex_unlock(&dev->mutex);
    ovs_mutex_destroy(&dev->mutex);
}

/* Destroys the core device if the path changed, and creates it if needed.
 * A failure to create is logged and shown in the status; the port stays
 * (without carrier) until the configuration changes. */
static void
netdev_vhost_apply_path(struct netdev_vhost *dev)
    OVS_REQUIRES(dev->mutex)
{
    const char *name = netdev_get_name(&dev->up);

    if (dev->core && !nullable_string_is_equal(dev->path,
                                               dev->requested_path)) {
        VLOG_INFO("%s: vhost-server-path changed, reconnecting", name);
        COVERAGE_INC(vhost_client_device_recreated);
        netdev_vhost_retire_core_stats(dev);
        nvh_device_destroy(dev->core);
        dev->core = NULL;
    }
    if (dev->core || !dev->requested_path) {
        return;
    }

    struct nvh_device_config cfg = {
        .socket_path = dev->requested_path,
        .max_queue_pairs = NVH_MAX_QUEUE_PAIRS,
        .state_changed = netdev_vhost_state_changed,
        .aux = dev,
        .offloads = dev->offloads,
        .max_guest_memory = dev->max_guest_memory,
        .log = netdev_vhost_port_log,
        .large_buffer = dev->offloads ? netdev_vhost_large_buffer : NULL,
        .handover_socket = netdev_vhost_handover_socket(),
    };
    char err[256] = "";
    int error;

    free(dev->path);
    dev->path = NULL;
    free(dev->create_error);
    dev->create_error = NULL;

    error = nvh_device_create(&cfg, &dev->core, err, sizeof err);
    if (error) {
        dev->core = NULL;
        dev->create_error = xasprintf("%s (%s)", err[0] ? err : "failed",
                                      ovs_strerror(error));
        VLOG_ERR("%s: cannot create vhost-user client for socket %s: %s",
                 name, dev->requested_path, dev->create_error);
        return;
    }
    dev->path = xstrdup(dev->requested_path);

    struct nvh_device_info info;
    nvh_device_get_info(dev->core, &info);
    if (info.n_resumes) {
        /* The guest's frames queued during the restart wait in its ring
         * until the main loop has run once more: this port's datapath port
         * exists now, but an upcall for it fails until ofproto has
         * configured it (later in this bridge_run()). */
        netdev_vhost_hold_rx(dev);
        VLOG_INFO("%s: vhost-user client resumed its connection to %s",
                  name, dev->path);
        return;
    }
    VLOG_INFO("%s: vhost-user client created, connecting to %s",
              name, dev->path);
}

/* Maps each OVS txq onto an enabled guest queue pair: itself if enabled,
 * else the enabled pairs in turn; -1 (drop) if none is. */
static void
netdev_vhost_map_txqs(struct netdev_vhost *dev,
                      const struct nvh_device_info *info, bool ready)
{
    int enabled[NVH_MAX_QUEUE_PAIRS];
    int n_enabled = 0;
    int n_txq = dev->up.n_txq;

    for (int i = 0; i < n_txq; i++) {
        if (ready && info->vring_enabled[2 * i]) {
            enabled[n_enabled++] = i;
        }
    }

    dev->tx_map_shared = false;
    for (int i = 0, k = 0; i < NVH_MAX_QUEUE_PAIRS; i++) {
        if (i >= n_txq || !n_enabled) {
            dev->tx_map[i] = -1;
        } else if (ready && info->vring_enabled[2 * i]) {
            dev->tx_map[i] = i;
        } else {
            dev->tx_map[i] = enabled[k];
            k = (k + 1) % n_enabled;
            dev->tx_map_shared = true;
        }
    }
}

/* Gets the state of 'dev->core' into 'info', or that of a connection not
 * yet made if the port has no core device. */
static void
netdev_vhost_reconfigure_info(const struct netdev_vhost *dev,
                              struct nvh_device_info *info)
    OVS_REQUIRES(dev->mutex)
{
    if (dev->core) {
        nvh_device_get_info(dev->core, info);
    } else {
        memset(info, 0, sizeof *info);
        info->state = NVH_STATE_WAITING;
        info->numa_node = -1;
    }
}

/* One rxq and one txq per queue pair of the guest (at least one), each rxq
 * enabled when the guest enabled its transmitq.  Returns the number of
 * queue pairs. */
static int
netdev_vhost_reconfigure_queues(struct netdev_vhost *dev,
                                const struct nvh_device_info *info,
                                bool ready)
    OVS_REQUIRES(dev->mutex)
{
    int n_qp = MIN(MAX(info->n_queue_pairs, 1), NVH_MAX_QUEUE_PAIRS);

    dev->up.n_rxq = n_qp;
    dev->up.n_txq = n_qp;
    for (int i = 0; i < NVH_MAX_QUEUE_PAIRS; i++) {
        atomic_store_relaxed(&dev->rxq_enabled[i],
                             ready && i < n_qp
                             && info->vring_enabled[2 * i + 1]);
    }
    netdev_vhost_map_txqs(dev, info, ready);
    return n_qp;
}

/* Sets the carrier to 'ready', counting and logging its changes. */
static void
netdev_vhost_update_carrier(struct netdev_vhost *dev,
                            const struct nvh_device_info *info, bool ready,
                            int n_qp)
    OVS_REQUIRES(dev->mutex)
{
    if (ready != dev->ready) {
        dev->carrier_resets++;
        VLOG_INFO_RL(&dev->info_rl, "%s: link %s (%d queue pair%s)",
                     netdev_get_name(&dev->up), ready ? "up" : "down", n_qp,
                     n_qp > 1 ? "s" : "");
    } else if (ready && info->n_connects != dev->n_connects) {
        /* Down and up again between two reconfigurations. */
        dev->carrier_resets += 2;
    }
    dev->ready = ready;
    dev->n_connects = info->n_connects;
}

static int
netdev_vhost_reconfigure(struct netdev *netdev)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);
    struct nvh_device_info info;
    bool ready;
    int n_qp;

    if (!dpdk_available()) {
        return EOPNOTSUPP;
    }

    ovs_mutex_lock(&dev->mutex);

    netdev_vhost_apply_path(dev);
    netdev_vhost_reconfigure_info(dev, &info);
    ready = info.state == NVH_STATE_READY;
    dev->rx_offloads = dev->offloads
                       && (info.features & NETDEV_VHOST_HOST_OFFLOAD_FEATURES);

    dev->mtu = dev->requested_mtu;
    dev->max_packet_len = NETDEV_VHOST_MTU_TO_FRAME_LEN(dev->mtu);

    n_qp = netdev_vhost_reconfigure_queues(dev, &info, ready);

    if (info.numa_node >= 0) {
        dev->numa_id = info.numa_node;
    }
    if (ready && !netdev_vhost_update_mempool(
                     dev, info.numa_node >= 0 ? info.numa_node : SOCKET_ID_ANY,
                     n_qp)) {
        /* Without buffers the port would black-hole the guest's packets:
         * no carrier, and "status" says why. */
        ready = false;
        n_qp = netdev_vhost_reconfigure_queues(dev, &info, false);
    }
    netdev_vhost_update_carrier(dev, &info, ready, n_qp);

    ovs_mutex_unlock(&dev->mutex);

    /* Carrier or enabled rxqs may have changed. */
    netdev_change_seq_changed(netdev);
    return 0;
}

static int
netdev_vhost_get_numa_id(const struct netdev *netdev)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);
    int numa_id;

    ovs_mutex_lock(&dev->mutex);
    numa_id = dev->numa_id;
    ovs_mutex_unlock(&dev->mutex);

    return numa_id;
}

static int
netdev_vhost_set_etheraddr(struct netdev *netdev, const struct eth_addr mac)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);

    ovs_mutex_lock(&dev->mutex);
    if (!eth_addr_equals(dev->hwaddr, mac)) {
        dev->hwaddr = mac;
        netdev_change_seq_changed(netdev);
    }
    ovs_mutex_unlock(&dev->mutex);

    return 0;
}

static int
netdev_vhost_get_etheraddr(const struct netdev *netdev, struct eth_addr *mac)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);

    ovs_mutex_lock(&dev->mutex);
    *mac = dev->hwaddr;
    ovs_mutex_unlock(&dev->mutex);

    return 0;
}

static int
netdev_vhost_get_mtu(const struct netdev *netdev, int *mtup)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);

    ovs_mutex_lock(&dev->mutex);
    *mtup = dev->mtu;
    ovs_mutex_unlock(&dev->mutex);

    return 0;
}

static int
netdev_vhost_set_mtu(struct netdev *netdev, int mtu)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);

    if (mtu < NETDEV_VHOST_MIN_MTU
        || NETDEV_VHOST_MTU_TO_MAX_FRAME_LEN(mtu)
           > NETDEV_VHOST_MAX_FRAME_LEN) {
        VLOG_WARN("%s: unsupported MTU %d", netdev_get_name(netdev), mtu);
        return EINVAL;
    }

    ovs_mutex_lock(&dev->mutex);
    if (dev->requested_mtu != mtu) {
        dev->requested_mtu = mtu;
        netdev_request_reconfigure(netdev);
    }
    ovs_mutex_unlock(&dev->mutex);

    return 0;
}

/* Like netdev-dpdk: a stable 24-bit value derived from the name. */
static int
netdev_vhost_get_ifindex(const struct netdev *netdev)
{
    return hash_string(netdev_get_name(netdev), 0) % 0xfffffe + 1;
}

static int
netdev_vhost_get_carrier(const struct netdev *netdev, bool *carrier)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);

    ovs_mutex_lock(&dev->mutex);
    *carrier = dev->ready;
    ovs_mutex_unlock(&dev->mutex);

    return 0;
}

static long long int
netdev_vhost_get_carrier_resets(const struct netdev *netdev)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);
    long long int resets;

    ovs_mutex_lock(&dev->mutex);
    resets = dev->carrier_resets;
    ovs_mutex_unlock(&dev->mutex);

    return resets;
}

static int
netdev_vhost_set_miimon_interval(struct netdev *netdev OVS_UNUSED,
                                 long long int interval OVS_UNUSED)
{
    return EOPNOTSUPP;
}

static int
netdev_vhost_update_flags(struct netdev *netdev, enum netdev_flags off,
                          enum netdev_flags on, enum netdev_flags *old_flagsp)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);

    if ((off | on) & ~(NETDEV_UP | NETDEV_PROMISC)) {
        return EINVAL;
    }

    ovs_mutex_lock(&dev->mutex);
    *old_flagsp = dev->flags;
    dev->flags |= on;
    dev->flags &= ~off;
    if ((dev->flags ^ *old_flagsp) & NETDEV_UP) {
        atomic_store_relaxed(&dev->admin_up,
                             (dev->flags & NETDEV_UP) != 0);
        netdev_change_seq_changed(netdev);
    }
    ovs_mutex_unlock(&dev->mutex);

    return 0;
}

static void
netdev_vhost_run(const struct netdev_class *class OVS_UNUSED)
{
    netdev_vhost_handover_run();
}

static void
netdev_vhost_wait(const struct netdev_class *class OVS_UNUSED)
{
    netdev_vhost_handover_wait();
}

const struct netdev_class netdev_vhost_client_class = {
    .type = "vhostuserclient",
    .is_pmd = true,

    .run = netdev_vhost_run,
    .wait = netdev_vhost_wait,

    .alloc = netdev_vhost_alloc,
    .construct = netdev_vhost_construct,
    .destruct = netdev_vhost_destruct,
    .dealloc = netdev_vhost_dealloc,
    .get_config = netdev_vhost_get_config,
    .set_config = netdev_vhost_set_config,
    .reconfigure = netdev_vhost_reconfigure,
    .get_numa_id = netdev_vhost_get_numa_id,

    .send = netdev_vhost_send,
    .set_etheraddr = netdev_vhost_set_etheraddr,
    .get_etheraddr = netdev_vhost_get_etheraddr,
    .get_mtu = netdev_vhost_get_mtu,
    .set_mtu = netdev_vhost_set_mtu,
    .get_ifindex = netdev_vhost_get_ifindex,
    .get_carrier = netdev_vhost_get_carrier,
    .get_carrier_resets = netdev_vhost_get_carrier_resets,
    .set_miimon_interval = netdev_vhost_set_miimon_interval,
    .update_flags = netdev_vhost_update_flags,

    .set_policing = netdev_vhost_set_policing,
    .get_qos_types = netdev_vhost_get_qos_types,
    .get_qos = netdev_vhost_get_qos,
    .set_qos = netdev_vhost_set_qos,
    .get_queue = netdev_vhost_get_queue,
    .set_queue = netdev_vhost_set_queue,
    .delete_queue = netdev_vhost_delete_queue,
    .get_queue_stats = netdev_vhost_get_queue_stats,
    .queue_dump_start = netdev_vhost_queue_dump_start,
    .queue_dump_next = netdev_vhost_queue_dump_next,
    .queue_dump_done = netdev_vhost_queue_dump_done,

    .get_stats = netdev_vhost_get_stats,
    .get_custom_stats = netdev_vhost_get_custom_stats,
    .get_status = netdev_vhost_get_status,

    .rxq_alloc = netdev_vhost_rxq_alloc,
    .rxq_construct = netdev_vhost_rxq_construct,
    .rxq_destruct = netdev_vhost_rxq_destruct,
    .rxq_dealloc = netdev_vhost_rxq_dealloc,
    .rxq_recv = netdev_vhost_rxq_recv,
    .rxq_enabled = netdev_vhost_rxq_enabled,
};
