/* SPDX-License-Identifier: Apache-2.0 */
/*
 * "ovs-appctl vhostuserclient/show [PORT]" and
 * "ovs-appctl vhostuserclient/reconnect PORT": the operator's view of the
 * core's state of each "vhostuserclient" port, and a reconnect on demand.
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
#include "unixctl.h"
#include "util.h"

COVERAGE_DEFINE(vhost_client_reconnect_requested);

/* ---- ovs-appctl vhostuserclient/show [PORT] ------------------------- */

static void
netdev_vhost_show_vring(struct ds *s, const struct nvh_device_info *info,
                        struct nvh_device *core, uint32_t v)
{
    struct nvh_vring_position pos;
    struct nvh_vring_stats st;

    nvh_vring_get_stats(core, v, &st);
    nvh_vring_get_position(core, v, &pos);
    ds_put_format(s, "    vring %"PRIu32" (%s%"PRIu32"): size %d, %s%s\n",
                  v, v % 2 ? "transmitq" : "receiveq", v / 2,
                  info->vring_size[v],
                  info->vring_enabled[v] ? "enabled" : "disabled",
                  !pos.started ? ", stopped" : pos.broken ? ", broken" : "");
    if (pos.started && pos.packed) {
        /* Bit 15: the wrap counter (vhost-user.rst, packed ring base). */
        ds_put_format(s, "      avail position %"PRIu16" wrap %d, used "
                      "position %"PRIu16" wrap %d\n",
                      pos.last_avail_idx & 0x7fff, pos.last_avail_idx >> 15,
                      pos.used_idx & 0x7fff, pos.used_idx >> 15);
    } else if (pos.started) {
        ds_put_format(s, "      avail idx %"PRIu16" (driver's %"PRIu16
                      "), used idx %"PRIu16"\n", pos.last_avail_idx,
                      pos.driver_avail_idx, pos.used_idx);
    }
    ds_put_format(s, "      packets %"PRIu64", bytes %"PRIu64
                  ", guest notifications %"PRIu64", call stalls %"PRIu64"\n",
                  st.packets, st.bytes, st.guest_notifications,
                  st.call_stalls);
    ds_put_format(s, "      multicast %"PRIu64", broadcast %"PRIu64
                  ", sizes <64 %"PRIu64", 64 %"PRIu64", 65-127 %"PRIu64
                  ", 128-255 %"PRIu64", 256-511 %"PRIu64", 512-1023 %"PRIu64
                  ", 1024-1518 %"PRIu64", >=1519 %"PRIu64"\n",
                  st.multicast, st.broadcast, st.size_bins[0],
                  st.size_bins[1], st.size_bins[2], st.size_bins[3],
                  st.size_bins[4], st.size_bins[5], st.size_bins[6],
                  st.size_bins[7]);
    ds_put_format(s, "      invalid descriptors %"PRIu64,
                  st.invalid_descriptors);
    if (v % 2) {
        ds_put_format(s, ", undersized %"PRIu64", oversized %"PRIu64"\n",
                      st.undersized_frames, st.oversized_frames);
    } else {
        ds_put_format(s, ", ring full %"PRIu64", buffer too small %"PRIu64
                      "\n", st.ring_full, st.rx_buffer_too_small);
    }
}

/* Up to 8 regions (VHOST_USER_SET_MEM_TABLE's limit). */
#define NETDEV_VHOST_SHOW_REGIONS 8

static void
netdev_vhost_show_memory(struct ds *s, struct nvh_device *core)
{
    struct nvh_memory_region r[NETDEV_VHOST_SHOW_REGIONS];
    uint32_t n = nvh_device_get_memory(core, r, NETDEV_VHOST_SHOW_REGIONS);

    ds_put_format(s, "  memory regions: %"PRIu32"\n", n);
    for (uint32_t i = 0; i < n && i < NETDEV_VHOST_SHOW_REGIONS; i++) {
        ds_put_format(s, "    guest 0x%"PRIx64"-0x%"PRIx64" (%"PRIu64
                      " MiB), frontend address 0x%"PRIx64"\n",
                      r[i].guest_phys_addr,
                      r[i].guest_phys_addr + r[i].size - 1,
                      r[i].size >> 20, r[i].userspace_addr);
    }
}

/* The connection of a port that has a core device: its state, and what the
 * frontend negotiated and set up. */
static void
netdev_vhost_show_core(struct ds *s, struct nvh_device *core)
{
    struct nvh_device_info info;

    netdev_vhost_get_info(core, &info);
    ds_put_format(s, "  state: %s, connects: %"PRIu64", resumes: %"PRIu64
                  ", memory faults: %"PRIu64,
                  netdev_vhost_state_name(info.state), info.n_connects,
                  info.n_resumes, info.memory_faults);
    if (info.state != NVH_STATE_WAITING) {
        ds_put_format(s, ", connected for %"PRIu64" s",
                      info.connected_ms / 1000);
    }
    ds_put_char(s, '\n');
    if (info.last_error[0]) {
        ds_put_format(s, "  last error: %s\n", info.last_error);
    }
    if (info.warning[0]) {
        ds_put_format(s, "  warning: %s\n", info.warning);
    }
    if (info.state == NVH_STATE_WAITING) {
        return;
    }
    ds_put_format(s, "  features: 0x%016"PRIx64
                  ", protocol features: 0x%016"PRIx64
                  ", %s rings\n", info.features,
                  info.protocol_features,
                  netdev_vhost_ring_type(info.features));
    ds_put_format(s, "  queue pairs: %"PRIu32", vrings: %"PRIu32
                  ", guest mtu: %"PRIu32", guest numa: %d\n",
                  info.n_queue_pairs, info.n_vrings, info.mtu,
                  info.numa_node);
    netdev_vhost_show_memory(s, core);
    for (uint32_t v = netdev_vhost_next_vring(&info, 0);
         v < NVH_MAX_VRINGS; v = netdev_vhost_next_vring(&info, v + 1)) {
        netdev_vhost_show_vring(s, &info, core, v);
    }
}

