// SPDX-License-Identifier: Apache-2.0
// Rules of the packed virtqueue only (virtio 1.2, 2.8), through
// net_dequeue_burst / net_enqueue_burst against PackedRingDriver: buffer
// ids, chains the ring cannot be used past, indirect descriptors with NEXT,
// used descriptor flags, event suppression, the vhost-user ring base and
// IN_ORDER's single used descriptor.  The rules both ring types share are
// in ring_tx_test.cpp, ring_rx_test.cpp and ring_batch_test.cpp.
#include <gtest/gtest.h>

#include <array>
#include <span>
#include <vector>

#include "base/virtio_spec.h"
#include "net/virtio_net.h"
#include "ring/packed_ring.h"
#include "ring_harness.h"
#include "vhost_user/message_handler.h"

namespace nvh::test {
namespace {

using PNet = RingQueue<Packed>;
using Segment = PackedRingDriver::Segment;
using D = virtio::PackedDesc;

constexpr uint64_t kPacked = kV1;   // RingQueue<Packed> adds RING_PACKED.

TEST(PackedRing, FeatureIsOffered) {
    EXPECT_TRUE(virtio::has(kOfferedFeatures, virtio::kFRingPacked));
}

TEST(PackedRing, StartsWithDeviceEventsDisabled) {
    PNet net(64, kPacked);
    EXPECT_TRUE(net.vq.packed());
    // virtio 1.2, 2.8.10: the data path polls, so the driver is told not to
    // notify.
    EXPECT_EQ(net.drv->device_event_flags(), kPackedEventDisable);
}

TEST(PackedRingTx, IdOutOfRangeBreaksTheQueue) {
    PNet net(16, kPacked);
    using D = virtio::PackedDesc;
    uint64_t buf = net.mem.alloc(256);
    ASSERT_TRUE(net.drv->add_raw(std::array<D, 1>{D{buf, 100, 16, 0}}));   // id 16 of 16
    TxBuffers b;
    EXPECT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 0u);
    EXPECT_TRUE(net.vq.broken());
    EXPECT_EQ(net.c().invalid_descriptors.load(), 1u);
    EXPECT_FALSE(net.drv->pop_used());
}

TEST(PackedRingTx, ChainLongerThan256BreaksTheQueue) {
    PNet net(512, kPacked, 64);
    uint64_t buf = net.mem.alloc(64);
    std::vector<virtio::PackedDesc> chain(257, virtio::PackedDesc{buf, 8, 0, virtio::kDescFNext});
    chain.back().flags = 0;
    chain.back().id = 7;
    ASSERT_TRUE(net.drv->add_raw(chain));
    TxBuffers b;
    EXPECT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 0u);
    EXPECT_TRUE(net.vq.broken());
    // Bounded: at most 256 descriptors read.
    EXPECT_LE(net.c().descriptors_read.load(), 256u);
}

// virtio 1.2, 2.8.8.1: INDIRECT with NEXT is invalid (two slots, returned
// as one), and so is an indirect table whose length is not a multiple of
// 16 (2.8.8); the next chain is served.
TEST(PackedRingTx, BrokenIndirectDescriptorsAreDroppedAndReturned) {
    PNet net(64, kPacked | kIndirect);
    auto good = frame(100, 3);
    uint64_t buf = net.place_tx_bytes(good);
    ASSERT_TRUE(net.drv->add_raw(std::array<D, 2>{
        D{buf, 32, 0, uint16_t(virtio::kDescFIndirect | virtio::kDescFNext)}, D{buf, 112, 3, 0}}));
    ASSERT_TRUE(net.drv->add_raw(std::array<D, 1>{D{buf, 24, 4, virtio::kDescFIndirect}}));
    net.post_tx(good);
    TxBuffers b;
    ASSERT_EQ(net.dequeue(b), 1u);
    EXPECT_EQ(b.got(0), good);
    EXPECT_EQ(net.c().invalid_descriptors.load(), 2u);
    auto used = net.pop_all();
    ASSERT_EQ(used.size(), 3u);
    EXPECT_EQ(used[0].id, 3u);
    EXPECT_EQ(used[1].id, 4u);
    EXPECT_EQ(used[0].len, 0u);
    EXPECT_EQ(used[1].len, 0u);
    EXPECT_EQ(net.outstanding(), 0u);
    EXPECT_FALSE(net.vq.broken());
}

// virtio 1.2, 2.8.7: a used receive descriptor has WRITE set, and a
// read-only chain of two descriptors goes back as one used descriptor with
// its last id.
TEST(PackedRingRx, UsedDescriptorsOfReceiveChains) {
    PNet net(16, kPacked, 2048);
    uint64_t buf = net.mem.alloc(2048);
    ASSERT_TRUE(net.drv->add_raw(
        std::array<D, 2>{D{buf, 1024, 0, virtio::kDescFNext}, D{buf + 1024, 1024, 3, 0}}));
    net.post_rx({2048});
    auto f = frame(200, 8);
    ASSERT_EQ(net.enqueue({rx_packet(f)}), 0u);   // The invalid chain ends the burst.
    ASSERT_EQ(net.enqueue({rx_packet(f)}), 1u);
    auto bad = net.drv->pop_used();
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->id, 3u);
    EXPECT_EQ(bad->len, 0u);
    auto ok = net.drv->pop_used();
    ASSERT_TRUE(ok);
    EXPECT_TRUE(ok->flags & virtio::kDescFWrite);
    EXPECT_EQ(payload(net.drv->read_used(*ok)), f);
    EXPECT_EQ(net.outstanding(), 0u);
}

