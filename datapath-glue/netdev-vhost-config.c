/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Options of the "vhostuserclient" ports: the Interface's options column
 * (vhost-server-path, tx-retries-max) checked and applied, and the
 * configuration OVS shows back.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "dpdk.h"
#include "netdev-provider.h"
#include "netdev-vhost-private.h"
#include "openvswitch/vlog.h"
#include "smap.h"
#include "util.h"

int
netdev_vhost_get_config(const struct netdev *netdev, struct smap *args)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);

    ovs_mutex_lock(&dev->mutex);
    smap_add_format(args, "configured_rx_queues", "%d", netdev->n_rxq);
    smap_add_format(args, "configured_tx_queues", "%d", netdev->n_txq);
    smap_add_format(args, "mtu", "%d", dev->mtu);
    ovs_mutex_unlock(&dev->mutex);

    return 0;
}

/* Logs an option error and returns it to OVS through 'errp' (shown in the
 * Interface's "error" column). */
static int OVS_PRINTF_FORMAT(3, 4)
netdev_vhost_config_error(char **errp, int error, const char *format, ...)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 20);
    va_list args;
    char *msg;

    va_start(args, format);
    msg = xvasprintf(format, args);
    va_end(args);

    /* OVS retries a refused configuration at every database change. */
    VLOG_WARN_RL(&rl, "%s", msg);
    *errp = msg;
    return error;
}

/* Bounds the guest memory the port maps (0: the core's default); the core
 * applies it from the frontend's next memory table on. */
static void
netdev_vhost_set_max_guest_memory(struct netdev_vhost *dev, uint64_t bytes)
    OVS_REQUIRES(dev->mutex)
{
    if (bytes != dev->max_guest_memory) {
        dev->max_guest_memory = bytes;
        if (dev->core) {
            nvh_device_set_max_guest_memory(dev->core, bytes);
        }
        VLOG_INFO("%s: max-guest-memory-mb %s %"PRIu64,
                  netdev_get_name(&dev->up), bytes ? "set to" : "back to its default,",
                  (bytes ? bytes : NVH_DEFAULT_MAX_GUEST_MEMORY) >> 20);
    }
}

/* Checks everything before changing anything, so that an invalid
 * configuration leaves the previous one in place. */
int
netdev_vhost_set_config(struct netdev *netdev, const struct smap *args,
                        char **errp)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);
    const char *name = netdev_get_name(netdev);
    int tx_retries = NETDEV_VHOST_TX_RETRIES_DEF;
    unsigned long long int max_memory_mb = 0;
    const char *path, *s;
    int cur_retries;

    if (!dpdk_available()) {
        return netdev_vhost_config_error(
            errp, EOPNOTSUPP, "%s: vhostuserclient ports need "
            "other_config:dpdk-init=true", name);
    }

    path = smap_get(args, "vhost-server-path");
    if (!path || !path[0]) {
        return netdev_vhost_config_error(
            errp, EINVAL, "%s: option vhost-server-path is required (the "
            "unix socket the VM or frontend listens on)", name);
    }
    if (strlen(path) > NVH_MAX_SOCKET_PATH) {
        return netdev_vhost_config_error(
            errp, EINVAL, "%s: vhost-server-path is %"PRIuSIZE" bytes long, "
            "more than the %d a unix socket path can hold",
            name, strlen(path), NVH_MAX_SOCKET_PATH);
    }

    s = smap_get(args, "tx-retries-max");
    if (s && (!str_to_int(s, 10, &tx_retries)
              || tx_retries < NETDEV_VHOST_TX_RETRIES_MIN
              || tx_retries > NETDEV_VHOST_TX_RETRIES_MAX)) {
        return netdev_vhost_config_error(
            errp, EINVAL, "%s: tx-retries-max \"%s\" is not an integer "
            "between %d and %d", name, s, NETDEV_VHOST_TX_RETRIES_MIN,
            NETDEV_VHOST_TX_RETRIES_MAX);
    }

    s = smap_get(args, "max-guest-memory-mb");
    if (s && (!str_to_ullong(s, 10, &max_memory_mb)
              || max_memory_mb < NETDEV_VHOST_MAX_GUEST_MEMORY_MB_MIN
              || max_memory_mb > NETDEV_VHOST_MAX_GUEST_MEMORY_MB_MAX)) {
        return netdev_vhost_config_error(
            errp, EINVAL, "%s: max-guest-memory-mb \"%s\" is not an integer "
            "between %d and %"PRIu64, name, s,
            NETDEV_VHOST_MAX_GUEST_MEMORY_MB_MIN,
            NETDEV_VHOST_MAX_GUEST_MEMORY_MB_MAX);
    }

    ovs_mutex_lock(&dev->mutex);
    netdev_vhost_set_max_guest_memory(dev, (uint64_t) max_memory_mb << 20);
    if (!nullable_string_is_equal(path, dev->requested_path)) {
        free(dev->requested_path);
        dev->requested_path = xstrdup(path);
        netdev_request_reconfigure(netdev);
    }
    atomic_read_relaxed(&dev->tx_retries_max, &cur_retries);
    if (tx_retries != cur_retries) {
        atomic_store_relaxed(&dev->tx_retries_max, tx_retries);
        VLOG_INFO("%s: tx-retries-max set to %d", name, tx_retries);
    }
    ovs_mutex_unlock(&dev->mutex);

    return 0;
}
