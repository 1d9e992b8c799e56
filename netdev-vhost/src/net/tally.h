// SPDX-License-Identifier: Apache-2.0
// tally.h: the counter deltas of one burst, added to the vring's counters once
// at its end (no atomic operation per packet).
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#include "netdev-vhost/nvh.h"
#include "ring/virtqueue.h"

namespace nvh {
namespace net {

// Per-burst counter deltas, added to the vring's counters once.
struct Tally {
    uint64_t packets = 0;
    uint64_t bytes = 0;
    uint64_t ring_full = 0;
    uint64_t invalid = 0;
    uint64_t undersized = 0;
    uint64_t oversized = 0;
    uint64_t too_small = 0;
    uint64_t descs = 0;   // Descriptors read.
    uint64_t multicast = 0;
    uint64_t broadcast = 0;
    std::array<uint64_t, NVH_SIZE_BINS> size_bins{};

    // One frame that crossed (nvh_vring_stats: packets and the classes of
    // its packets).
    void count_frame(const nvh_packet& pkt) {
        packets++;
        bytes += pkt.len;
        size_bins[size_bin(pkt.len)]++;
        // IEEE 802.3, 3.2.3: the first bit sent of the destination address
        // (bit 0 of its first byte) marks a group address; all ones is the
        // broadcast address.  A frame too short for an address is neither.
        if (pkt.len >= 6 && (pkt.data[0] & 1)) {
            static constexpr uint8_t kBroadcast[6] = {0xff, 0xff, 0xff,
                                                     0xff, 0xff, 0xff};
            if (std::memcmp(pkt.data, kBroadcast, sizeof kBroadcast) == 0) {
                broadcast++;
            } else {
                multicast++;
            }
        }
    }

    // The bins of nvh_vring_stats.size_bins: < 64, 64, 65-127, 128-255,
    // 256-511, 512-1023, 1024-1518, >= 1519 bytes.
    static constexpr uint32_t size_bin(uint32_t len) {
        if (len < 64) {
            return 0;
        }
        if (len == 64) {
            return 1;
        }
        if (len >= 1519) {
            return 7;
        }
        // 65..1518: 2 for 65-127 (highest bit 6), ... 6 for 1024-1518.
        return static_cast<uint32_t>(std::bit_width(len)) - 5;
    }

    void commit(VringCounters& c) const {
        VringCounters::add(c.packets, packets);
        VringCounters::add(c.bytes, bytes);
        VringCounters::add(c.ring_full, ring_full);
        VringCounters::add(c.invalid_descriptors, invalid);
        VringCounters::add(c.undersized_frames, undersized);
        VringCounters::add(c.oversized_frames, oversized);
        VringCounters::add(c.rx_buffer_too_small, too_small);
        VringCounters::add(c.descriptors_read, descs);
        VringCounters::add(c.multicast, multicast);
        VringCounters::add(c.broadcast, broadcast);
        for (size_t i = 0; i < size_bins.size(); i++) {
            VringCounters::add(c.size_bins[i], size_bins[i]);
        }
    }
};

}  // namespace net
}  // namespace nvh
