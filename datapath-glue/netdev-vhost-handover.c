/* SPDX-License-Identifier: Apache-2.0
 *
 * netdev-vhost-handover.c: restarting ovs-vswitchd without the guests
 * noticing.
 *
 * "ovs-appctl exit" (which "ovs-ctl stop" and "restart", and so the
 * systemd units, use) ends ovs-vswitchd's main loop; bridge_exit() then
 * removes every port from the datapath (the PMD threads stop polling it)
 * and closes it, and main() returns into exit().  So a port's connection is
 * handed over in two steps:
 *
 *   1. netdev_vhost_handover_port(), from the port's destruct: the port is
 *      quiet (no PMD polls it any more); its connection (socket, guest
 *      memory, eventfds, ring positions) goes into the pending handover
 *      instead of being closed (nvh.h, "Planned restart").
 *   2. At exit(), the pending connections go to netdev-vhost-keeper, which
 *      holds them until the next ovs-vswitchd creates the same ports and
 *      resumes them: the frontends' sockets are never closed, and QEMU and
 *      the guests see nothing but a pause.
 *
 * A port destroyed while the switch keeps running (deleted, or its type
 * changed) is not restarting: netdev_vhost_handover_run(), on the next
 * round of the main loop, closes what step 1 kept, and the frontend sees
 * the disconnect as it always did.  A crash, SIGKILL or SIGTERM never
 * reaches exit() through the main loop: the kernel closes the connections
 * and the frontends reconnect as after any disconnect.
 */

#include <config.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coverage.h"
#include "dirs.h"
#include "netdev-vhost-private.h"
#include "netdev-vhost/nvh.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/vlog.h"
#include "ovs-thread.h"
#include "util.h"

COVERAGE_DEFINE(vhost_handover_port);

/* How long the keeper holds a connection that no new process takes. */
#define HANDOVER_HOLD_MS 60000

static struct ovs_mutex handover_mutex = OVS_MUTEX_INITIALIZER;
/* Connections of ports destroyed since the main loop last ran. */
static struct nvh_handover *pending OVS_GUARDED_BY(handover_mutex);
static int n_pending OVS_GUARDED_BY(handover_mutex);
/* Ports whose connection could not be kept, and the last reason. */
static int n_refused OVS_GUARDED_BY(handover_mutex);
static char last_refusal[128] OVS_GUARDED_BY(handover_mutex);

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
    if (!dladdr((void *) netdev_vhost_handover_init, &info)
        || !info.dli_fname) {
        return NULL;
    }
    char *dir = dir_name(info.dli_fname);
    char *program = xasprintf("%s/netdev-vhost-keeper", dir);
    free(dir);
    return program;
}

void
netdev_vhost_handover_port(struct netdev_vhost *dev)
{
    char err[128] = "";
    int error;

    ovs_mutex_lock(&handover_mutex);
    if (!pending) {
        pending = nvh_handover_create();
    }
    error = nvh_device_hand_over(dev->core, pending, err, sizeof err);
    if (!error) {
        n_pending++;
    } else if (error != ENOTCONN) {
        n_refused++;
        snprintf(last_refusal, sizeof last_refusal, "%s: %s",
                 netdev_get_name(&dev->up), err);
    }
    ovs_mutex_unlock(&handover_mutex);
}

/* The main loop runs on: the ports destroyed since its last round were
 * deleted, not restarting.  Their frontends see the disconnect now. */
void
netdev_vhost_handover_run(void)
{
    ovs_mutex_lock(&handover_mutex);
    if (pending) {
        nvh_handover_finish(pending, NULL, NULL, 0, NULL, 0);
        pending = NULL;
    }
    n_pending = 0;
    n_refused = 0;
    ovs_mutex_unlock(&handover_mutex);
}

void
netdev_vhost_handover_wait(void)
{
    ovs_mutex_lock(&handover_mutex);
    if (pending) {
        poll_immediate_wake();
    }
    ovs_mutex_unlock(&handover_mutex);
}

static void
netdev_vhost_handover_at_exit(void)
{
    ovs_mutex_lock(&handover_mutex);
    if (n_refused) {
        VLOG_WARN("%d connections not handed over (last: %s): their "
                  "frontends reconnect after the restart", n_refused,
                  last_refusal);
    }
    if (!pending || !n_pending) {
        ovs_mutex_unlock(&handover_mutex);
        return;
    }

    char *program = keeper_program();
    char err[128] = "";
    int held = nvh_handover_finish(pending, program ? program : "",
                                   netdev_vhost_handover_socket(),
                                   HANDOVER_HOLD_MS, err, sizeof err);
    pending = NULL;
    if (held < 0) {
        VLOG_WARN("cannot hand %d connections to %s (%s): their frontends "
                  "reconnect after the restart", n_pending,
                  program ? program : "netdev-vhost-keeper", err);
    } else {
        COVERAGE_ADD(vhost_handover_port, held);
        VLOG_INFO("handed %d connections to the keeper at %s for the next "
                  "ovs-vswitchd", held, netdev_vhost_handover_socket());
    }
    n_pending = 0;
    free(program);
    ovs_mutex_unlock(&handover_mutex);
}

void
netdev_vhost_handover_init(void)
{
    atexit(netdev_vhost_handover_at_exit);
}
