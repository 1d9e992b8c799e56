/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Entry point of the netdev-vhost plugin of ovs-vswitchd.
 *
 * The patched ovs-vswitchd loads the plugin, checks ovs_plugin_ovs_version
 * against its own version and calls ovs_plugin_init() before bridge_init(),
 * before DPDK is initialised: nothing here may touch DPDK.  DPDK starts
 * later, if other_config:dpdk-init=true; ports check for it when they are
 * configured.  ovs_plugin_configure() is called with the Open_vSwitch
 * table's other_config every time the database is read, after DPDK's
 * initialisation and before ports are created (netdev-vhost-backend.c).
 * ovs_plugin_exit() is called when the main loop ends for "ovs-appctl
 * exit", before the bridges are dismantled (netdev-vhost-handover.c).
 */

#include <config.h>

#define NETDEV_VHOST_DEFINES_VLOG_MODULE 1
#include "netdev-vhost-private.h"

#include "netdev-provider.h"
#include "netdev-vhost/nvh.h"
#include "openvswitch/vlog.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(netdev_vhost);

#define NETDEV_VHOST_PLUGIN_API __attribute__((visibility("default")))

/* The OVS version the plugin was built against. */
NETDEV_VHOST_PLUGIN_API const char ovs_plugin_ovs_version[] = VERSION;

NETDEV_VHOST_PLUGIN_API void ovs_plugin_init(void);
NETDEV_VHOST_PLUGIN_API void ovs_plugin_configure(const struct smap *);
NETDEV_VHOST_PLUGIN_API void ovs_plugin_exit(bool cleanup);

/* Core log lines about no one port (a port's own lines go to
 * netdev_vhost_port_log(), with its own rate limits), from any thread. */
static void
netdev_vhost_core_log(enum nvh_log_level level, const char *message)
{
    static struct vlog_rate_limit err_rl = VLOG_RATE_LIMIT_INIT(5, 20);
    static struct vlog_rate_limit warn_rl = VLOG_RATE_LIMIT_INIT(5, 20);

    switch (level) {
    case NVH_LOG_ERR:
        VLOG_ERR_RL(&err_rl, "%s", message);
        break;
    case NVH_LOG_WARN:
        VLOG_WARN_RL(&warn_rl, "%s", message);
        break;
    case NVH_LOG_INFO:
        VLOG_INFO("%s", message);
        break;
    case NVH_LOG_DBG:
    default:
        VLOG_DBG("%s", message);
        break;
    }
}

void
ovs_plugin_init(void)
{
    int error;

    nvh_set_log_handler(netdev_vhost_core_log);

    error = netdev_register_provider(&netdev_vhost_client_class);
    if (error) {
        VLOG_ERR("cannot register netdev type \"%s\": %s",
                 netdev_vhost_client_class.type, ovs_strerror(error));
        return;
    }
    netdev_vhost_unixctl_register();
    VLOG_INFO("netdev type \"%s\" registered", netdev_vhost_client_class.type);
}

void
ovs_plugin_configure(const struct smap *ovs_other_config)
{
    netdev_vhost_backend_configure(ovs_other_config);
    netdev_vhost_handover_configured();
}

/* ovs-vswitchd leaves its main loop to exit (ovs-patches/0004): hand the
 * connections over to the next one (netdev-vhost-handover.c). */
void
ovs_plugin_exit(bool cleanup)
{
    netdev_vhost_handover_exit(cleanup);
}
