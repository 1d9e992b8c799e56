/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The egress QoS types of the "vhostuserclient" ports, those of OVS's own
 * vhost ports (netdev-dpdk), with the same details and meters:
 *
 *   egress-policer: a colour blind srTCM meter ("cir" bytes/s, "cbs"
 *   bytes); only green packets are sent.
 *
 *   trtcm-policer: RFC 4115 trTCM meters ("cir", "eir" bytes/s, "cbs",
 *   "ebs" bytes) per queue (the packet's skb_priority, set by the
 *   set_queue action; queue 0 is the default) and for the port; a packet
 *   is metered colour blind by its queue, then colour aware by the port,
 *   and sent unless red.
 */

#include <config.h>

#include <errno.h>
#include <string.h>

#include <rte_meter.h>

#include "dp-packet.h"
#include "hash.h"
#include "netdev.h"
#include "netdev-vhost-qos.h"
#include "openvswitch/hmap.h"
#include "smap.h"
#include "timeval.h"
#include "util.h"

/* ---- egress-policer ----------------------------------------------------- */

struct egress_policer {
    struct netdev_vhost_qos_conf qos_conf;
    struct rte_meter_srtcm_params params;
    struct rte_meter_srtcm meter;
    struct rte_meter_srtcm_profile profile;
};

static struct egress_policer *
egress_policer_cast(const struct netdev_vhost_qos_conf *conf)
{
    return CONTAINER_OF(conf, struct egress_policer, qos_conf);
}

static void
egress_policer_details_to_params(const struct smap *details,
                                 struct rte_meter_srtcm_params *params)
{
    memset(params, 0, sizeof *params);
    params->cir = smap_get_ullong(details, "cir", 0);
    params->cbs = smap_get_ullong(details, "cbs", 0);
    params->ebs = 0;
}

static int
egress_policer_construct(const struct smap *details,
                         struct netdev_vhost_qos_conf **conf)
{
    struct egress_policer *policer = xzalloc(sizeof *policer);
    int err;

    policer->qos_conf.ops = &netdev_vhost_egress_policer_ops;
    rte_spinlock_init(&policer->qos_conf.lock);
    egress_policer_details_to_params(details, &policer->params);
    err = rte_meter_srtcm_profile_config(&policer->profile, &policer->params);
    if (!err) {
        err = rte_meter_srtcm_config(&policer->meter, &policer->profile);
    }
    if (err) {
        free(policer);
        *conf = NULL;
        return -err;
    }
    *conf = &policer->qos_conf;
    return 0;
}

static void
egress_policer_destruct(struct netdev_vhost_qos_conf *conf)
{
    free(egress_policer_cast(conf));
}

static int
egress_policer_get(const struct netdev_vhost_qos_conf *conf,
                   struct smap *details)
{
    const struct egress_policer *policer = egress_policer_cast(conf);

    smap_add_format(details, "cir", "%"PRIu64, policer->params.cir);
    smap_add_format(details, "cbs", "%"PRIu64, policer->params.cbs);
    return 0;
}

static bool
egress_policer_is_equal(const struct netdev_vhost_qos_conf *conf,
                        const struct smap *details)
{
    struct rte_meter_srtcm_params params;

    egress_policer_details_to_params(details, &params);
    return !memcmp(&params, &egress_policer_cast(conf)->params,
                   sizeof params);
}

static bool
egress_policer_pass(struct netdev_vhost_qos_conf *conf,
                    const struct dp_packet *packet OVS_UNUSED, uint32_t len,
                    uint64_t now)
{
    struct egress_policer *policer = egress_policer_cast(conf);

    return rte_meter_srtcm_color_blind_check(&policer->meter,
                                             &policer->profile, now, len)
           == RTE_COLOR_GREEN;
}

const struct netdev_vhost_qos_ops netdev_vhost_egress_policer_ops = {
    .name = "egress-policer",
    .construct = egress_policer_construct,
    .destruct = egress_policer_destruct,
    .get = egress_policer_get,
    .is_equal = egress_policer_is_equal,
    .pass = egress_policer_pass,
};

/* ---- trtcm-policer ------------------------------------------------------ */

struct trtcm_policer {
    struct netdev_vhost_qos_conf qos_conf;
    struct rte_meter_trtcm_rfc4115_params params;
    struct rte_meter_trtcm_rfc4115_profile profile;
    struct rte_meter_trtcm_rfc4115 meter;
    struct netdev_queue_stats stats;
    struct hmap queues;         /* Of struct trtcm_policer_queue. */
};

