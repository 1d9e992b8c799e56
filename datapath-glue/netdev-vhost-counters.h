// SPDX-License-Identifier: Apache-2.0
/*
 * How the statistics of a "vhostuserclient" port are made of the core's
 * vring counters and the glue's own drop counters.
 *
 * The core's counters are the only source for what reached the guest and
 * what the guest sent: a frame the core drops (no room in the guest's
 * buffers) is reported by nvh_enqueue_burst as handled, so the glue cannot
 * tell it from a delivered one.  The glue counts only what it drops itself
 * (MTU exceeded, failure after retries, port down, multi-segment mbufs) and
 * its retries.
 *
 * Plain C on nvh.h alone (no OVS header), so unit tests can check it.
 */

#ifndef NETDEV_VHOST_COUNTERS_H
#define NETDEV_VHOST_COUNTERS_H 1

#include <stdint.h>
#include <string.h>

#include "netdev-vhost/nvh.h"

/* Sums of the core's vring counters, per OVS direction. */
struct netdev_vhost_core_totals {
    struct nvh_vring_stats rx;      /* Guest transmitqs (odd vrings). */
    struct nvh_vring_stats tx;      /* Guest receiveqs (even vrings). */
};

/* The port counters that come from both sources. */
struct netdev_vhost_port_counters {
    uint64_t rx_packets;
    uint64_t rx_bytes;
    uint64_t rx_errors;
    uint64_t tx_packets;
    uint64_t tx_bytes;
    uint64_t tx_dropped;
    uint64_t tx_errors;
};

static inline void
netdev_vhost_vring_stats_add(struct nvh_vring_stats *sum,
                             const struct nvh_vring_stats *s)
{
    sum->packets += s->packets;
    sum->bytes += s->bytes;
    sum->ring_full += s->ring_full;
    sum->invalid_descriptors += s->invalid_descriptors;
    sum->undersized_frames += s->undersized_frames;
    sum->oversized_frames += s->oversized_frames;
    sum->rx_buffer_too_small += s->rx_buffer_too_small;
    sum->guest_notifications += s->guest_notifications;
    sum->multicast += s->multicast;
    sum->broadcast += s->broadcast;
    sum->broken_rings += s->broken_rings;
    sum->call_stalls += s->call_stalls;
    for (int i = 0; i < NVH_SIZE_BINS; i++) {
        sum->size_bins[i] += s->size_bins[i];
    }
}

/* Adds vring 'v''s counters to its direction: vring 2N is the guest's
 * receiveq N (OVS tx), 2N+1 its transmitq N (OVS rx), virtio 1.2, 5.1.2. */
static inline void
netdev_vhost_core_totals_add(struct netdev_vhost_core_totals *t, uint32_t v,
                             const struct nvh_vring_stats *s)
{
    netdev_vhost_vring_stats_add(v % 2 ? &t->rx : &t->tx, s);
}

/* 'glue_tx_dropped' is every packet the glue dropped on transmit itself. */
static inline void
netdev_vhost_port_counters_get(const struct netdev_vhost_core_totals *core,
                               uint64_t glue_tx_dropped,
                               struct netdev_vhost_port_counters *out)
{
    memset(out, 0, sizeof *out);
    out->rx_packets = core->rx.packets;
    out->rx_bytes = core->rx.bytes;
    /* Frames of the guest that broke the rules and were dropped. */
    out->rx_errors = core->rx.invalid_descriptors
                     + core->rx.undersized_frames
                     + core->rx.oversized_frames;
    out->tx_packets = core->tx.packets;
    out->tx_bytes = core->tx.bytes;
    /* Frames the guest's buffers could not hold were not delivered. */
    out->tx_dropped = glue_tx_dropped + core->tx.rx_buffer_too_small;
    out->tx_errors = core->tx.invalid_descriptors;
}

#endif /* netdev-vhost-counters.h */