/* The port's packet counters, as "ovs-vsctl get interface" shows them, and
 * the drops behind "dropped". */
static void
netdev_vhost_show_counters(struct ds *s, const struct netdev_vhost *dev)
    OVS_REQUIRES(dev->mutex)
{
    struct netdev_vhost_port_counters port;
    struct netdev_vhost_core_totals core;
    struct netdev_vhost_sw_totals sw;

    netdev_vhost_sum_sw(dev, &sw);
    netdev_vhost_sum_core(dev, &core);
    netdev_vhost_port_counters_get(&core, sw.tx_dropped, &port);
    ds_put_format(s, "  rx: packets %"PRIu64", bytes %"PRIu64
                  ", errors %"PRIu64"\n",
                  port.rx_packets, port.rx_bytes, port.rx_errors);
    ds_put_format(s, "  tx: packets %"PRIu64", bytes %"PRIu64
                  ", dropped %"PRIu64" (retries %"PRIu64
                  ", failure drops %"PRIu64", mtu exceeded drops %"PRIu64
                  ", guest buffer too small %"PRIu64")\n",
                  port.tx_packets, port.tx_bytes, port.tx_dropped,
                  sw.tx_retries, sw.tx_failure_drops,
                  sw.tx_mtu_exceeded_drops, core.tx.rx_buffer_too_small);
}

static void
netdev_vhost_show(struct ds *s, struct netdev_vhost *dev)
{
    ovs_mutex_lock(&dev->mutex);

    ds_put_format(s, "%s:\n", netdev_get_name(&dev->up));
    ds_put_format(s, "  type: %s, backend: netdev-vhost\n",
                  netdev_get_type(&dev->up));
    ds_put_format(s, "  socket: %s\n",
                  dev->requested_path ? dev->requested_path : "(none)");
    if (dev->config_error) {
        ds_put_format(s, "  config error: %s\n", dev->config_error);
    }
    ds_put_format(s, "  carrier: %s, resets: %lld, mtu: %d, numa: %d\n",
                  dev->ready ? "up" : "down", dev->carrier_resets, dev->mtu,
                  dev->numa_id);
    ds_put_format(s, "  queues: %d rx, %d tx\n",
                  dev->up.n_rxq, dev->up.n_txq);
    if (dev->core) {
        netdev_vhost_show_core(s, dev->core);
    } else {
        ds_put_format(s, "  state: %s\n",
                      dev->create_error ? dev->create_error : "not created");
    }
    netdev_vhost_show_counters(s, dev);

    ovs_mutex_unlock(&dev->mutex);
}

static void
netdev_vhost_unixctl_show(struct unixctl_conn *conn, int argc,
                          const char *argv[], void *aux OVS_UNUSED)
{
    const char *port = argc > 1 ? argv[1] : NULL;
    struct ds s = DS_EMPTY_INITIALIZER;
    struct netdev_vhost *dev;
    bool found = false;

    ovs_mutex_lock(&netdev_vhost_list_mutex);
    LIST_FOR_EACH (dev, list_node, &netdev_vhost_list) {
        if (!port || !strcmp(port, netdev_get_name(&dev->up))) {
            netdev_vhost_show(&s, dev);
            found = true;
        }
    }
    ovs_mutex_unlock(&netdev_vhost_list_mutex);

    if (port && !found) {
        unixctl_command_reply_error(conn, "no such vhostuserclient port");
    } else {
        unixctl_command_reply(conn, ds_cstr(&s));
    }
    ds_destroy(&s);
}

/* ---- ovs-appctl vhostuserclient/reconnect PORT --------------------- */

static void
netdev_vhost_unixctl_reconnect(struct unixctl_conn *conn,
                               int argc OVS_UNUSED, const char *argv[],
                               void *aux OVS_UNUSED)
{
    struct netdev_vhost *dev;
    const char *error = "no such vhostuserclient port";
    char *reply = NULL;

    ovs_mutex_lock(&netdev_vhost_list_mutex);
    LIST_FOR_EACH (dev, list_node, &netdev_vhost_list) {
        if (strcmp(argv[1], netdev_get_name(&dev->up))) {
            continue;
        }
        ovs_mutex_lock(&dev->mutex);
        if (!dev->core) {
            error = "port has no vhost-user client (see its status)";
        } else {
            /* The core calls back (state_changed) without taking any lock
             * of ours: safe while 'dev->mutex' is held. */
            bool dropped = nvh_device_reconnect(dev->core);

            COVERAGE_INC(vhost_client_reconnect_requested);
            VLOG_INFO("%s: reconnect requested%s", argv[1],
                      dropped ? "" : " (was not connected)");
            reply = xasprintf("%s: %s", argv[1],
                              dropped ? "disconnected, reconnecting"
                                      : "not connected, connecting");
            error = NULL;
        }
        ovs_mutex_unlock(&dev->mutex);
        break;
    }
    ovs_mutex_unlock(&netdev_vhost_list_mutex);

    if (error) {
        unixctl_command_reply_error(conn, error);
    } else {
        unixctl_command_reply(conn, reply);
    }
    free(reply);
}

void
netdev_vhost_unixctl_register(void)
{
    unixctl_command_register("vhostuserclient/show", "[port]", 0, 1,
                             netdev_vhost_unixctl_show, NULL);
    unixctl_command_register("vhostuserclient/reconnect", "port", 1, 1,
                             netdev_vhost_unixctl_reconnect, NULL);
}