struct trtcm_policer_queue {
    struct hmap_node hmap_node;
    uint32_t queue_id;
    struct rte_meter_trtcm_rfc4115_params params;
    struct rte_meter_trtcm_rfc4115_profile profile;
    struct rte_meter_trtcm_rfc4115 meter;
    struct netdev_queue_stats stats;
};

static struct trtcm_policer *
trtcm_policer_cast(const struct netdev_vhost_qos_conf *conf)
{
    return CONTAINER_OF(conf, struct trtcm_policer, qos_conf);
}

static void
trtcm_policer_details_to_params(const struct smap *details,
                                struct rte_meter_trtcm_rfc4115_params *params)
{
    memset(params, 0, sizeof *params);
    params->cir = smap_get_ullong(details, "cir", 0);
    params->eir = smap_get_ullong(details, "eir", 0);
    params->cbs = smap_get_ullong(details, "cbs", 0);
    params->ebs = smap_get_ullong(details, "ebs", 0);
}

static void
trtcm_policer_params_to_details(
    const struct rte_meter_trtcm_rfc4115_params *params, struct smap *details)
{
    smap_add_format(details, "cir", "%"PRIu64, params->cir);
    smap_add_format(details, "eir", "%"PRIu64, params->eir);
    smap_add_format(details, "cbs", "%"PRIu64, params->cbs);
    smap_add_format(details, "ebs", "%"PRIu64, params->ebs);
}

static int
trtcm_policer_construct(const struct smap *details,
                        struct netdev_vhost_qos_conf **conf)
{
    struct trtcm_policer *policer = xzalloc(sizeof *policer);
    int err;

    policer->qos_conf.ops = &netdev_vhost_trtcm_policer_ops;
    rte_spinlock_init(&policer->qos_conf.lock);
    trtcm_policer_details_to_params(details, &policer->params);
    err = rte_meter_trtcm_rfc4115_profile_config(&policer->profile,
                                                 &policer->params);
    if (!err) {
        err = rte_meter_trtcm_rfc4115_config(&policer->meter,
                                             &policer->profile);
    }
    if (err) {
        free(policer);
        *conf = NULL;
        return -err;
    }
    hmap_init(&policer->queues);
    *conf = &policer->qos_conf;
    return 0;
}

static void
trtcm_policer_destruct(struct netdev_vhost_qos_conf *conf)
{
    struct trtcm_policer *policer = trtcm_policer_cast(conf);
    struct trtcm_policer_queue *queue;

    HMAP_FOR_EACH_POP (queue, hmap_node, &policer->queues) {
        free(queue);
    }
    hmap_destroy(&policer->queues);
    free(policer);
}

static int
trtcm_policer_get(const struct netdev_vhost_qos_conf *conf,
                  struct smap *details)
{
    trtcm_policer_params_to_details(&trtcm_policer_cast(conf)->params,
                                    details);
    return 0;
}

static bool
trtcm_policer_is_equal(const struct netdev_vhost_qos_conf *conf,
                       const struct smap *details)
{
    struct rte_meter_trtcm_rfc4115_params params;

    trtcm_policer_details_to_params(details, &params);
    return !memcmp(&params, &trtcm_policer_cast(conf)->params, sizeof params);
}

static struct trtcm_policer_queue *
trtcm_policer_find_queue(const struct trtcm_policer *policer,
                         uint32_t queue_id)
{
    struct trtcm_policer_queue *queue;

    HMAP_FOR_EACH_WITH_HASH (queue, hmap_node, hash_2words(queue_id, 0),
                             &policer->queues) {
        if (queue->queue_id == queue_id) {
            return queue;
        }
    }
    return NULL;
}

