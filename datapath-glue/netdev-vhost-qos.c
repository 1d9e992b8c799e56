/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ingress policing ("ingress_policing_rate", "ingress_policing_burst") and
 * the QoS entries of the "vhostuserclient" netdev class, with the semantics
 * of netdev-dpdk's: a colour blind srTCM meter (rte_meter) for policing,
 * the "egress-policer" and "trtcm-policer" QoS types, drops counted as
 * ovs_rx_qos_drops / ovs_tx_qos_drops and in rx_dropped / tx_dropped.
 */

#include <config.h>

#include <errno.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_meter.h>
#include <rte_spinlock.h>

#include "dp-packet.h"
#include "netdev-provider.h"
#include "netdev-vhost-private.h"
#include "netdev-vhost-qos.h"
#include "openvswitch/vlog.h"
#include "ovs-rcu.h"
#include "smap.h"
#include "sset.h"
#include "util.h"

/* Ingress policer: srTCM with EBS 0, so green or red. */
struct netdev_vhost_policer {
    struct rte_meter_srtcm_params params;
    struct rte_meter_srtcm meter;
    struct rte_meter_srtcm_profile profile;
    rte_spinlock_t lock;        /* The port's rxqs may be on several PMDs. */
};

static const struct netdev_vhost_qos_ops *const netdev_vhost_qos_types[] = {
    &netdev_vhost_egress_policer_ops,
    &netdev_vhost_trtcm_policer_ops,
};

/* Queue ids for a queue dump. */
struct netdev_vhost_queue_state {
    uint32_t *queues;
    size_t cur_queue;
    size_t n_queues;
};

/* ---- Ingress policing ------------------------------------------------- */

static struct netdev_vhost_policer *
netdev_vhost_policer_create(uint32_t rate, uint32_t burst)
{
    struct netdev_vhost_policer *policer = xzalloc(sizeof *policer);
    int err;

    rte_spinlock_init(&policer->lock);
    /* rte_meter counts bytes: convert kbit/s and kbit. */
    policer->params.cir = rate * 1000ULL / 8;
    policer->params.cbs = burst * 1000ULL / 8;
    policer->params.ebs = 0;
    err = rte_meter_srtcm_profile_config(&policer->profile, &policer->params);
    if (!err) {
        err = rte_meter_srtcm_config(&policer->meter, &policer->profile);
    }
    if (err) {
        VLOG_ERR("Could not create rte meter for ingress policer");
        free(policer);
        return NULL;
    }
    return policer;
}

/* As dpdkvhostuserclient: a burst of 0 means 8000 kbit; the packet rate
 * options ("kpkts") are not supported and ignored. */
int
netdev_vhost_set_policing(struct netdev *netdev, unsigned int rate,
                          unsigned int burst,
                          unsigned int kpkts_rate OVS_UNUSED,
                          unsigned int kpkts_burst OVS_UNUSED)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);
    struct netdev_vhost_policer *policer;

    burst = !rate ? 0 : !burst ? 8000 : burst;

    ovs_mutex_lock(&dev->mutex);
    if (dev->policer_rate == rate && dev->policer_burst == burst) {
        ovs_mutex_unlock(&dev->mutex);
        return 0;
    }

    policer = ovsrcu_get_protected(struct netdev_vhost_policer *,
                                   &dev->ingress_policer);
    if (policer) {
        ovsrcu_postpone(free, policer);
    }
    policer = rate ? netdev_vhost_policer_create(rate, burst) : NULL;
    ovsrcu_set(&dev->ingress_policer, policer);
    dev->policer_rate = rate;
    dev->policer_burst = burst;
    ovs_mutex_unlock(&dev->mutex);

    return 0;
}

/* The bytes a meter charges for 'packet': those after its Ethernet header,
 * as netdev-dpdk's policers and QoS count them.  A guest may send a frame
 * shorter than an Ethernet header; it has no such bytes and is charged 0,
 * instead of 'size - ETH_HEADER_LEN' wrapping to about 4 GB and turning the
 * meter red for the frames that follow. */
static inline uint32_t
netdev_vhost_metered_len(const struct dp_packet *packet)
{
    uint32_t size = dp_packet_size(packet);

    return size > ETH_HEADER_LEN ? size - ETH_HEADER_LEN : 0;
}

uint32_t
netdev_vhost_policer_run(struct netdev_vhost *dev, struct dp_packet **pkts,
                         uint32_t n)
{
    struct netdev_vhost_policer *policer
        = ovsrcu_get(struct netdev_vhost_policer *, &dev->ingress_policer);
    uint32_t kept = 0;
    uint64_t now;

    if (OVS_LIKELY(!policer)) {
        return n;
    }

    now = rte_rdtsc();
    rte_spinlock_lock(&policer->lock);
    for (uint32_t i = 0; i < n; i++) {
        struct dp_packet *packet = pkts[i];
        uint32_t len = netdev_vhost_metered_len(packet);

        if (rte_meter_srtcm_color_blind_check(&policer->meter,
                                              &policer->profile, now, len)
            == RTE_COLOR_GREEN) {
            pkts[kept++] = packet;
        } else {
            dp_packet_delete(packet);
        }
    }
    rte_spinlock_unlock(&policer->lock);

    return kept;
}

