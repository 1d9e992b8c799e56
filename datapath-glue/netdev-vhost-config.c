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

/* The parsed options of one set_config call. */
struct netdev_vhost_options {
    const char *path;
    int tx_retries;
    unsigned long long int max_memory_mb;
};

/* Checks 'args' into 'opts'.  Returns NULL if every option is valid,
 * otherwise why not, as a malloc()'d string. */
static char *
netdev_vhost_parse_options(const char *name, const struct smap *args,
                           struct netdev_vhost_options *opts)
{
    const char *s;

    opts->tx_retries = NETDEV_VHOST_TX_RETRIES_DEF;
    opts->max_memory_mb = 0;
    opts->path = smap_get(args, "vhost-server-path");
    if (!opts->path || !opts->path[0]) {
        return xasprintf("%s: option vhost-server-path is required (the "
                         "unix socket the VM or frontend listens on)", name);
    }
    if (strlen(opts->path) > NVH_MAX_SOCKET_PATH) {
        return xasprintf("%s: vhost-server-path is %"PRIuSIZE" bytes long, "
                         "more than the %d a unix socket path can hold",
                         name, strlen(opts->path), NVH_MAX_SOCKET_PATH);
    }

    s = smap_get(args, "tx-retries-max");
    if (s && (!str_to_int(s, 10, &opts->tx_retries)
              || opts->tx_retries < NETDEV_VHOST_TX_RETRIES_MIN
              || opts->tx_retries > NETDEV_VHOST_TX_RETRIES_MAX)) {
        return xasprintf("%s: tx-retries-max \"%s\" is not an integer "
                         "between %d and %d", name, s,
                         NETDEV_VHOST_TX_RETRIES_MIN,
                         NETDEV_VHOST_TX_RETRIES_MAX);
    }

    s = smap_get(args, "max-guest-memory-mb");
    if (s && (!str_to_ullong(s, 10, &opts->max_memory_mb)
              || opts->max_memory_mb < NETDEV_VHOST_MAX_GUEST_MEMORY_MB_MIN
              || opts->max_memory_mb > NETDEV_VHOST_MAX_GUEST_MEMORY_MB_MAX)) {
        return xasprintf("%s: max-guest-memory-mb \"%s\" is not an integer "
                         "between %d and %"PRIu64, name, s,
                         NETDEV_VHOST_MAX_GUEST_MEMORY_MB_MIN,
                         NETDEV_VHOST_MAX_GUEST_MEMORY_MB_MAX);
    }
    return NULL;
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

/* Makes 'opts' the port's configuration. */
static void
netdev_vhost_apply_options(struct netdev_vhost *dev,
                           const struct netdev_vhost_options *opts)
    OVS_REQUIRES(dev->mutex)
{
    int cur_retries;

    netdev_vhost_set_max_guest_memory(dev, (uint64_t) opts->max_memory_mb << 20);
    if (!nullable_string_is_equal(opts->path, dev->requested_path)) {
        free(dev->requested_path);
        dev->requested_path = xstrdup(opts->path);
        netdev_request_reconfigure(&dev->up);
    }
    atomic_read_relaxed(&dev->tx_retries_max, &cur_retries);
    if (opts->tx_retries != cur_retries) {
        atomic_store_relaxed(&dev->tx_retries_max, opts->tx_retries);
        VLOG_INFO("%s: tx-retries-max set to %d", netdev_get_name(&dev->up),
                  opts->tx_retries);
    }
}

/* Checks everything before changing anything.  An invalid configuration of
 * a new port is refused: OVS shows the reason in the Interface's "error"
 * column and retries at every database change.  A port that already runs
 * keeps its last valid configuration instead, and with it the guest's
 * traffic (a refusal would make OVS take the port out of the datapath until
 * the option is fixed); the reason is logged and shown in status:
 * config_error until a valid configuration replaces it.  Only while the
 * process runs: after a restart the port is new, and refused. */
int
netdev_vhost_set_config(struct netdev *netdev, const struct smap *args,
                        char **errp)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 20);
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);
    const char *name = netdev_get_name(netdev);
    struct netdev_vhost_options opts;
    char *refusal;
    int error = 0;

    if (!dpdk_available()) {
        refusal = xasprintf("%s: %s ports need other_config:dpdk-init=true",
                            name, netdev_get_type(netdev));
        VLOG_WARN_RL(&rl, "%s", refusal);
        *errp = refusal;
        return EOPNOTSUPP;
    }

    refusal = netdev_vhost_parse_options(name, args, &opts);
    ovs_mutex_lock(&dev->mutex);
    if (!refusal) {
        netdev_vhost_apply_options(dev, &opts);
        if (dev->config_error) {
            VLOG_INFO("%s: configuration valid again", name);
            free(dev->config_error);
            dev->config_error = NULL;
            netdev_change_seq_changed(netdev);   /* status:config_error */
        }
    } else if (dev->requested_path) {
        if (!nullable_string_is_equal(refusal, dev->config_error)) {
            VLOG_WARN("%s; the port keeps its last valid configuration "
                      "(a restart of ovs-vswitchd would refuse the port "
                      "until the option is fixed)", refusal);
            free(dev->config_error);
            dev->config_error = xstrdup(refusal);
            netdev_change_seq_changed(netdev);   /* status:config_error */
        }
        free(refusal);
    } else {
        /* OVS retries a refused configuration at every database change. */
        VLOG_WARN_RL(&rl, "%s", refusal);
        *errp = refusal;
        error = EINVAL;
    }
    ovs_mutex_unlock(&dev->mutex);

    return error;
}