static bool
trtcm_policer_pass(struct netdev_vhost_qos_conf *conf,
                   const struct dp_packet *packet, uint32_t len, uint64_t now)
{
    struct trtcm_policer *policer = trtcm_policer_cast(conf);
    struct trtcm_policer_queue *queue;
    enum rte_color color;

    queue = trtcm_policer_find_queue(policer, packet->md.skb_priority);
    if (!queue) {
        /* The default queue, which must exist. */
        queue = trtcm_policer_find_queue(policer, 0);
        if (!queue) {
            return false;
        }
    }

    color = rte_meter_trtcm_rfc4115_color_blind_check(&queue->meter,
                                                      &queue->profile,
                                                      now, len);
    if (color == RTE_COLOR_RED) {
        queue->stats.tx_errors++;
    } else {
        queue->stats.tx_bytes += len;
        queue->stats.tx_packets++;
    }

    color = rte_meter_trtcm_rfc4115_color_aware_check(&policer->meter,
                                                      &policer->profile,
                                                      now, len, color);
    if (color == RTE_COLOR_RED) {
        policer->stats.tx_errors++;
        return false;
    }
    policer->stats.tx_bytes += len;
    policer->stats.tx_packets++;
    return true;
}

static int
trtcm_policer_queue_construct(const struct smap *details, uint32_t queue_id,
                              struct netdev_vhost_qos_conf *conf)
{
    struct trtcm_policer *policer = trtcm_policer_cast(conf);
    struct trtcm_policer_queue *queue;
    int err;

    queue = trtcm_policer_find_queue(policer, queue_id);
    if (!queue) {
        queue = xzalloc(sizeof *queue);
        queue->queue_id = queue_id;
        queue->stats.created = time_msec();
        hmap_insert(&policer->queues, &queue->hmap_node,
                    hash_2words(queue_id, 0));
    }
    if (queue_id == 0 && smap_is_empty(details)) {
        /* No default queue configured: the port's values. */
        queue->params = policer->params;
    } else {
        trtcm_policer_details_to_params(details, &queue->params);
    }

    err = rte_meter_trtcm_rfc4115_profile_config(&queue->profile,
                                                 &queue->params);
    if (!err) {
        err = rte_meter_trtcm_rfc4115_config(&queue->meter, &queue->profile);
    }
    if (err) {
        hmap_remove(&policer->queues, &queue->hmap_node);
        free(queue);
        return -err;
    }
    return 0;
}

static void
trtcm_policer_queue_destruct(struct netdev_vhost_qos_conf *conf,
                             uint32_t queue_id)
{
    struct trtcm_policer *policer = trtcm_policer_cast(conf);
    struct trtcm_policer_queue *queue;

    queue = trtcm_policer_find_queue(policer, queue_id);
    if (queue) {
        hmap_remove(&policer->queues, &queue->hmap_node);
        free(queue);
    }
}

static int
trtcm_policer_queue_get(struct smap *details, uint32_t queue_id,
                        const struct netdev_vhost_qos_conf *conf)
{
    const struct trtcm_policer_queue *queue
        = trtcm_policer_find_queue(trtcm_policer_cast(conf), queue_id);

    if (!queue) {
        return EINVAL;
    }
    trtcm_policer_params_to_details(&queue->params, details);
    return 0;
}

static int
trtcm_policer_queue_get_stats(const struct netdev_vhost_qos_conf *conf,
                              uint32_t queue_id,
                              struct netdev_queue_stats *stats)
{
    const struct trtcm_policer_queue *queue
        = trtcm_policer_find_queue(trtcm_policer_cast(conf), queue_id);

    if (!queue) {
        return EINVAL;
    }
    *stats = queue->stats;
    return 0;
}

static uint32_t *
trtcm_policer_queue_ids(const struct netdev_vhost_qos_conf *conf, size_t *n)
{
    const struct trtcm_policer *policer = trtcm_policer_cast(conf);
    const struct trtcm_policer_queue *queue;
    uint32_t *ids;
    size_t i = 0;

    *n = hmap_count(&policer->queues);
    ids = xmalloc(MAX(*n, 1) * sizeof *ids);
    HMAP_FOR_EACH (queue, hmap_node, &policer->queues) {
        ids[i++] = queue->queue_id;
    }
    return ids;
}

const struct netdev_vhost_qos_ops netdev_vhost_trtcm_policer_ops = {
    .name = "trtcm-policer",
    .construct = trtcm_policer_construct,
    .destruct = trtcm_policer_destruct,
    .get = trtcm_policer_get,
    .is_equal = trtcm_policer_is_equal,
    .pass = trtcm_policer_pass,
    .queue_construct = trtcm_policer_queue_construct,
    .queue_destruct = trtcm_policer_queue_destruct,
    .queue_get = trtcm_policer_queue_get,
    .queue_get_stats = trtcm_policer_queue_get_stats,
    .queue_ids = trtcm_policer_queue_ids,
};
