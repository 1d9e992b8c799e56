/* SPDX-License-Identifier: Apache-2.0
 *
 * netdev-vhost-handover.c: restarting ovs-vswitchd without the guests
 * noticing.
 *
 * "ovs-appctl exit" (which "ovs-ctl stop" and "restart", and so the
 * systemd units, use) ends ovs-vswitchd's main loop; ovs_plugin_exit() runs
 * right after, before bridge_exit() dismantles the bridges (a hook of
 * ovs-patches/0004).  Every port still exists then, and the PMD threads
 * still poll.  netdev_vhost_handover_exit():
 *
 *   1. holds every port's rx: the PMD threads take no more frames from the
 *      guests (they stay in the guests' rings);
 *   2. waits for the PMD threads to pass a quiescent point, so the frames
 *      they took before are forwarded (bridge_exit() would drop them:
 *      it flushes the flows, then removes the ports one at a time);
 *   3. hands every connected port's connection (socket, guest memory,
 *      eventfds, ring positions) over (nvh.h, "Planned restart");
 *   4. starts netdev-vhost-keeper with them, which holds them until the
 *      next ovs-vswitchd creates the same ports and resumes them: the
 *      frontends' sockets are never closed, and QEMU and the guests see
 *      nothing but a pause.
 *
 * The next ovs-vswitchd resumes each port as it creates it (the core asks
 * the keeper first), then, once the ports of its first configuration with
 * DPDK exist, tells the keeper to close what nobody took (a port deleted
 * meanwhile, or served by another backend now): those frontends reconnect
 * at once instead of after the keeper's hold time.
 *
 * "exit --cleanup" asks for everything to be torn down: the connections
 * close as they always did.  So do they at a crash, SIGKILL or SIGTERM,
 * which never get there; the frontends reconnect to the next process.
 */

#include <config.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coverage.h"
#include "dirs.h"
#include "dpdk.h"
#include "netdev-vhost-private.h"
#include "netdev-vhost/nvh.h"
#include "ofproto/ofproto.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/vlog.h"
#include "ovs-rcu.h"
#include "timeval.h"
#include "ovs-thread.h"
#include "util.h"

COVERAGE_DEFINE(vhost_handover_port);

/* How long the keeper holds a connection that no new process takes. */
#define HANDOVER_HOLD_MS 60000

/* How long a resumed port's frames wait at most for the flows that
 * "ovs-ctl restart" saved to be restored (other_config:flow-restore-wait):
 * frames forwarded before would meet an incomplete flow table. */
#define RESUME_HOLD_MAX_MS 5000

/* Whether some port's rx is held (netdev_vhost_hold_rx()), and since when
 * (main thread). */
static atomic_bool rx_held = ATOMIC_VAR_INIT(false);
static long long int rx_held_since;
/* Main thread: the ports of a configuration with DPDK were created; the
 * keeper was told to release the rest. */
static bool configured;
static bool released;

/* The keeper's socket, in the run directory (both processes agree on it). */
const char *
netdev_vhost_handover_socket(void)
{
    static char *path;

    if (!path) {
        path = xasprintf("%s/netdev-vhost.handover", ovs_rundir());
    }
    return path;
}

/* netdev-vhost-keeper, installed beside this plugin; NETDEV_VHOST_KEEPER
 * names another. */
static char *
keeper_program(void)
{
    const char *env = getenv("NETDEV_VHOST_KEEPER");
    Dl_info info;

    if (env && env[0]) {
        return xstrdup(env);
    }
    if (!dladdr((void *) netdev_vhost_handover_exit, &info)
        || !info.dli_fname) {
        return NULL;
    }
    char *dir = dir_name(info.dli_fname);
    char *program = xasprintf("%s/netdev-vhost-keeper", dir);
    free(dir);
    return program;
}

void
netdev_vhost_hold_rx(struct netdev_vhost *dev)
{
    bool held;

    atomic_read_relaxed(&rx_held, &held);
    if (!held) {
        rx_held_since = time_msec();
    }
    atomic_store_relaxed(&dev->rx_hold, true);
    atomic_store_relaxed(&rx_held, true);
}

