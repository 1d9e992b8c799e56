// SPDX-License-Identifier: Apache-2.0
// Split ring device side: Virtqueue::start rules, chain walking (loops,
// ranges, indirect tables), avail index snapshots and used ring publishing.
#include "ring/split_ring.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "net/virtio_net.h"
#include "ring/virtqueue.h"
#include "ring_harness.h"

namespace nvh::test {
namespace {

using Segment = SplitRingDriver::Segment;
using virtio::kDescFIndirect;
using virtio::kDescFNext;
using virtio::kDescFWrite;

// A started ring of `num` entries in 4 MiB of guest memory.
class Ring : public RingQueue<Split> {
public:
    explicit Ring(uint16_t num)
        : RingQueue<Split>(QueueConfig{.num = num, .features = kV1 | kIndirect,
                                       .buffer_size = 4096, .memory = 4 * kMiB,
                                       .adjacent_region = false}) {}
    SplitRing& ring() { return vq.split_ring(); }

    // Walks the chain at `head`: the buffers, and whether it ended validly.
    struct Walk {
        std::vector<DescBuffer> bufs;
        WalkStep last;
        std::string error;
    };
    Walk walk(uint16_t head) {
        ChainWalker w(ring(), head);
        Walk out;
        DescBuffer b;
        while ((out.last = w.next(&b)) == WalkStep::kBuffer) {
            out.bufs.push_back(b);
        }
        out.error = w.error();
        return out;
    }
    // An indirect table of `descs` at guest-physical `gpa`.
    void write_table(uint64_t gpa, const std::vector<virtio::SplitDesc>& descs) {
        mem.write(gpa, std::span<const uint8_t>(
                           reinterpret_cast<const uint8_t*>(descs.data()),
                           16 * descs.size()));
    }
};

// ---- Virtqueue configuration -----------------------------------------------

TEST(VirtqueueTest, SizeMustBeAPowerOfTwoUpTo32768) {
    Virtqueue vq;
    EXPECT_FALSE(vq.set_num(0).ok());
    EXPECT_FALSE(vq.set_num(3).ok());
    EXPECT_FALSE(vq.set_num(384).ok());
    EXPECT_FALSE(vq.set_num(65536).ok());
    EXPECT_TRUE(vq.set_num(1).ok());
    EXPECT_TRUE(vq.set_num(256).ok());
    EXPECT_TRUE(vq.set_num(32768).ok());
    EXPECT_EQ(vq.size(), 32768u);
}

TEST(VirtqueueTest, StartNeedsASize) {
    GuestMemoryFixture mem;
    mem.add_region(0, kMiB);
    auto gm = mem.create_memory();
    ASSERT_TRUE(gm.ok());
    Virtqueue vq;
    EXPECT_FALSE(vq.start(gm.value(), kV1).ok());
    EXPECT_FALSE(vq.started());
}

TEST(VirtqueueTest, StartRefusesRingsOutsideMemoryOrMisaligned) {
    GuestMemoryFixture mem;
    mem.add_region(0, kMiB);
    SplitRingDriver drv(mem, 256, 64);
    auto gm = mem.create_memory();
    ASSERT_TRUE(gm.ok());
    Virtqueue vq;
    ASSERT_TRUE(drv.configure(vq));
    ASSERT_TRUE(vq.start(gm.value(), kV1).ok());
    EXPECT_TRUE(vq.started());
    EXPECT_NE(vq.desc_host_address(), nullptr);
    EXPECT_EQ(drv.used_flags(), virtio::kUsedFNoNotify);   // we poll

    const VringAddresses good = drv.addresses();
    const uint64_t end = GuestMemoryFixture::kUvaOffset + kMiB;
    auto try_start = [&](VringAddresses a) {
        vq.set_addresses(a);
        bool ok = vq.start(gm.value(), kV1).ok();
        vq.set_addresses(good);
        return ok;
    };
    VringAddresses a = good;
    a.desc_user_addr = 0x10000;   // a gpa, not a frontend address
    EXPECT_FALSE(try_start(a));
    a = good;
    a.used_user_addr = end - virtio::split_used_bytes(256) + 1;   // one byte past
    EXPECT_FALSE(try_start(a));
    a.used_user_addr = end - virtio::split_used_bytes(256) - 2;   // fits, 4-aligned
    EXPECT_TRUE(try_start(a));
    a = good;
    a.desc_user_addr += 8;        // descriptor table needs 16
    EXPECT_FALSE(try_start(a));
    a = good;
    a.avail_user_addr += 1;       // avail ring needs 2
    EXPECT_FALSE(try_start(a));
    a = good;
    a.used_user_addr += 2;        // used ring needs 4
    EXPECT_FALSE(try_start(a));
    EXPECT_FALSE(vq.started());   // a failed start leaves it stopped
    EXPECT_EQ(vq.desc_host_address(), nullptr);
    EXPECT_TRUE(try_start(good));
}

TEST(VirtqueueTest, BaseFollowsTheRingAndSurvivesStop) {
    Ring r(16);
    r.vq.stop();
    r.vq.set_base(65534);   // continue near the wrap point
    r.drv->rebase(65534);   // where the driver's ring stands too
    ASSERT_TRUE(r.vq.start(r.memory, kV1).ok());
    // The driver's used index must continue from the same place.
    for (int i = 0; i < 4; i++) {
        r.drv->add_tx(SplitRingDriver::net_header(12), std::vector<uint8_t>(60, 1));
    }
    std::vector<uint8_t> buf(2048);
    nvh_packet p[4];
    for (auto& x : p) {
        x = {};
        x.data = buf.data();
        x.capacity = 2048;
    }
    EXPECT_EQ(net_dequeue_burst(r.vq, p, 4), 4u);
    EXPECT_EQ(r.vq.base(), 2u);                 // 65534 + 4, wrapped
    EXPECT_EQ(r.drv->used_idx(), 2u);
    r.vq.stop();
    EXPECT_EQ(r.vq.base(), 2u);
    r.vq.reset();
    EXPECT_EQ(r.vq.base(), 0u);
    EXPECT_EQ(r.vq.size(), 0u);
    EXPECT_FALSE(r.vq.enabled());
}

// ---- Chain walking ---------------------------------------------------------

TEST(ChainWalkerTest, WalksADirectChain) {
    Ring r(16);
    const Segment segs[] = {{0x1000, 10, false}, {0x2000, 20, false}, {0x3000, 30, true}};
    int head = r.drv->add_chain(segs);
    auto w = r.walk(uint16_t(head));
    EXPECT_EQ(w.last, WalkStep::kEnd);
    ASSERT_EQ(w.bufs.size(), 3u);
    EXPECT_EQ(w.bufs[1].addr, 0x2000u);
    EXPECT_EQ(w.bufs[1].len, 20u);
    EXPECT_FALSE(w.bufs[1].writable);
    EXPECT_TRUE(w.bufs[2].writable);
}

TEST(ChainWalkerTest, LoopEndsAsInvalid) {
    Ring r(16);
    r.drv->write_desc(3, {0x1000, 10, kDescFNext, 3});   // self loop
    auto w = r.walk(3);
    EXPECT_EQ(w.last, WalkStep::kInvalid);
    EXPECT_EQ(w.bufs.size(), 16u);   // bounded by the queue size
    // A longer loop through every descriptor.
    for (uint16_t i = 0; i < 16; i++) {
        r.drv->write_desc(i, {0x1000, 10, kDescFNext, uint16_t((i + 1) % 16)});
    }
    EXPECT_EQ(r.walk(0).last, WalkStep::kInvalid);
    // The longest legal chain: all 16 descriptors, the last without NEXT.
    r.drv->write_desc(15, {0x1000, 10, 0, 0});
    auto ok = r.walk(0);
    EXPECT_EQ(ok.last, WalkStep::kEnd);
    EXPECT_EQ(ok.bufs.size(), 16u);
}

TEST(ChainWalkerTest, NextAndHeadMustBeInRange) {
    Ring r(16);
    r.drv->write_desc(0, {0x1000, 10, kDescFNext, 16});
    EXPECT_EQ(r.walk(0).last, WalkStep::kInvalid);
    r.drv->write_desc(0, {0x1000, 10, kDescFNext, 15});
    r.drv->write_desc(15, {0x1000, 10, 0, 0});
    EXPECT_EQ(r.walk(0).last, WalkStep::kEnd);
    auto w = r.walk(16);
    EXPECT_EQ(w.last, WalkStep::kInvalid);
    EXPECT_TRUE(w.bufs.empty());
}

TEST(ChainWalkerTest, IndirectTable) {
    Ring r(16);
    uint64_t t = r.mem.alloc(64, 16);
    r.write_table(t, {{0x1000, 12, kDescFNext, 2}, {0, 0, 0, 0},
                      {0x2000, 100, kDescFNext | kDescFWrite, 3}, {0x3000, 200, kDescFWrite, 0}});
    // WRITE on the descriptor that points at the table is ignored.
    r.drv->write_desc(5, {t, 64, kDescFIndirect | kDescFWrite, 0});
    auto w = r.walk(5);
    EXPECT_EQ(w.last, WalkStep::kEnd) << w.error;
    ASSERT_EQ(w.bufs.size(), 3u);
    EXPECT_EQ(w.bufs[0].addr, 0x1000u);
    EXPECT_FALSE(w.bufs[0].writable);
    EXPECT_EQ(w.bufs[2].len, 200u);
    EXPECT_TRUE(w.bufs[2].writable);
}

TEST(ChainWalkerTest, DirectDescriptorsThenAnIndirectTable) {
    Ring r(16);
    uint64_t t = r.mem.alloc(32, 16);
    r.write_table(t, {{0x2000, 20, kDescFNext, 1}, {0x3000, 30, 0, 0}});
    r.drv->write_desc(1, {0x1000, 10, kDescFNext, 2});
    r.drv->write_desc(2, {t, 32, kDescFIndirect, 0});
    auto w = r.walk(1);
    EXPECT_EQ(w.last, WalkStep::kEnd);
    EXPECT_EQ(w.bufs.size(), 3u);
}

TEST(ChainWalkerTest, IndirectTableRules) {
    Ring r(16);
    uint64_t t = r.mem.alloc(17 * 16, 16);
    std::vector<virtio::SplitDesc> table(17, virtio::SplitDesc{0x1000, 10, 0, 0});
    r.write_table(t, table);
    auto invalid = [&](virtio::SplitDesc d) {
        r.drv->write_desc(0, d);
        return r.walk(0).last == WalkStep::kInvalid;
    };
    EXPECT_FALSE(invalid({t, 16, kDescFIndirect, 0}));       // one entry: fine
    EXPECT_FALSE(invalid({t, 256, kDescFIndirect, 0}));      // queue size: fine
    EXPECT_TRUE(invalid({t, 24, kDescFIndirect, 0}));        // not a multiple of 16
    EXPECT_TRUE(invalid({t, 0, kDescFIndirect, 0}));         // empty
    EXPECT_TRUE(invalid({t, 272, kDescFIndirect, 0}));       // 17 > queue size
    EXPECT_TRUE(invalid({t, 16, kDescFIndirect | kDescFNext, 1}));   // with NEXT
    EXPECT_TRUE(invalid({8 * kMiB, 32, kDescFIndirect, 0}));  // not in memory
    EXPECT_TRUE(invalid({4 * kMiB - 16, 32, kDescFIndirect, 0}));   // runs off the end

    // Nested: an indirect descriptor inside the table.
    r.write_table(t, {{t, 16, kDescFIndirect, 0}});
    EXPECT_TRUE(invalid({t, 16, kDescFIndirect, 0}));
    // next out of the table's range, and a loop inside the table.
    r.write_table(t, {{0x1000, 10, kDescFNext, 2}, {0x1000, 10, 0, 0}});
    EXPECT_TRUE(invalid({t, 32, kDescFIndirect, 0}));
    r.write_table(t, {{0x1000, 10, kDescFNext, 1}, {0x1000, 10, kDescFNext, 0}});
    EXPECT_TRUE(invalid({t, 32, kDescFIndirect, 0}));
}

TEST(ChainWalkerTest, IndirectTableAtAnUnalignedAddress) {
    Ring r(16);
    uint64_t t = r.mem.alloc(64, 16) + 4;   // not 8-byte aligned
    r.write_table(t, {{0x1000, 12, kDescFNext, 1}, {0xabcdef0123, 99, 0, 0}});
    r.drv->write_desc(0, {t, 32, kDescFIndirect, 0});
    auto w = r.walk(0);
    EXPECT_EQ(w.last, WalkStep::kEnd);
    ASSERT_EQ(w.bufs.size(), 2u);
    EXPECT_EQ(w.bufs[1].addr, 0xabcdef0123u);
    EXPECT_EQ(w.bufs[1].len, 99u);
}

// ---- Avail and used rings ----------------------------------------------------

TEST(SplitRingTest, AvailCountUpToTheQueueSize) {
    Ring r(16);
    r.drv->set_avail_idx(16);
    EXPECT_EQ(r.ring().avail_count(), 16);
    EXPECT_FALSE(r.ring().broken());
    r.drv->set_avail_idx(17);
    EXPECT_EQ(r.ring().avail_count(), 0);
    EXPECT_TRUE(r.ring().broken());
    EXPECT_EQ(r.ring().avail_count(), 0);   // stays broken
}

TEST(SplitRingTest, AvailCountAcrossTheWrap) {
    Ring r(16);
    r.vq.stop();
    r.vq.set_base(65530);
    r.drv->rebase(65530);
    ASSERT_TRUE(r.vq.start(r.memory, kV1).ok());
    r.drv->set_avail_idx(4);   // 65530 -> 4: 10 entries
    EXPECT_EQ(r.ring().avail_count(), 10);
    EXPECT_FALSE(r.ring().broken());
}

TEST(SplitRingTest, UsedElementsInvisibleUntilPublished) {
    Ring r(16);
    r.ring().put_used(3, 100);
    r.ring().put_used(7, 200);
    EXPECT_EQ(r.drv->used_idx(), 0);
    EXPECT_EQ(r.ring().pending_used(), 2);
    EXPECT_EQ(r.ring().publish_used(), 2);
    EXPECT_EQ(r.drv->used_idx(), 2);
    EXPECT_EQ(r.ring().publish_used(), 0);   // nothing more
    auto u = r.drv->pop_used();
    ASSERT_TRUE(u);
    EXPECT_EQ(u->id, 3u);
    EXPECT_EQ(u->len, 100u);
    u = r.drv->pop_used();
    ASSERT_TRUE(u);
    EXPECT_EQ(u->id, 7u);
    EXPECT_EQ(u->len, 200u);
}

TEST(SplitRingTest, HeadOutOfRangeBreaksTheQueue) {
    Ring r(16);
    r.drv->make_available(16);   // avail ring entry past the table
    std::vector<uint8_t> buf(2048);
    nvh_packet p{};
    p.data = buf.data();
    p.capacity = 2048;
    EXPECT_EQ(net_dequeue_burst(r.vq, &p, 1), 0u);
    EXPECT_TRUE(r.vq.broken());
    EXPECT_EQ(r.vq.counters().invalid_descriptors.load(), 1u);
    EXPECT_EQ(r.drv->used_idx(), 0);   // no used element with a bogus id
}

}  // namespace
}  // namespace nvh::test
