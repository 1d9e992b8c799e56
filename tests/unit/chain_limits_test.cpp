// SPDX-License-Identifier: Apache-2.0
// Bounds on descriptor walking on the split ring: at most 256 buffers per
// chain (ChainWalker), chains over the limit consumed as invalid, and
// receive bursts that do not re-walk chains already found too small.  The
// longest legal chain and bursts longer than one pass, on both ring types,
// are in ring_batch_test.cpp.
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "base/virtio_spec.h"
#include "net/virtio_net.h"
#include "ring/split_ring.h"
#include "ring_harness.h"

namespace nvh::test {
namespace {

using Segment = SplitRingDriver::Segment;

constexpr uint32_t kLimit = ChainWalker::kMaxChainBuffers;
static_assert(kLimit == 256);

// A started, enabled split queue of 1024 entries (room for chains longer
// than the limit) with 2 KiB pool buffers.
class Queue : public RingQueue<Split> {
public:
    explicit Queue(uint64_t features)
        : RingQueue<Split>(QueueConfig{.num = 1024, .features = features, .buffer_size = 2048}) {}

    // `count` device-readable segments of 8 bytes, back to back in fresh
    // memory starting at *base.
    std::vector<Segment> tx_segments(size_t count, uint64_t* base) {
        *base = mem.alloc(8 * count);
        std::vector<Segment> segs;
        for (size_t i = 0; i < count; i++) {
            segs.push_back({*base + 8 * i, 8, false});
        }
        return segs;
    }
    // A receive chain of `count` device-writable buffers of 8 bytes.
    int add_rx8(size_t count) {
        std::vector<uint32_t> sizes(count, 8);
        return drv->add_rx(sizes);
    }
};

// ---- ChainWalker -------------------------------------------------------------

std::pair<size_t, WalkStep> walk(const SplitRing& ring, uint16_t head) {
    ChainWalker w(ring, head);
    DescBuffer b;
    size_t n = 0;
    WalkStep s;
    while ((s = w.next(&b)) == WalkStep::kBuffer) {
        n++;
    }
    return {n, s};
}

TEST(ChainLimits, WalkerAcceptsTheLimitAndRefusesOneMore) {
    Queue q(kV1);
    uint64_t base;
    auto segs = q.tx_segments(kLimit + 1, &base);
    int longer = q.drv->add_chain(segs);
    segs.pop_back();
    int limit = q.drv->add_chain(segs);
    auto ok = walk(q.vq.split_ring(), uint16_t(limit));
    EXPECT_EQ(ok.second, WalkStep::kEnd);
    EXPECT_EQ(ok.first, kLimit);
    auto bad = walk(q.vq.split_ring(), uint16_t(longer));
    EXPECT_EQ(bad.second, WalkStep::kInvalid);
    EXPECT_EQ(bad.first, kLimit);   // nothing past the limit is yielded
}

TEST(ChainLimits, IndirectBuffersCountTowardsTheLimit) {
    Queue q(kV1 | virtio::bit(virtio::kFIndirectDesc));
    uint64_t base;
    auto segs = q.tx_segments(kLimit + 1, &base);
    int longer = q.drv->add_indirect(segs);
    segs.pop_back();
    int limit = q.drv->add_indirect(segs);
    EXPECT_EQ(walk(q.vq.split_ring(), uint16_t(limit)).second, WalkStep::kEnd);
    EXPECT_EQ(walk(q.vq.split_ring(), uint16_t(longer)).second, WalkStep::kInvalid);
}

// ---- Transmit ----------------------------------------------------------------

TEST(ChainLimits, TransmitChainOverTheLimitIsConsumedAsInvalid) {
    Queue q(kV1);
    // 256 x 8 bytes: a 12-byte header and a 2036-byte frame.
    uint64_t base;
    auto segs = q.tx_segments(kLimit, &base);
    auto f = frame(kLimit * 8 - 12, 9);
    q.mem.write(base + 12, f);
    uint64_t long_base;
    auto long_segs = q.tx_segments(kLimit + 1, &long_base);
    int longer = q.drv->add_chain(long_segs);
    int limit = q.drv->add_chain(segs);

    TxBuffers b;
    ASSERT_EQ(q.dequeue(b, 2), 1u);
    EXPECT_EQ(b.got(0), f);
    EXPECT_EQ(q.c().invalid_descriptors.load(), 1u);
    EXPECT_EQ(q.c().packets.load(), 1u);
    // Both chains go back to the driver, the refused one with len 0.
    auto u0 = q.drv->pop_used(), u1 = q.drv->pop_used();
    ASSERT_TRUE(u0 && u1);
    EXPECT_EQ(u0->id, uint32_t(longer));
    EXPECT_EQ(u0->len, 0u);
    EXPECT_EQ(u1->id, uint32_t(limit));
}

// ---- Receive -----------------------------------------------------------------

TEST(ChainLimits, ReceiveChainOverTheLimitIsConsumedAsInvalid) {
    Queue q(kV1);
    int longer = q.add_rx8(kLimit + 1);
    int limit = q.add_rx8(kLimit);   // 2048 bytes
    auto f = frame(1518);
    nvh_packet p = rx_packet(f);
    // The invalid chain ends the burst (net/virtio_net.h, "Bounded work");
    // the next burst takes the chain after it.
    ASSERT_EQ(net_enqueue_burst(q.vq, &p, 1), 0u);
    EXPECT_EQ(q.c().invalid_descriptors.load(), 1u);
    ASSERT_EQ(net_enqueue_burst(q.vq, &p, 1), 1u);
    EXPECT_EQ(q.c().invalid_descriptors.load(), 1u);
    EXPECT_EQ(q.c().packets.load(), 1u);
    auto u0 = q.drv->pop_used(), u1 = q.drv->pop_used();
    ASSERT_TRUE(u0 && u1);
    EXPECT_EQ(u0->id, uint32_t(longer));
    EXPECT_EQ(u0->len, 0u);
    EXPECT_EQ(u1->id, uint32_t(limit));
    EXPECT_EQ(u1->len, 12u + 1518u);
}

// Bounded work (net/virtio_net.h): a ring full of long chains that turn
// out invalid at their last buffer costs one such chain per burst, not one
// per chain of the ring (virtio 1.2, 2.7.5: every byte must be mapped).
TEST(ChainLimits, InvalidReceiveChainEndsTheBurst) {
    Queue q(kV1);
    constexpr size_t kBuffers = 200;
    for (int c = 0; c < 4; c++) {
        uint64_t base = q.mem.alloc(8 * kBuffers);
        std::vector<Segment> segs;
        for (size_t i = 0; i < kBuffers; i++) {
            segs.push_back({base + 8 * i, 8, true});
        }
        segs.push_back({uint64_t{1} << 44, 8, true});   // Not guest memory.
        ASSERT_GE(q.drv->add_chain(segs), 0);
    }
    auto f = frame(64);
    std::vector<nvh_packet> p(NVH_MAX_BURST, rx_packet(f));
    for (uint64_t burst = 1; burst <= 4; burst++) {
        ASSERT_EQ(net_enqueue_burst(q.vq, p.data(), NVH_MAX_BURST), 0u);
        EXPECT_EQ(q.c().invalid_descriptors.load(), burst);
        EXPECT_EQ(q.c().descriptors_read.load(), burst * (kBuffers + 1));
    }
    EXPECT_EQ(q.c().packets.load(), 0u);
}

TEST(ChainLimits, TooSmallReceiveChainIsWalkedOncePerBurst) {
    Queue q(kV1);
    int h = q.add_rx8(200);   // 1600 bytes
    // 31 frames too large for the chain, then one that fits.
    auto big = frame(2000), small = frame(64, 5);
    std::vector<nvh_packet> p(NVH_MAX_BURST, rx_packet(big));
    p.back() = rx_packet(small);
    ASSERT_EQ(net_enqueue_burst(q.vq, p.data(), NVH_MAX_BURST), NVH_MAX_BURST);
    EXPECT_EQ(q.c().rx_buffer_too_small.load(), NVH_MAX_BURST - 1u);
    EXPECT_EQ(q.c().packets.load(), 1u);
    // Once for the first large frame, once more for the small one that
    // takes it; the other 30 large frames are dropped without a walk.
    EXPECT_EQ(q.c().descriptors_read.load(), 2 * 200u);
    auto u = q.drv->pop_used();
    ASSERT_TRUE(u);
    EXPECT_EQ(u->id, uint32_t(h));
    EXPECT_EQ(u->len, 12u + 64u);

    // A new burst starts afresh: the next chain is walked for the first
    // frame that does not fit it, and not again.
    q.add_rx8(200);
    std::vector<nvh_packet> big_only(NVH_MAX_BURST, rx_packet(big));
    ASSERT_EQ(net_enqueue_burst(q.vq, big_only.data(), NVH_MAX_BURST), NVH_MAX_BURST);
    EXPECT_EQ(q.c().descriptors_read.load(), 3 * 200u);
    EXPECT_EQ(q.vq.base(), 1u);   // left in the ring
}

TEST(ChainLimits, MergeableWalkStopsAtThePieceLimit) {
    Queue q(kMrg);
    int a = q.add_rx8(200);
    q.add_rx8(kLimit);   // only 56 more buffers fit a packet's budget
    auto big = frame(9000), small = frame(64, 5);
    std::vector<nvh_packet> p(NVH_MAX_BURST, rx_packet(big));
    p.back() = rx_packet(small);
    ASSERT_EQ(net_enqueue_burst(q.vq, p.data(), NVH_MAX_BURST), NVH_MAX_BURST);
    EXPECT_EQ(q.c().rx_buffer_too_small.load(), NVH_MAX_BURST - 1u);
    EXPECT_EQ(q.c().invalid_descriptors.load(), 0u);
    // First large frame: 200 + 56 buffers and the one past the budget;
    // the small frame: the first chain only.
    EXPECT_EQ(q.c().descriptors_read.load(), 200u + 57u + 200u);
    auto u = q.drv->pop_used();
    ASSERT_TRUE(u);
    EXPECT_EQ(u->id, uint32_t(a));
    EXPECT_EQ(u->len, 12u + 64u);
    EXPECT_FALSE(q.drv->pop_used());
}

}  // namespace
}  // namespace nvh::test
