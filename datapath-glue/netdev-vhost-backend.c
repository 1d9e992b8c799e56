/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which backend serves the "dpdkvhostuserclient" ports, and the knobs of
 * DPDK's vhost library that ports of this plugin ignore.
 *
 * other_config:vhost-backend (Open_vSwitch table):
 *
 *   dpdk (default, or absent)
 *       DPDK's vhost library serves dpdkvhostuserclient ports, exactly as
 *       without this plugin.
 *   netdev-vhost
 *       This plugin serves them: the type name stays, so that OpenStack's
 *       os-vif, OVN-based CNIs and operators' scripts, which all write
 *       type=dpdkvhostuserclient, get this backend without a change.
 *
 * DPDK registers its netdev classes in dpdk_init(), when the database first
 * says dpdk-init=true; the patched ovs-vswitchd then calls
 * ovs_plugin_configure() (plugin.c) before the ports of that configuration
 * are created.  That is where the choice is made, once: DPDK's
 * dpdkvhostuserclient class is unregistered (nothing can use it yet) and
 * this plugin's class is registered again under that name.  Like dpdk-init,
 * a later change takes effect when ovs-vswitchd restarts: a type cannot
 * change providers while ports of it exist.
 */

#include <config.h>

#include <string.h>

#include "dpdk.h"
#include "netdev-provider.h"
#include "netdev-vhost-private.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/vlog.h"
#include "smap.h"
#include "util.h"

#define BACKEND_KEY "vhost-backend"
#define BACKEND_DPDK "dpdk"
#define BACKEND_OURS "netdev-vhost"
#define DPDK_CLIENT_TYPE "dpdkvhostuserclient"

/* netdev_vhost_client_class under DPDK's type name, once claimed. */
static struct netdev_class netdev_vhost_dpdk_client_class;

/* Main thread only (ovs_plugin_configure() and the status and appctl
 * callbacks all run there). */
static bool backend_decided;
static bool backend_ours;
static char *backend_value;          /* other_config:vhost-backend as last
                                      * seen, NULL if absent. */
static char *ignored_knobs_warning;  /* status:warning text, or NULL. */
/* other_config as last handled: bridge_run() calls the hook on every pass of
 * the main loop, and nothing is to be done unless it changed. */
static struct smap last_other_config = SMAP_INITIALIZER(&last_other_config);

/* DPDK vhost knobs of the Open_vSwitch table that these ports do not
 * honour, each with what it means for a port of this plugin. */
struct ignored_knob {
    const char *key;
    const char *consequence;
    bool affects_ports;               /* Whether ports of this plugin would
                                       * honour it on DPDK's backend. */
    char *value;                      /* As last seen, NULL if absent. */
};

static struct ignored_knob ignored_knobs[] = {
    { "vhost-iommu-support",
      "VIRTIO_F_IOMMU_PLATFORM is not offered: a guest started with "
      "iommu_platform=on cannot use these ports", true, NULL },
    { "vhost-postcopy-support",
      "post-copy live migration is not offered (pre-copy is)", true, NULL },
    /* Only server ports (dpdkvhostuser), which DPDK keeps serving, place
     * their sockets there; said once, since an operator moving to this
     * backend may expect it to apply. */
    { "vhost-sock-dir",
      "it places only dpdkvhostuser (server) sockets, which DPDK's vhost "
      "library still serves; client ports use options:vhost-server-path as "
      "given", false, NULL },
};

/* Whether 'value' of knob 'key' asks for something: the boolean knobs when
 * true, vhost-sock-dir whenever it is set. */
static bool
knob_in_effect(const char *key, const char *value)
{
    if (!value) {
        return false;
    }
    return strcmp(key, "vhost-sock-dir") ? !strcmp(value, "true") : true;
}

/* Logs each ignored knob once per change of its value, and rebuilds the
 * warning that every port shows while any of them is set. */