/* ---- Egress QoS --------------------------------------------------------- */

uint32_t
netdev_vhost_qos_run(struct netdev_vhost *dev, struct dp_packet **pkts,
                     struct nvh_packet *descs, uint32_t n)
{
    struct netdev_vhost_qos_conf *conf
        = ovsrcu_get(struct netdev_vhost_qos_conf *, &dev->qos_conf);
    uint32_t kept = 0;
    uint64_t now;

    if (OVS_LIKELY(!conf)) {
        return n;
    }

    now = rte_rdtsc();
    rte_spinlock_lock(&conf->lock);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len = netdev_vhost_metered_len(pkts[i]);

        if (conf->ops->pass(conf, pkts[i], len, now)) {
            if (kept != i) {
                pkts[kept] = pkts[i];
                descs[kept] = descs[i];
            }
            kept++;
        }
    }
    rte_spinlock_unlock(&conf->lock);

    return kept;
}

static const struct netdev_vhost_qos_ops *
netdev_vhost_qos_lookup(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(netdev_vhost_qos_types); i++) {
        if (!strcmp(name, netdev_vhost_qos_types[i]->name)) {
            return netdev_vhost_qos_types[i];
        }
    }
    return NULL;
}

static void
netdev_vhost_qos_conf_free(struct netdev_vhost_qos_conf *conf)
{
    conf->ops->destruct(conf);
}

int
netdev_vhost_get_qos_types(const struct netdev *netdev OVS_UNUSED,
                           struct sset *types)
{
    for (size_t i = 0; i < ARRAY_SIZE(netdev_vhost_qos_types); i++) {
        sset_add(types, netdev_vhost_qos_types[i]->name);
    }
    return 0;
}

int
netdev_vhost_get_qos(const struct netdev *netdev, const char **typep,
                     struct smap *details)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);
    struct netdev_vhost_qos_conf *conf;
    int error = 0;

    ovs_mutex_lock(&dev->mutex);
    conf = ovsrcu_get_protected(struct netdev_vhost_qos_conf *,
                                &dev->qos_conf);
    if (conf) {
        *typep = conf->ops->name;
        error = conf->ops->get ? conf->ops->get(conf, details) : 0;
    } else {
        *typep = "";        /* No QoS. */
    }
    ovs_mutex_unlock(&dev->mutex);

    return error;
}

int
netdev_vhost_set_qos(struct netdev *netdev, const char *type,
                     const struct smap *details)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);
    const struct netdev_vhost_qos_ops *ops;
    struct netdev_vhost_qos_conf *conf, *new_conf = NULL;
    int error = 0;

    ovs_mutex_lock(&dev->mutex);
    conf = ovsrcu_get_protected(struct netdev_vhost_qos_conf *,
                                &dev->qos_conf);
    ops = type ? netdev_vhost_qos_lookup(type) : NULL;
    if (!ops) {
        if (type && type[0]) {
            error = EOPNOTSUPP;
        }
    } else if (conf && conf->ops == ops && ops->is_equal(conf, details)) {
        new_conf = conf;
    } else {
        error = ops->construct(details, &new_conf);
    }

    if (error) {
        VLOG_ERR("Failed to set QoS type %s on port %s: %s",
                 type, netdev_get_name(netdev), ovs_strerror(error));
    }

    /* As netdev-dpdk, a configuration that cannot be made leaves none. */
    if (new_conf != conf) {
        ovsrcu_set(&dev->qos_conf, new_conf);
        if (conf) {
            ovsrcu_postpone(netdev_vhost_qos_conf_free, conf);
        }
    }
    ovs_mutex_unlock(&dev->mutex);

    return error;
}

void
netdev_vhost_qos_destruct(struct netdev_vhost *dev)
{
    struct netdev_vhost_policer *policer;
    struct netdev_vhost_qos_conf *conf;

    ovs_mutex_lock(&dev->mutex);
    conf = ovsrcu_get_protected(struct netdev_vhost_qos_conf *,
                                &dev->qos_conf);
    if (conf) {
        ovsrcu_set(&dev->qos_conf, NULL);
        ovsrcu_postpone(netdev_vhost_qos_conf_free, conf);
    }
    policer = ovsrcu_get_protected(struct netdev_vhost_policer *,
                                   &dev->ingress_policer);
    if (policer) {
        ovsrcu_set(&dev->ingress_policer, NULL);
        ovsrcu_postpone(free, policer);
    }
    dev->policer_rate = 0;
    dev->policer_burst = 0;
    ovs_mutex_unlock(&dev->mutex);
}

