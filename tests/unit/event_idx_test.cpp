// VIRTIO_F_EVENT_IDX (virtio 1.2, 2.7.7 and 2.7.10) and
// VIRTIO_F_INDIRECT_DESC (2.7.5.3) on the split ring: interrupts exactly when
// used_event is passed, avail_event kept so that the driver never kicks, and
// indirect descriptors only when negotiated.
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <optional>
#include <vector>

#include "frontend/guest_memory_fixture.h"
#include "frontend/split_ring_driver.h"
#include "vhost_user/message_handler.h"
#include "net/virtio_net.h"
#include "base/virtio_spec.h"

namespace nvh {
namespace {

using test::GuestMemoryFixture;
using test::SplitRingDriver;
using Segment = SplitRingDriver::Segment;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kV1 = virtio::bit(virtio::kFVersion1);
constexpr uint64_t kEventIdx = virtio::bit(virtio::kFEventIdx);
constexpr uint64_t kIndirect = virtio::bit(virtio::kFIndirectDesc);

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

// A started, enabled queue whose indexes start at `base`, with a call eventfd.
struct Queue {
    Queue(uint16_t num, uint64_t features, uint16_t base) {
        mem.add_region(0, 16 * kMiB);
        drv.emplace(mem, num, 2048);
        auto g = mem.create_memory();
        if (!g.ok()) {
            std::abort();
        }
        memory = std::move(g.value());
        call = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        vq.set_call_fd(UniqueFd(::dup(call)));
        drv->rebase(base);
        if (!drv->configure(vq, base) || !vq.start(memory, features).ok()) {
            std::abort();
        }
        vq.set_enabled(true);
    }
    ~Queue() { ::close(call); }
    uint64_t interrupts() {
        uint64_t v = 0;
        return ::read(call, &v, sizeof v) == sizeof v ? v : 0;
    }
    // Sends `n` 60-byte frames through the device in one burst.
    uint32_t transmit(uint32_t n) {
        std::vector<uint8_t> f(60, 0x5a);
        for (uint32_t i = 0; i < n; i++) {
            if (drv->add_tx(SplitRingDriver::net_header(12), f) < 0) {
                std::abort();
            }
        }
        std::array<std::array<uint8_t, 2048>, NVH_MAX_BURST> storage;
        std::array<nvh_packet, NVH_MAX_BURST> pkts{};
        for (size_t i = 0; i < pkts.size(); i++) {
            pkts[i].data = storage[i].data();
            pkts[i].capacity = 2048;
        }
        uint32_t got = net_dequeue_burst(vq, pkts.data(), NVH_MAX_BURST);
        while (drv->pop_used()) {
        }
        return got;
    }

    GuestMemoryFixture mem;
    std::optional<SplitRingDriver> drv;
    GuestMemory memory;
    Virtqueue vq;
    int call = -1;
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
            ASSERT_GE(q.drv->add_tx(SplitRingDriver::net_header(12), f), 0);
            // The driver checks after each publish (Linux: virtqueue_kick_prepare).
            uint16_t new_avail = q.drv->avail_idx();
            kicks += passes(q.drv->avail_event(), new_avail, old_avail);
            old_avail = new_avail;
        }
        std::array<uint8_t, 2048> buf;
        std::array<nvh_packet, NVH_MAX_BURST> pkts{};
        for (auto& p : pkts) {
            p.data = buf.data();
            p.capacity = 2048;
        }
        ASSERT_EQ(net_dequeue_burst(q.vq, pkts.data(), NVH_MAX_BURST), burst);
        while (q.drv->pop_used()) {
        }
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

// ---- INDIRECT_DESC ------------------------------------------------------------

// virtio 1.2, 2.7.5.3.1: INDIRECT only when VIRTIO_F_INDIRECT_DESC was
// negotiated; otherwise the chain is invalid (dropped, counted, returned).
TEST(IndirectDesc, TransmitOnlyWhenNegotiated) {
    for (bool negotiated : {false, true}) {
        Queue q(64, kV1 | (negotiated ? kIndirect : 0), 0);
        uint64_t buf = q.mem.alloc(1024);
        std::vector<uint8_t> bytes(12 + 100, 7);
        std::fill(bytes.begin(), bytes.begin() + 12, 0);   // plain header
        q.mem.write(buf, bytes);
        const Segment segs[] = {{buf, 12, false}, {buf + 12, 100, false}};
        ASSERT_GE(q.drv->add_indirect(segs), 0);
        std::array<uint8_t, 2048> data;
        nvh_packet p{};
        p.data = data.data();
        p.capacity = 2048;
        EXPECT_EQ(net_dequeue_burst(q.vq, &p, 1), negotiated ? 1u : 0u);
        EXPECT_EQ(q.vq.counters().invalid_descriptors.load(), negotiated ? 0u : 1u);
        auto u = q.drv->pop_used();
        ASSERT_TRUE(u);   // returned either way
        EXPECT_EQ(u->len, 0u);
        EXPECT_FALSE(q.vq.broken());
    }
}

TEST(IndirectDesc, ReceiveOnlyWhenNegotiated) {
    for (bool negotiated : {false, true}) {
        Queue q(64, kV1 | (negotiated ? kIndirect : 0), 0);
        uint64_t buf = q.mem.alloc(2048);
        const Segment segs[] = {{buf, 1000, true}, {buf + 1000, 1000, true}};
        ASSERT_GE(q.drv->add_indirect(segs), 0);
        std::vector<uint8_t> f(1500, 3);
        nvh_packet p{};
        p.data = f.data();
        p.len = 1500;
        // Not negotiated: the only chain is invalid, so the ring is then
        // empty and the packet is not taken.
        EXPECT_EQ(net_enqueue_burst(q.vq, &p, 1), negotiated ? 1u : 0u);
        EXPECT_EQ(q.vq.counters().packets.load(), negotiated ? 1u : 0u);
        EXPECT_EQ(q.vq.counters().invalid_descriptors.load(), negotiated ? 0u : 1u);
        auto u = q.drv->pop_used();
        ASSERT_TRUE(u);
        EXPECT_EQ(u->len, negotiated ? 1512u : 0u);
        if (negotiated) {
            auto got = q.drv->read_used(*u);
            EXPECT_EQ(std::vector<uint8_t>(got.begin() + 12, got.end()), f);
        }
    }
}

}  // namespace
}  // namespace nvh
