// SPDX-License-Identifier: Apache-2.0
// VIRTIO_F_EVENT_IDX (virtio 1.2, 2.7.7 and 2.7.10) on the split ring:
// interrupts exactly when used_event is passed, and avail_event kept so
// that the driver never kicks.  (INDIRECT_DESC only when negotiated, on
// both ring types: ring_tx_test.cpp and ring_rx_test.cpp.)
#include <gtest/gtest.h>

#include <vector>

#include "base/virtio_spec.h"
#include "net/virtio_net.h"
#include "ring_harness.h"
#include "vhost_user/message_handler.h"

namespace nvh::test {
namespace {

// The spec's vring_need_event (virtio 1.2, 2.7.7.2 / 2.7.10), written out
// independently: is `event` one of the indexes in [old, new) modulo 2^16?
bool passes(uint16_t event, uint16_t new_idx, uint16_t old_idx) {
    for (uint16_t i = old_idx; i != new_idx; i++) {
        if (i == event) {
            return true;
        }
    }
    return false;
}

// A started, enabled split queue whose indexes start at `base`.
struct Queue : RingQueue<Split> {
    Queue(uint16_t num, uint64_t features, uint16_t base)
        : RingQueue<Split>(QueueConfig{.num = num, .features = features, .buffer_size = 2048,
                                       .base = base}) {}
    // Sends `n` 60-byte frames through the device in one burst.
    uint32_t transmit(uint32_t n) {
        std::vector<uint8_t> f(60, 0x5a);
        for (uint32_t i = 0; i < n; i++) {
            if (post_tx(f) < 0) {
                ADD_FAILURE() << "no room for chain " << i << " of " << n;
                return 0;
            }
        }
        TxBuffers b;
        uint32_t got = dequeue(b);
        pop_all();
        return got;
    }
};

TEST(EventIdx, FeatureBitsAreOffered) {
    EXPECT_TRUE(virtio::has(kOfferedFeatures, virtio::kFEventIdx));
    EXPECT_TRUE(virtio::has(kOfferedFeatures, virtio::kFIndirectDesc));
}

// Every used_event within reach of a burst, bursts of 1..5 chains, starting
// just before the 16-bit wrap so that old/new/used_event straddle 65535 -> 0:
// one interrupt exactly when the burst moved used->idx past used_event.
TEST(EventIdx, InterruptExactlyWhenUsedEventIsPassedAcrossTheWrap) {
    int sent = 0, expected_total = 0;
    for (uint16_t base : {uint16_t(65530), uint16_t(65535), uint16_t(0), uint16_t(100)}) {
        for (uint32_t burst = 1; burst <= 5; burst++) {
            for (int delta = -3; delta <= 7; delta++) {
                Queue q(64, kV1 | kEventIdx, base);
                const uint16_t old_idx = base;
                const uint16_t new_idx = static_cast<uint16_t>(base + burst);
                const uint16_t event = static_cast<uint16_t>(base + delta);
                q.drv->set_used_event(event);
                ASSERT_EQ(q.transmit(burst), burst);
                ASSERT_EQ(q.drv->used_idx(), new_idx);
                const bool want = passes(event, new_idx, old_idx);
                EXPECT_EQ(q.interrupts(), want ? 1u : 0u)
                    << "base " << base << " burst " << burst << " used_event " << event;
                EXPECT_EQ(q.vq.counters().guest_notifications.load(), want ? 1u : 0u);
                sent += want;
                expected_total += (delta >= 0 && delta < int(burst));
            }
        }
    }
    // The reference itself: used_event in [base, base + burst).
    EXPECT_EQ(sent, expected_total);
}

// A driver that moves used_event along as it reaps, as Linux does with
// virtqueue_enable_cb: one interrupt per burst that passes it, over many laps.
TEST(EventIdx, InterruptsFollowAMovingUsedEventOverManyLaps) {
    Queue q(32, kV1 | kEventIdx, 65000);
    uint64_t interrupts = 0, expected = 0;
    uint16_t used = 65000;
    for (int i = 0; i < 3000; i++) {
        uint32_t burst = 1 + i % 7;
        // Ask for an interrupt after every other burst only.
        uint16_t event = static_cast<uint16_t>(i % 2 ? used : used - 1);
        q.drv->set_used_event(event);
        ASSERT_EQ(q.transmit(burst), burst);
        uint16_t now = q.drv->used_idx();
        expected += passes(event, now, used);
        used = now;
        interrupts += q.interrupts();
    }
    EXPECT_EQ(interrupts, expected);
    EXPECT_EQ(expected, 1500u);
}

// virtio 1.2, 2.7.10: with EVENT_IDX the driver kicks when avail->idx moves
// past avail_event.  Over many laps of the 16-bit index no publish of the
// driver ever does.
TEST(EventIdx, AvailEventNeverAsksForAKick) {
    Queue q(256, kV1 | kEventIdx, 65500);
    EXPECT_EQ(q.drv->avail_event(), uint16_t(65499));
    int kicks = 0;
    for (int i = 0; i < 4000; i++) {
        uint32_t burst = 1 + i % NVH_MAX_BURST;
        uint16_t old_avail = q.drv->avail_idx();
        std::vector<uint8_t> f(60, 1);
        for (uint32_t k = 0; k < burst; k++) {
            ASSERT_GE(q.post_tx(f), 0);
            // The driver checks after each publish (Linux: virtqueue_kick_prepare).
            uint16_t new_avail = q.drv->avail_idx();
            kicks += passes(q.drv->avail_event(), new_avail, old_avail);
            old_avail = new_avail;
        }
        TxBuffers b;
        ASSERT_EQ(q.dequeue(b), burst);
        q.pop_all();
    }
    EXPECT_EQ(kicks, 0);
    // The index wrapped at least once (4000 bursts of 16.5 chains on average).
    EXPECT_LT(q.drv->avail_idx(), 65500);
}

TEST(EventIdx, WithoutEventIdxAvailEventIsNotWritten) {
    Queue q(64, kV1, 500);
    EXPECT_EQ(q.drv->avail_event(), 0u);
    EXPECT_EQ(q.drv->used_flags() & virtio::kUsedFNoNotify, virtio::kUsedFNoNotify);
}

}  // namespace
}  // namespace nvh::test
