// SPDX-License-Identifier: Apache-2.0
// Receive (net_enqueue_burst) rules shared by split and packed rings: the
// receive header, buffers too small, full rings, MRG_RXBUF merging and
// num_buffers, broken chains, indirect tables and many laps.
#include <gtest/gtest.h>

#include <vector>

#include "base/virtio_spec.h"
#include "net/virtio_net.h"
#include "ring_harness.h"

namespace nvh::test {
namespace {

template <typename R>
class RingRx : public RingTest<R> {};
TYPED_TEST_SUITE(RingRx, RingTypes, RingTypeNames);

// virtio 1.2, 5.1.6.4.1: without MRG_RXBUF num_buffers is 1 and, with no
// offload, the rest of the header is zero.
TYPED_TEST(RingRx, FullSizeFrameWithoutMrgRxbuf) {
    RingQueue<TypeParam> q(64, kV1);
    int h = q.post_rx({2048});
    auto f = frame(1518, 3);
    ASSERT_EQ(q.enqueue({rx_packet(f)}), 1u);
    auto u = q.pop();
    ASSERT_TRUE(u);
    EXPECT_EQ(u->id, uint32_t(h));
    EXPECT_EQ(u->len, 12u + 1518u);
    EXPECT_EQ(num_buffers(u->bytes), 1);
    EXPECT_EQ(std::vector<uint8_t>(u->bytes.begin(), u->bytes.begin() + 10),
              std::vector<uint8_t>(10, 0));
    EXPECT_EQ(payload(u->bytes), f);
    EXPECT_EQ(q.c().packets.load(), 1u);
    EXPECT_EQ(q.c().bytes.load(), 1518u);
}

TYPED_TEST(RingRx, ChainOfSeveralBuffersWithoutMrgRxbuf) {
    RingQueue<TypeParam> q(64, kV1);
    q.post_rx({8, 100, 2000});   // the header split over two buffers
    auto f = frame(1518, 1);
    ASSERT_EQ(q.enqueue({rx_packet(f)}), 1u);
    auto u = q.pop();
    ASSERT_TRUE(u);
    EXPECT_EQ(num_buffers(u->bytes), 1);
    EXPECT_EQ(payload(u->bytes), f);
}

// Without MRG_RXBUF a frame larger than the next chain is dropped (counted,
// and counted as handled); the chain stays for the next frame that fits.
TYPED_TEST(RingRx, FrameTooLargeWithoutMrgRxbufKeepsTheBuffer) {
    RingQueue<TypeParam> q(64, kV1, 2048);
    int first = q.post_rx({2048});
    int second = q.post_rx({2048});
    q.post_rx({2048});
    auto f64 = frame(64, 1), f9000 = frame(9000, 3), f1518 = frame(1518, 2);
    ASSERT_EQ(q.enqueue({rx_packet(f64), rx_packet(f9000), rx_packet(f1518)}), 3u);
    auto used = q.pop_all();
    ASSERT_EQ(used.size(), 2u);   // the third buffer is still posted
    EXPECT_EQ(used[0].id, uint32_t(first));
    EXPECT_EQ(payload(used[0].bytes), f64);
    EXPECT_EQ(used[1].id, uint32_t(second));
    EXPECT_EQ(used[1].len, 1530u);
    EXPECT_EQ(payload(used[1].bytes), f1518);
    EXPECT_EQ(q.c().rx_buffer_too_small.load(), 1u);
    EXPECT_EQ(q.c().packets.load(), 2u);
}

// virtio 1.2, 5.1.6.3.2: with MRG_RXBUF a frame takes as many chains as it
// needs and num_buffers in the first one says how many; for chains of one
// and of two descriptors.
TYPED_TEST(RingRx, MergeableBuffersFor1518And9000) {
    for (bool two_descriptors : {false, true}) {
        RingQueue<TypeParam> q(64, kMrg, 2048);
        for (int i = 0; i < 7; i++) {
            two_descriptors ? q.post_rx({1024, 1024}) : q.post_rx({2048});
        }
        auto f1 = frame(1518, 1), f2 = frame(9000, 2);
        ASSERT_EQ(q.enqueue({rx_packet(f1), rx_packet(f2)}), 2u);
        auto u = q.pop();
        ASSERT_TRUE(u);
        EXPECT_EQ(num_buffers(u->bytes), 1);
        EXPECT_EQ(payload(u->bytes), f1);
        // 12 + 9000 = 9012 bytes: 4 full chains and 820 bytes in a fifth.
        std::vector<uint8_t> all;
        for (int i = 0; i < 5; i++) {
            auto ui = q.pop();
            ASSERT_TRUE(ui);
            EXPECT_EQ(ui->len, i < 4 ? 2048u : 820u);
            all.insert(all.end(), ui->bytes.begin(), ui->bytes.end());
        }
        EXPECT_EQ(num_buffers(all), 5);
        EXPECT_EQ(payload(all), f2);
        EXPECT_FALSE(q.pop());   // one chain left posted
        EXPECT_EQ(q.c().bytes.load(), 1518u + 9000u);
    }
}

TYPED_TEST(RingRx, FullRingReturnsPartialCount) {
    RingQueue<TypeParam> q(64, kV1);
    for (int i = 0; i < 4; i++) {
        q.post_rx({2048});
    }
    std::vector<std::vector<uint8_t>> frames;
    for (int i = 0; i < 8; i++) {
        frames.push_back(frame(1518, uint8_t(i)));
    }
    std::vector<nvh_packet> p = rx_packets(frames);
    EXPECT_EQ(net_enqueue_burst(q.vq, p.data(), 8), 4u);
    EXPECT_EQ(q.c().ring_full.load(), 1u);
    EXPECT_EQ(q.pop_all().size(), 4u);
    EXPECT_EQ(net_enqueue_burst(q.vq, p.data() + 4, 4), 0u);
    EXPECT_EQ(q.c().ring_full.load(), 2u);
    EXPECT_EQ(q.c().packets.load(), 4u);
}

// A mergeable frame that needs more chains than are posted is rolled back:
// nothing is visible to the driver, the chains stay, and it goes whole once
// the driver posts more.
TYPED_TEST(RingRx, IncompleteMergeablePacketIsRolledBack) {
    RingQueue<TypeParam> q(64, kMrg);
    q.post_rx({2048});
    q.post_rx({2048});
    const uint32_t base = q.vq.base();
    auto f = frame(9000, 4);
    EXPECT_EQ(q.enqueue({rx_packet(f)}), 0u);   // needs 5 chains
    EXPECT_FALSE(q.pop());                       // nothing visible
    EXPECT_EQ(q.vq.base(), base);                // chains given back
    EXPECT_EQ(q.c().ring_full.load(), 1u);
    for (int i = 0; i < 3; i++) {
        q.post_rx({2048});
    }
    ASSERT_EQ(q.enqueue({rx_packet(f)}), 1u);
    auto all = q.pop_merged(5);
    EXPECT_EQ(num_buffers(all), 5);
    EXPECT_EQ(payload(all), f);
    EXPECT_FALSE(q.pop());
}

// The burst stops at the frame that does not fit (the ring is full for it)
// and returns how many frames went before it.
TYPED_TEST(RingRx, BurstStopsAtTheMergeablePacketThatDoesNotFit) {
    RingQueue<TypeParam> q(16, kMrg, 2048);
    q.post_rx({2048});
    q.post_rx({2048});
    auto small = frame(100, 1), big = frame(5000, 2);
    ASSERT_EQ(q.enqueue({rx_packet(small), rx_packet(big), rx_packet(small)}), 1u);
    EXPECT_EQ(q.c().ring_full.load(), 1u);
    ASSERT_TRUE(q.pop());
    EXPECT_FALSE(q.pop());
    q.post_rx({2048});
    q.post_rx({2048});
    ASSERT_EQ(q.enqueue({rx_packet(big)}), 1u);
    auto all = q.pop_merged(3);
    EXPECT_EQ(num_buffers(all), 3);
    EXPECT_EQ(payload(all), big);
    EXPECT_EQ(q.outstanding(), 0u);
}

TYPED_TEST(RingRx, MergeablePacketLargerThanTheWholeRingIsDropped) {
    RingQueue<TypeParam> q(4, kMrg);
    for (int i = 0; i < 4; i++) {
        q.post_rx({2048});   // 8192 bytes in all
    }
    auto big = frame(9000), small = frame(64);
    EXPECT_EQ(q.enqueue({rx_packet(big), rx_packet(small)}), 2u);
    EXPECT_EQ(q.c().rx_buffer_too_small.load(), 1u);
    EXPECT_EQ(q.c().ring_full.load(), 0u);
    EXPECT_EQ(q.pop_all().size(), 1u);
}

TYPED_TEST(RingRx, BufferSpanningTwoAdjacentRegions) {
    using Segment = typename RingQueue<TypeParam>::Segment;
    RingQueue<TypeParam> q(64, kV1);
    uint64_t gpa = 16 * kMiB - 1000;
    const Segment seg[] = {{gpa, 2048, true}};
    q.drv->add_chain(seg);
    auto f = frame(1518, 6);
    ASSERT_EQ(q.enqueue({rx_packet(f)}), 1u);
    auto bytes = q.mem.read(gpa, 12 + 1518);
    EXPECT_EQ(num_buffers(bytes), 1);
    EXPECT_EQ(payload(bytes), f);
}

// virtio 1.2, 5.1.6.3: receive buffers are device-writable.  A read-only
// chain goes back empty and counted, and ends the burst (bounded work,
// net/virtio_net.h); the frame takes the next chain in the next burst.
TYPED_TEST(RingRx, ReadOnlyChainReturnedEmptyAndEndsTheBurst) {
    RingQueue<TypeParam> q(64, kMrg);
    int bad = q.post_buffer(2048, false);
    int good = q.post_rx({2048});
    auto f = frame(100);
    // The invalid chain goes back empty, counted, and the burst ends there
    // (receive_burst.cpp): the packet is not handled by this burst...
    ASSERT_EQ(q.enqueue({rx_packet(f), rx_packet(f)}), 0u);
    EXPECT_EQ(q.c().invalid_descriptors.load(), 1u);
    auto used = q.pop_all();
    ASSERT_EQ(used.size(), 1u);
    EXPECT_EQ(used[0].id, uint32_t(bad));
    EXPECT_EQ(used[0].len, 0u);
    // ... and the next burst places it in the next chain.
    ASSERT_EQ(q.enqueue({rx_packet(f)}), 1u);
    used = q.pop_all();
    ASSERT_EQ(used.size(), 1u);
    EXPECT_EQ(used[0].id, uint32_t(good));
    EXPECT_EQ(used[0].len, 112u);
    EXPECT_EQ(payload(used[0].bytes), f);
    EXPECT_EQ(q.c().invalid_descriptors.load(), 1u);
}

// virtio 1.2, 2.7.9 / 2.8.9 (VIRTIO_F_IN_ORDER offered): a frame spread
// over two mergeable chains, the second of them invalid: both go back
// empty, first the one made available first.
TYPED_TEST(RingRx, ChainsOfADroppedPacketReturnInTheOrderTheyCame) {
    RingQueue<TypeParam> q(64, kMrg | kInOrder);
    int first = q.post_rx({100});
    int bad = q.post_buffer(2048, false);
    auto f = frame(1000);
    q.enqueue({rx_packet(f)});
    EXPECT_EQ(q.c().invalid_descriptors.load(), 1u);
    auto used = q.pop_all();
    ASSERT_EQ(used.size(), 2u);
    EXPECT_EQ(used[0].id, uint32_t(first));
    EXPECT_EQ(used[1].id, uint32_t(bad));
    EXPECT_EQ(used[0].len, 0u);
    EXPECT_EQ(used[1].len, 0u);
}

TYPED_TEST(RingRx, IndirectTableOnlyWhenNegotiated) {
    using Segment = typename RingQueue<TypeParam>::Segment;
    for (bool negotiated : {false, true}) {
        RingQueue<TypeParam> q(64, kV1 | (negotiated ? kIndirect : 0));
        uint64_t buf = q.mem.alloc(2048);
        const Segment segs[] = {{buf, 1000, true}, {buf + 1000, 1000, true}};
        ASSERT_GE(q.drv->add_indirect(segs), 0);
        auto f = frame(1500, 3);
        // Not negotiated: the only chain is invalid, so the ring is then
        // empty and the frame is not taken.
        EXPECT_EQ(q.enqueue({rx_packet(f)}), negotiated ? 1u : 0u);
        EXPECT_EQ(q.c().packets.load(), negotiated ? 1u : 0u);
        EXPECT_EQ(q.c().invalid_descriptors.load(), negotiated ? 0u : 1u);
        auto u = q.pop();
        ASSERT_TRUE(u);   // returned either way
        EXPECT_EQ(u->len, negotiated ? 1512u : 0u);
        if (negotiated) {
            EXPECT_EQ(payload(u->bytes), f);
        }
    }
}

// Many laps of an 8-entry ring, with and without MRG_RXBUF, frames of
// varying size over chains of two descriptors.
TYPED_TEST(RingRx, ManyLapsMergeableAndNot) {
    for (uint64_t features : {kV1, kMrg}) {
        RingQueue<TypeParam> q(8, features, 2048);
        const bool mrg = features == kMrg;
        for (uint32_t i = 0; i < 10000; i++) {
            auto f = frame(mrg ? 60 + (i * 37) % 3000 : 60 + (i * 37) % 1400, uint8_t(i));
            uint32_t chains = mrg ? (12 + uint32_t(f.size()) + 1023) / 1024 : 1;
            for (uint32_t c = 0; c < chains; c++) {
                ASSERT_GE(mrg ? q.post_rx({512, 512}) : q.post_rx({1000, 1000}), 0);
            }
            ASSERT_EQ(q.enqueue({rx_packet(f)}), 1u) << i;
            auto got = q.pop_merged(chains);
            ASSERT_EQ(num_buffers(got), chains);
            ASSERT_EQ(payload(got), f) << i;
        }
        EXPECT_EQ(q.c().packets.load(), 10000u);
        EXPECT_EQ(q.outstanding(), 0u);
    }
}

TYPED_TEST(RingRx, ReceiveInterruptsOncePerBurst) {
    RingQueue<TypeParam> q(64, kV1);
    for (int i = 0; i < 3; i++) {
        q.post_rx({2048});
    }
    auto f = frame(64);
    ASSERT_EQ(q.enqueue({rx_packet(f), rx_packet(f), rx_packet(f)}), 3u);
    EXPECT_EQ(q.interrupts(), 1u);
    EXPECT_EQ(q.c().guest_notifications.load(), 1u);
}

}  // namespace
}  // namespace nvh::test