TEST(PackedRingNotify, EnableAndDisable) {
    PNet net(64, kPacked);
    TxBuffers b;
    net.post_tx(frame(64));
    net.post_tx(frame(64));
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 2u);
    EXPECT_EQ(net.interrupts(), 1u);   // ENABLE (0): once per burst
    net.drv->set_driver_event(kPackedEventDisable);
    net.post_tx(frame(64));
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 1u);
    EXPECT_EQ(net.interrupts(), 0u);
    // DESC without EVENT_IDX is not valid: treated as ENABLE.
    net.drv->set_driver_event(kPackedEventDesc, 0x7fff);
    net.post_tx(frame(64));
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 1u);
    EXPECT_EQ(net.interrupts(), 1u);
    EXPECT_EQ(net.c().guest_notifications.load(), 2u);
}

// DESC with EVENT_IDX: an interrupt exactly when the burst writes the used
// descriptor at the driver's offset and wrap, checked against every offset
// of both laps for bursts of 1..5 one-slot chains, across the ring end.
TEST(PackedRingNotify, DescEventExactAcrossTheWrap) {
    for (uint16_t start = 0; start < 8; start++) {
        for (uint32_t burst = 1; burst <= 5; burst++) {
            for (uint16_t off_wrap = 0; off_wrap < 16; off_wrap++) {
                uint16_t off = off_wrap % 8;
                bool wrap = off_wrap >= 8;
                // Start the ring at slot `start` of the first lap (wrap 1).
                PNet net(8, kPacked | kEventIdx, 2048);
                TxBuffers b;
                for (uint16_t k = 0; k < start; k++) {   // move to `start`
                    net.post_tx(frame(64));
                }
                if (start) {
                    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), start);
                    while (net.drv->pop_used()) {
                    }
                }
                net.interrupts();
                net.drv->set_driver_event(kPackedEventDesc,
                                          uint16_t(off | (wrap ? 0x8000 : 0)));
                for (uint32_t k = 0; k < burst; k++) {
                    net.post_tx(frame(64));
                }
                ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), burst);
                // Expected: the slots written are start .. start+burst-1 on a
                // linear scale where lap 1 (wrap 1) is 0..7 and lap 2 (wrap 0)
                // is 8..15.
                int linear = (wrap ? 0 : 8) + off;
                bool want = linear >= start && linear < int(start + burst);
                EXPECT_EQ(net.interrupts(), want ? 1u : 0u)
                    << "start " << start << " burst " << burst << " off " << off
                    << " wrap " << wrap;
            }
        }
    }
}

TEST(PackedRingBase, GetBaseCarriesAvailAndUsedAndRestarts) {
    PNet net(8, kPacked, 2048);
    TxBuffers b;
    for (int i = 0; i < 11; i++) {   // 11 one-slot chains: index 3, wrap 0
        net.post_tx(frame(64));
        ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 1u);
        ASSERT_TRUE(net.drv->pop_used());
    }
    net.vq.stop();
    uint32_t base = net.vq.base();
    EXPECT_EQ(base, 3u | (3u << 16));
    PackedBase pb = PackedBase::decode(base);
    EXPECT_EQ(pb.avail_idx, 3u);
    EXPECT_FALSE(pb.avail_wrap);
    // Resume from the base, as a frontend does after GET_VRING_BASE.
    net.vq.set_base(base);
    ASSERT_TRUE(net.vq.start(net.memory, net.features()).ok());
    net.post_tx(frame(64, 42));
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 1u);
    EXPECT_EQ(b.got(0), frame(64, 42));
    ASSERT_TRUE(net.drv->pop_used());
    // DPDK's encoding (bits 0-15 only) gives the same position.
    net.vq.stop();
    net.vq.set_base(net.vq.base() & 0xffff);
    ASSERT_TRUE(net.vq.start(net.memory, net.features()).ok());
    net.post_tx(frame(64, 43));
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 1u);
    ASSERT_TRUE(net.drv->pop_used());
}

TEST(PackedRingBase, RefusesInFlightOrOutOfRangeBases) {
    PNet net(8, kPacked, 2048);
    net.vq.stop();
    net.vq.set_base(0x8000u | (2u << 16) | 0x80000000u);   // used 2 != avail 0
    EXPECT_FALSE(net.vq.start(net.memory, net.features()).ok());
    net.vq.set_base(0x8000u | 8u);   // index 8 of an 8-entry ring
    EXPECT_FALSE(net.vq.start(net.memory, net.features()).ok());
    net.vq.set_base(0x80008000u);    // QEMU's fresh ring: both at 0, wrap 1
    EXPECT_TRUE(net.vq.start(net.memory, net.features()).ok());
}

