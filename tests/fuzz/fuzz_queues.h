// SPDX-License-Identifier: Apache-2.0
// fuzz_queues.h: what a PMD does to a device's queues between two control
// messages, for the targets that drive the control plane: one burst on
// every started queue, so the memory tables, ring addresses, bases and
// dirty logs a message stream set up are really walked.
#pragma once

#include <array>
#include <cstdint>

#include "device/announce.h"
#include "net/net_header.h"
#include "net/virtio_net.h"
#include "vhost_user/message_handler.h"

namespace nvh::fuzz {

// One burst on every started queue among vrings [0, vrings): receiveqs
// (even) get frames, the first a RARP if `announce_mac` is set; transmitqs
// (odd) are drained.  A queue whose lock is taken is skipped, as a PMD does.
inline void poll_queues(MessageHandler::QueueArray& queues, uint32_t vrings,
                        uint64_t announce_mac) {
    constexpr uint32_t kCapacity = 2048;
    static std::array<uint8_t, NVH_MAX_BURST * kCapacity> storage{};
    nvh_packet pkts[4];
    for (uint32_t v = 0; v < vrings; v++) {
        Virtqueue& vq = queues[v];
        if (!vq.access_lock().try_lock()) {
            continue;
        }
        if (vq.ready()) {
            for (uint32_t i = 0; i < 4; i++) {
                pkts[i] = nvh_packet{};
                pkts[i].data = storage.data() + i * kCapacity;
                pkts[i].capacity = kCapacity;
                pkts[i].len = 60 + 300 * i;
            }
            if (v % 2 == 0) {
                if (announce_mac != 0) {
                    build_rarp(announce_mac, pkts[0].data);
                    pkts[0].len = kRarpFrameLen;
                }
                net_enqueue_burst(vq, pkts, 4);
            } else {
                uint32_t got = net_dequeue_burst(vq, pkts, 4);
                for (uint32_t i = 0; i < got; i++) {
                    if (pkts[i].len > kCapacity) {
                        __builtin_trap();
                    }
                }
            }
        }
        vq.access_lock().unlock();
    }
}

}  // namespace nvh::fuzz
