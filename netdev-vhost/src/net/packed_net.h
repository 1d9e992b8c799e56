// packed_net.h: the virtio-net bursts of virtio_net.h on a packed virtqueue
// (virtio 1.2, 2.8 and 5.1.6).  net_dequeue_burst / net_enqueue_burst
// dispatch here when the queue was started with VIRTIO_F_RING_PACKED.
#pragma once

#include <cstdint>

#include "netdev-vhost/nvh.h"
#include "ring/virtqueue.h"

namespace nvh {

uint32_t packed_dequeue_burst(Virtqueue& vq, nvh_packet* pkts, uint32_t n);
uint32_t packed_enqueue_burst(Virtqueue& vq, const nvh_packet* pkts, uint32_t n);

}  // namespace nvh