/* ---- Queues ------------------------------------------------------------- */

static struct netdev_vhost_qos_conf *
netdev_vhost_qos_conf_get(const struct netdev_vhost *dev)
    OVS_REQUIRES(dev->mutex)
{
    return ovsrcu_get_protected(struct netdev_vhost_qos_conf *,
                                &dev->qos_conf);
}

int
netdev_vhost_get_queue(const struct netdev *netdev, unsigned int queue_id,
                       struct smap *details)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);
    struct netdev_vhost_qos_conf *conf;
    int error;

    ovs_mutex_lock(&dev->mutex);
    conf = netdev_vhost_qos_conf_get(dev);
    if (!conf || !conf->ops->queue_get) {
        error = EOPNOTSUPP;
    } else {
        error = conf->ops->queue_get(details, queue_id, conf);
    }
    ovs_mutex_unlock(&dev->mutex);

    return error;
}

/* Queues change under the configuration's lock: the PMD threads look them
 * up for every packet. */
int
netdev_vhost_set_queue(struct netdev *netdev, unsigned int queue_id,
                       const struct smap *details)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);
    struct netdev_vhost_qos_conf *conf;
    int error;

    ovs_mutex_lock(&dev->mutex);
    conf = netdev_vhost_qos_conf_get(dev);
    if (!conf || !conf->ops->queue_construct) {
        error = EOPNOTSUPP;
    } else {
        rte_spinlock_lock(&conf->lock);
        error = conf->ops->queue_construct(details, queue_id, conf);
        rte_spinlock_unlock(&conf->lock);
    }
    if (error && error != EOPNOTSUPP) {
        VLOG_ERR("Failed to set QoS queue %u on port %s: %s",
                 queue_id, netdev_get_name(netdev), ovs_strerror(error));
    }
    ovs_mutex_unlock(&dev->mutex);

    return error;
}

int
netdev_vhost_delete_queue(struct netdev *netdev, unsigned int queue_id)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);
    struct netdev_vhost_qos_conf *conf;
    int error = 0;

    ovs_mutex_lock(&dev->mutex);
    conf = netdev_vhost_qos_conf_get(dev);
    if (conf && conf->ops->queue_destruct) {
        rte_spinlock_lock(&conf->lock);
        conf->ops->queue_destruct(conf, queue_id);
        rte_spinlock_unlock(&conf->lock);
    } else {
        error = EOPNOTSUPP;
    }
    ovs_mutex_unlock(&dev->mutex);

    return error;
}

int
netdev_vhost_get_queue_stats(const struct netdev *netdev,
                             unsigned int queue_id,
                             struct netdev_queue_stats *stats)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);
    struct netdev_vhost_qos_conf *conf;
    int error;

    ovs_mutex_lock(&dev->mutex);
    conf = netdev_vhost_qos_conf_get(dev);
    if (conf && conf->ops->queue_get_stats) {
        rte_spinlock_lock(&conf->lock);
        error = conf->ops->queue_get_stats(conf, queue_id, stats);
        rte_spinlock_unlock(&conf->lock);
    } else {
        error = EOPNOTSUPP;
    }
    ovs_mutex_unlock(&dev->mutex);

    return error;
}

int
netdev_vhost_queue_dump_start(const struct netdev *netdev, void **statep)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);
    struct netdev_vhost_qos_conf *conf;
    int error = 0;

    ovs_mutex_lock(&dev->mutex);
    conf = netdev_vhost_qos_conf_get(dev);
    if (conf && conf->ops->queue_ids) {
        struct netdev_vhost_queue_state *state = xzalloc(sizeof *state);

        state->queues = conf->ops->queue_ids(conf, &state->n_queues);
        *statep = state;
    } else {
        error = EOPNOTSUPP;
    }
    ovs_mutex_unlock(&dev->mutex);

    return error;
}

int
netdev_vhost_queue_dump_next(const struct netdev *netdev, void *state_,
                             unsigned int *queue_idp, struct smap *details)
{
    struct netdev_vhost *dev = netdev_vhost_cast(netdev);
    struct netdev_vhost_queue_state *state = state_;
    int error = EOF;

    ovs_mutex_lock(&dev->mutex);
    while (state->cur_queue < state->n_queues) {
        uint32_t queue_id = state->queues[state->cur_queue++];
        struct netdev_vhost_qos_conf *conf = netdev_vhost_qos_conf_get(dev);

        if (conf && conf->ops->queue_get) {
            *queue_idp = queue_id;
            error = conf->ops->queue_get(details, queue_id, conf);
            break;
        }
    }
    ovs_mutex_unlock(&dev->mutex);

    return error;
}

int
netdev_vhost_queue_dump_done(const struct netdev *netdev OVS_UNUSED,
                             void *state_)
{
    struct netdev_vhost_queue_state *state = state_;

    free(state->queues);
    free(state);
    return 0;
}