static void
netdev_vhost_backend_check_knobs(const struct smap *other_config)
{
    struct ds warning = DS_EMPTY_INITIALIZER;

    for (size_t i = 0; i < ARRAY_SIZE(ignored_knobs); i++) {
        struct ignored_knob *k = &ignored_knobs[i];
        const char *value = smap_get(other_config, k->key);
        bool on = knob_in_effect(k->key, value);

        if (!k->affects_ports && !backend_ours) {
            on = false;
        }
        if (!nullable_string_is_equal(value, k->value)) {
            if (on) {
                VLOG_WARN("other_config:%s=%s is ignored by %s ports: %s",
                          k->key, value, backend_ours
                          ? "vhostuserclient and dpdkvhostuserclient"
                          : "vhostuserclient", k->consequence);
            }
            free(k->value);
            k->value = nullable_xstrdup(value);
        }
        if (on && k->affects_ports) {
            ds_put_format(&warning, "%sother_config:%s=%s ignored: %s",
                          warning.length ? "; " : "", k->key, value,
                          k->consequence);
        }
    }
    if (!nullable_string_is_equal(warning.length ? ds_cstr(&warning) : NULL,
                                  ignored_knobs_warning)) {
        free(ignored_knobs_warning);
        ignored_knobs_warning = warning.length ? ds_steal_cstr(&warning)
                                               : NULL;
        /* OVS refreshes a port's status column only when the port says it
         * changed. */
        netdev_vhost_status_changed_all();
    }
    ds_destroy(&warning);
}

const char *
netdev_vhost_backend_warning(void)
{
    return ignored_knobs_warning;
}

/* Serves DPDK_CLIENT_TYPE with this plugin's class.  Returns true if it
 * does. */
static bool
netdev_vhost_backend_claim(void)
{
    int error = netdev_unregister_provider(DPDK_CLIENT_TYPE);

    if (error) {
        VLOG_ERR("other_config:"BACKEND_KEY"="BACKEND_OURS": cannot take "
                 DPDK_CLIENT_TYPE" from DPDK's vhost library (%s); DPDK keeps "
                 "serving it", ovs_strerror(error));
        return false;
    }
    netdev_vhost_dpdk_client_class = netdev_vhost_client_class;
    netdev_vhost_dpdk_client_class.type = DPDK_CLIENT_TYPE;
    error = netdev_register_provider(&netdev_vhost_dpdk_client_class);
    if (error) {
        VLOG_ERR("other_config:"BACKEND_KEY"="BACKEND_OURS": cannot register "
                 DPDK_CLIENT_TYPE" (%s): no backend serves the type until "
                 "ovs-vswitchd restarts", ovs_strerror(error));
        return false;
    }
    return true;
}

/* Decides, once DPDK's classes exist, which backend serves
 * DPDK_CLIENT_TYPE, and says so in the log. */
static void
netdev_vhost_backend_decide(const char *value)
{
    bool want_ours = value && !strcmp(value, BACKEND_OURS);

    if (value && !want_ours && strcmp(value, BACKEND_DPDK)) {
        VLOG_WARN("other_config:"BACKEND_KEY"=\"%s\" is neither \""
                  BACKEND_DPDK"\" nor \""BACKEND_OURS"\": using \""
                  BACKEND_DPDK"\"", value);
    }
    backend_decided = true;
    backend_ours = want_ours && netdev_vhost_backend_claim();
    if (backend_ours) {
        VLOG_INFO(DPDK_CLIENT_TYPE" ports are served by netdev-vhost "
                  "(other_config:"BACKEND_KEY"="BACKEND_OURS")");
    } else {
        VLOG_INFO(DPDK_CLIENT_TYPE" ports are served by DPDK's vhost library "
                  "(other_config:"BACKEND_KEY"=%s)",
                  value ? value : "(not set)");
    }
}

void
netdev_vhost_backend_configure(const struct smap *other_config)
{
    const char *value = smap_get(other_config, BACKEND_KEY);

    /* Before dpdk_init() has registered DPDK's classes there is nothing to
     * take over, and without DPDK no vhost port works at all. */
    if (!dpdk_available()) {
        return;
    }
    if (backend_decided && smap_equal(other_config, &last_other_config)) {
        return;
    }
    if (!backend_decided) {
        netdev_vhost_backend_decide(value);
        backend_value = nullable_xstrdup(value);
    } else if (!nullable_string_is_equal(value, backend_value)) {
        bool want_ours = value && !strcmp(value, BACKEND_OURS);
        const char *serving = backend_ours ? "netdev-vhost"
                                           : "DPDK's vhost library";

        if (want_ours != backend_ours) {
            VLOG_WARN("other_config:"BACKEND_KEY" changed to \"%s\": "
                      DPDK_CLIENT_TYPE" ports stay on %s until ovs-vswitchd "
                      "restarts", value ? value : "", serving);
        } else {
            VLOG_INFO("other_config:"BACKEND_KEY" changed to \"%s\": "
                      DPDK_CLIENT_TYPE" ports are served by %s, as in "
                      "effect", value ? value : "", serving);
        }
        free(backend_value);
        backend_value = nullable_xstrdup(value);
    }
    netdev_vhost_backend_check_knobs(other_config);
    smap_destroy(&last_other_config);
    smap_clone(&last_other_config, other_config);
}