void
netdev_vhost_handover_wait(void)
{
    bool held;

    atomic_read_relaxed(&rx_held, &held);
    if (held) {
        poll_timer_wait_until(rx_held_since + RESUME_HOLD_MAX_MS);
    }
}

/* The main loop runs: the ports held after a resume go on, bridge_run()
 * has configured what it created in this round, unless OVS waits for its
 * flows to be restored ("ovs-ctl restart" saves them and sets
 * flow-restore-wait), for RESUME_HOLD_MAX_MS at most. */
void
netdev_vhost_handover_configured(void)
{
    if (dpdk_available()) {
        configured = true;
    }
}

void
netdev_vhost_handover_run(void)
{
    struct netdev_vhost *dev;
    bool held;

    if (configured && !released) {
        released = true;
        nvh_handover_release(netdev_vhost_handover_socket());
    }

    atomic_read_relaxed(&rx_held, &held);
    if (!held) {
        return;
    }
    if (ofproto_get_flow_restore_wait()
        && time_msec() < rx_held_since + RESUME_HOLD_MAX_MS) {
        return;
    }
    atomic_store_relaxed(&rx_held, false);
    ovs_mutex_lock(&netdev_vhost_list_mutex);
    LIST_FOR_EACH (dev, list_node, &netdev_vhost_list) {
        atomic_store_relaxed(&dev->rx_hold, false);
    }
    ovs_mutex_unlock(&netdev_vhost_list_mutex);
}

/* Hands every connected port's connection to 'h'; returns how many. */
static int
hand_over_ports(struct nvh_handover *h)
{
    struct netdev_vhost *dev;
    int n = 0;

    LIST_FOR_EACH (dev, list_node, &netdev_vhost_list) {
        char err[128] = "";
        int error;

        ovs_mutex_lock(&dev->mutex);
        error = dev->core ? nvh_device_hand_over(dev->core, h, err, sizeof err)
                          : ENOTCONN;
        ovs_mutex_unlock(&dev->mutex);
        if (!error) {
            n++;
        } else if (error != ENOTCONN) {
            VLOG_WARN("%s: connection not handed over (%s): its frontend "
                      "reconnects after the restart",
                      netdev_get_name(&dev->up), err);
        }
    }
    return n;
}

void
netdev_vhost_handover_exit(bool cleanup)
{
    struct netdev_vhost *dev;

    if (cleanup) {
        VLOG_INFO("exit --cleanup: the connections close");
        return;
    }

    ovs_mutex_lock(&netdev_vhost_list_mutex);
    LIST_FOR_EACH (dev, list_node, &netdev_vhost_list) {
        netdev_vhost_hold_rx(dev);
    }
    ovs_mutex_unlock(&netdev_vhost_list_mutex);
    /* Every PMD thread passes a quiescent point between two iterations:
     * the frames it took from a guest before the hold are forwarded. */
    ovsrcu_synchronize();

    struct nvh_handover *h = nvh_handover_create();
    ovs_mutex_lock(&netdev_vhost_list_mutex);
    int n_ports = hand_over_ports(h);
    ovs_mutex_unlock(&netdev_vhost_list_mutex);
    if (!n_ports) {
        nvh_handover_finish(h, NULL, NULL, 0, NULL, 0);
        return;
    }

    char *program = keeper_program();
    char err[128] = "";
    int held = nvh_handover_finish(h, program ? program : "",
                                   netdev_vhost_handover_socket(),
                                   HANDOVER_HOLD_MS, err, sizeof err);
    if (held < 0) {
        VLOG_WARN("cannot hand %d connections to %s (%s): their frontends "
                  "reconnect after the restart", n_ports,
                  program ? program : "netdev-vhost-keeper", err);
    } else {
        COVERAGE_ADD(vhost_handover_port, held);
        VLOG_INFO("handed %d connections to the keeper at %s for the next "
                  "ovs-vswitchd", held, netdev_vhost_handover_socket());
    }
    free(program);
}