// virtio 1.2, "Packed Virtqueues / In-order use of descriptors": with
// VIRTIO_F_IN_ORDER a transmit burst is returned as one used descriptor, at
// the burst's first slot, naming its last buffer; the other chains' slots
// keep the driver's descriptors.
TEST(PackedRingTx, InOrderBurstReturnsOneUsedDescriptor) {
    PNet net(64, kPacked | virtio::bit(virtio::kFInOrder));
    const uint32_t split[] = {12, 30};   // header, 30 bytes, the rest
    std::vector<int> ids;
    std::vector<uint16_t> first_slots;
    for (int i = 0; i < 5; i++) {
        first_slots.push_back(net.drv->next_avail());
        ids.push_back(net.post_tx(frame(100, uint8_t(i)),
                                  i % 2 ? std::span<const uint32_t>(split)
                                        : std::span<const uint32_t>()));
    }
    TxBuffers b;
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 5u);
    for (int i = 0; i < 5; i++) {
        EXPECT_EQ(b.got(size_t(i)), frame(100, uint8_t(i))) << i;
    }
    // Only the first chain's slot holds a used descriptor.
    for (int i = 1; i < 5; i++) {
        uint16_t flags = net.drv->slot_flags(first_slots[size_t(i)]);
        EXPECT_EQ(flags & (virtio::kPackedDescFAvail | virtio::kPackedDescFUsed),
                  virtio::kPackedDescFAvail)
            << "chain " << i << " got a used descriptor of its own";
    }
    auto batch = net.drv->pop_used_in_order();
    ASSERT_EQ(batch.size(), 5u);
    for (int i = 0; i < 5; i++) {
        EXPECT_EQ(batch[size_t(i)].id, uint16_t(ids[size_t(i)])) << i;
    }
    EXPECT_TRUE(net.drv->pop_used_in_order().empty());
    EXPECT_EQ(net.drv->free_slots(), 64);
    EXPECT_EQ(net.c().packets.load(), 5u);
}

// The same over thousands of laps of an 8-entry ring, bursts of 1 to 3
// chains of 1 to 3 descriptors, dropped (invalid) chains among them: every
// burst comes back as one used descriptor and the ring never stalls.
TEST(PackedRingTx, InOrderManyLapsWithDroppedChains) {
    PNet net(8, kPacked | virtio::bit(virtio::kFInOrder), 2048);
    TxBuffers b;
    uint64_t frames = 0, dropped = 0;
    for (uint32_t i = 0; i < 20000; i++) {
        const uint32_t chains = 1 + i % 3;
        std::vector<int> ids;
        for (uint32_t c = 0; c < chains; c++) {
            std::vector<uint32_t> split;
            for (uint32_t k = 0; k < (i + c) % 3; k++) {
                split.push_back(12 + k);
            }
            if ((i + c) % 7 == 0) {
                // Device-writable: invalid in a transmitq, dropped.
                const Segment w[] = {{net.drv->pool_buffer(0), 64, true}};
                ids.push_back(net.drv->add_chain(w));
                dropped++;
            } else {
                ids.push_back(net.post_tx(frame(60, uint8_t(i)), split));
                frames++;
            }
            ASSERT_GE(ids.back(), 0) << i;
        }
        net_dequeue_burst(net.vq, b.pkts.data(), 32);
        auto batch = net.drv->pop_used_in_order();
        ASSERT_EQ(batch.size(), chains) << i;
        EXPECT_EQ(batch.back().id, uint16_t(ids.back())) << i;
        ASSERT_TRUE(net.drv->pop_used_in_order().empty()) << i;
    }
    EXPECT_EQ(net.c().packets.load(), frames);
    EXPECT_EQ(net.c().invalid_descriptors.load(), dropped);
    EXPECT_EQ(net.drv->free_slots(), 8);
    EXPECT_FALSE(net.vq.broken());
}

// Receive buffers carry lengths: with IN_ORDER every chain still gets its
// own used descriptor.
TEST(PackedRingRx, InOrderStillReturnsEveryChain) {
    PNet net(64, kPacked | virtio::bit(virtio::kFInOrder), 2048);
    for (int i = 0; i < 3; i++) {
        net.drv->add_rx({2048});
    }
    auto f1 = frame(64, 1), f2 = frame(1000, 2), f3 = frame(300, 3);
    nvh_packet p[3] = {rx_packet(f1), rx_packet(f2), rx_packet(f3)};
    ASSERT_EQ(net_enqueue_burst(net.vq, p, 3), 3u);
    for (auto* f : {&f1, &f2, &f3}) {
        auto u = net.drv->pop_used();
        ASSERT_TRUE(u);
        EXPECT_EQ(u->len, 12 + f->size());
        EXPECT_EQ(payload(net.drv->read_used(*u)), *f);
    }
}

}  // namespace
}  // namespace nvh::test
