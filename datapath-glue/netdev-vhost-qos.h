// SPDX-License-Identifier: Apache-2.0
/*
 * Ingress policing and egress QoS of the "vhostuserclient" ports, as OVS
 * applies them to its own vhost ports (netdev-dpdk): the same options,
 * QoS types and DPDK meters (rte_meter, colour blind), so rates and bursts
 * mean the same.
 *
 * The configuration is replaced by the main thread under the port's mutex
 * and published with RCU; PMD threads run it once per burst under a
 * spinlock of the configuration (several threads may share it).
 */

#ifndef NETDEV_VHOST_QOS_H
#define NETDEV_VHOST_QOS_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_spinlock.h>

struct dp_packet;
struct netdev;
struct netdev_queue_stats;
struct netdev_vhost;
struct nvh_packet;
struct smap;
struct sset;

/* One egress QoS configuration of a port; each type embeds it. */
struct netdev_vhost_qos_conf {
    const struct netdev_vhost_qos_ops *ops;
    rte_spinlock_t lock;        /* Held while a burst runs through it, and
                                 * while its queues change. */
};

/* One QoS type (the "type" of a QoS record).  The queue functions are
 * optional; a type without them has no queues. */
struct netdev_vhost_qos_ops {
    const char *name;

    /* Returns 0 and a new configuration made of 'details' (the QoS record's
     * other_config), or a positive errno value. */
    int (*construct)(const struct smap *details,
                     struct netdev_vhost_qos_conf **);
    void (*destruct)(struct netdev_vhost_qos_conf *);
    int (*get)(const struct netdev_vhost_qos_conf *, struct smap *details);
    bool (*is_equal)(const struct netdev_vhost_qos_conf *,
                     const struct smap *details);

    /* Meters one packet of 'len' bytes (without its Ethernet header) at TSC
     * time 'now'; true if it may be sent.  Called with 'lock' held. */
    bool (*pass)(struct netdev_vhost_qos_conf *, const struct dp_packet *,
                 uint32_t len, uint64_t now);

    int (*queue_construct)(const struct smap *details, uint32_t queue_id,
                           struct netdev_vhost_qos_conf *);
    void (*queue_destruct)(struct netdev_vhost_qos_conf *, uint32_t queue_id);
    int (*queue_get)(struct smap *details, uint32_t queue_id,
                     const struct netdev_vhost_qos_conf *);
    int (*queue_get_stats)(const struct netdev_vhost_qos_conf *,
                           uint32_t queue_id, struct netdev_queue_stats *);
    /* Returns the ids of the queues (to free), their number in '*n'. */
    uint32_t *(*queue_ids)(const struct netdev_vhost_qos_conf *, size_t *n);
};

/* The QoS types (netdev-vhost-qos-types.c). */
extern const struct netdev_vhost_qos_ops netdev_vhost_egress_policer_ops;
extern const struct netdev_vhost_qos_ops netdev_vhost_trtcm_policer_ops;

/* Entries of the netdev class (netdev-vhost-qos.c). */
int netdev_vhost_set_policing(struct netdev *, unsigned int kbits_rate,
                              unsigned int kbits_burst,
                              unsigned int kpkts_rate,
                              unsigned int kpkts_burst);
int netdev_vhost_get_qos_types(const struct netdev *, struct sset *types);
int netdev_vhost_get_qos(const struct netdev *, const char **typep,
                         struct smap *details);
int netdev_vhost_set_qos(struct netdev *, const char *type,
                         const struct smap *details);
int netdev_vhost_get_queue(const struct netdev *, unsigned int queue_id,
                           struct smap *details);
int netdev_vhost_set_queue(struct netdev *, unsigned int queue_id,
                           const struct smap *details);
int netdev_vhost_delete_queue(struct netdev *, unsigned int queue_id);
int netdev_vhost_get_queue_stats(const struct netdev *, unsigned int queue_id,
                                 struct netdev_queue_stats *);
int netdev_vhost_queue_dump_start(const struct netdev *, void **statep);
int netdev_vhost_queue_dump_next(const struct netdev *, void *state,
                                 unsigned int *queue_id,
                                 struct smap *details);
int netdev_vhost_queue_dump_done(const struct netdev *, void *state);

/* Frees the port's policer and QoS configuration (after a grace period). */
void netdev_vhost_qos_destruct(struct netdev_vhost *);

/* Data path, once per burst.  Ingress: keeps, in order, the 'n' received
 * packets in 'pkts' that the ingress policer passes, frees the others and
 * returns how many are kept.  Egress: the same for the 'n' packets about to
 * be sent, described to the core by 'descs' (compacted alike); the caller
 * still owns every packet (its batch frees them). */
uint32_t netdev_vhost_policer_run(struct netdev_vhost *,
                                  struct dp_packet **pkts, uint32_t n);
uint32_t netdev_vhost_qos_run(struct netdev_vhost *, struct dp_packet **pkts,
                              struct nvh_packet *descs, uint32_t n);

#endif /* netdev-vhost-qos.h */
