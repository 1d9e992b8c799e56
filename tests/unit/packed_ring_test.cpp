// Packed virtqueue (virtio 1.2, 2.8) through net_dequeue_burst /
// net_enqueue_burst, against PackedRingDriver: frames both ways, mergeable
// buffers, indirect tables, wrap counters over many laps, full rings, broken
// descriptors, event suppression and the vhost-user ring base.
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <optional>
#include <vector>

#include "frontend/guest_memory_fixture.h"
#include "frontend/packed_ring_driver.h"
#include "packed_fixture.h"
#include "vhost_user/message_handler.h"
#include "ring/packed_ring.h"
#include "net/virtio_net.h"
#include "base/virtio_spec.h"

namespace nvh {
namespace {

using test::GuestMemoryFixture;
using test::PackedRingDriver;
using test::PNet;
using test::TxBuffers;
using test::frame;
using test::num_buffers;
using test::payload;
using test::rx_packet;
using test::kEventIdx;
using test::kMiB;
using test::kIndirect;
using test::kMrg;
using test::kPacked;
using Segment = PackedRingDriver::Segment;

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

// ---- Transmit ---------------------------------------------------------------

TEST(PackedRingTx, Frames64And1518And9000) {
    PNet net(64, kPacked);
    TxBuffers b;
    const size_t sizes[] = {64, 1518, 9000};
    const uint32_t split[] = {12, 500};   // header, then 500, then the rest
    for (size_t s : sizes) {
        net.drv->add_tx(PackedRingDriver::net_header(12), frame(s, uint8_t(s)));
        net.drv->add_tx(PackedRingDriver::net_header(12), frame(s, uint8_t(s + 1)), split);
    }
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 6u);
    for (size_t i = 0; i < 6; i++) {
        size_t s = sizes[i / 2];
        EXPECT_EQ(b.got(i), frame(s, uint8_t(s + i % 2))) << i;
    }
    for (int i = 0; i < 6; i++) {
        auto u = net.drv->pop_used();
        ASSERT_TRUE(u);
        EXPECT_EQ(u->len, 0u);
    }
    EXPECT_FALSE(net.drv->pop_used());
    EXPECT_EQ(net.c().packets.load(), 6u);
    EXPECT_EQ(net.c().bytes.load(), 2u * (64 + 1518 + 9000));
    EXPECT_EQ(net.drv->free_slots(), 64);
}

TEST(PackedRingTx, BurstTakesAtMostN) {
    PNet net(64, kPacked);
    for (int i = 0; i < 5; i++) {
        net.drv->add_tx(PackedRingDriver::net_header(12), frame(100, uint8_t(i)));
    }
    TxBuffers b;
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 3), 3u);
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 2u);
    EXPECT_EQ(b.got(1), frame(100, 4));
    EXPECT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 0u);
}

TEST(PackedRingTx, IndirectOnlyWhenNegotiated) {
    for (bool negotiated : {false, true}) {
        PNet net(64, kPacked | (negotiated ? kIndirect : 0));
        auto f = frame(700, 6);
        uint64_t buf = net.mem.alloc(1024);
        std::vector<uint8_t> bytes(12, 0);
        bytes.insert(bytes.end(), f.begin(), f.end());
        net.mem.write(buf, bytes);
        const Segment segs[] = {{buf, 6, false}, {buf + 6, 300, false}, {buf + 306, 406, false}};
        ASSERT_GE(net.drv->add_indirect(segs), 0);
        net.drv->add_tx(PackedRingDriver::net_header(12), frame(80, 9));
        TxBuffers b;
        ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), negotiated ? 2u : 1u);
        if (negotiated) {
            EXPECT_EQ(b.got(0), f);
        }
        EXPECT_EQ(b.got(negotiated ? 1 : 0), frame(80, 9));
        EXPECT_EQ(net.c().invalid_descriptors.load(), negotiated ? 0u : 1u);
        ASSERT_TRUE(net.drv->pop_used());
        ASSERT_TRUE(net.drv->pop_used());
        EXPECT_FALSE(net.vq.broken());
    }
}

// Many laps of an 8-entry ring with chains of 1 to 3 descriptors, so chains
// straddle the end of the ring and both wrap counters flip thousands of times.
TEST(PackedRingTx, ManyLapsWithChainsAcrossTheRingEnd) {
    PNet net(8, kPacked, 2048);
    TxBuffers b;
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < 20000; i++) {
        auto f = frame(60 + i % 200, uint8_t(i));
        std::vector<uint32_t> split;
        for (uint32_t k = 0; k < i % 3; k++) {
            split.push_back(12 + k);
        }
        ASSERT_GE(net.drv->add_tx(PackedRingDriver::net_header(12), f, split), 0) << i;
        if (i % 2 == 0) {
            continue;   // two chains per burst, sometimes
        }
        uint32_t got = net_dequeue_burst(net.vq, b.pkts.data(), 32);
        ASSERT_EQ(got, 2u) << i;
        ASSERT_EQ(b.got(1), f);
        bytes += b.pkts[0].len + b.pkts[1].len;
        ASSERT_TRUE(net.drv->pop_used());
        ASSERT_TRUE(net.drv->pop_used());
    }
    EXPECT_EQ(net.c().packets.load(), 20000u);
    EXPECT_EQ(net.c().bytes.load(), bytes);
    EXPECT_EQ(net.drv->free_slots(), 8);
}

TEST(PackedRingTx, BrokenChainsAreDroppedCountedAndReturned) {
    PNet net(64, kPacked | kIndirect);
    auto good = frame(100, 3);
    uint64_t buf = net.mem.alloc(4096);
    std::vector<uint8_t> bytes(12, 0);
    bytes.insert(bytes.end(), good.begin(), good.end());
    net.mem.write(buf, bytes);
    using D = virtio::PackedDesc;
    // Device-writable buffer in a transmit chain (virtio 1.2, 5.1.6.2).
    net.drv->add_raw(std::array<D, 1>{D{buf, 112, 1, virtio::kDescFWrite}});
    // Not in guest memory.
    net.drv->add_raw(std::array<D, 1>{D{60 * kMiB + 64 * kMiB, 112, 2, 0}});
    // INDIRECT with NEXT (virtio 1.2, 2.8.8.1): two slots, returned as one.
    net.drv->add_raw(std::array<D, 2>{D{buf, 32, 0, uint16_t(virtio::kDescFIndirect |
                                                              virtio::kDescFNext)},
                                      D{buf, 112, 3, 0}});
    // Indirect table of a length that is not a multiple of 16.
    net.drv->add_raw(std::array<D, 1>{D{buf, 24, 4, virtio::kDescFIndirect}});
    // Header only: undersized.
    net.drv->add_raw(std::array<D, 1>{D{buf, 12, 5, 0}});
    net.drv->add_tx(PackedRingDriver::net_header(12), good);
    TxBuffers b;
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 1u);
    EXPECT_EQ(b.got(0), good);
    EXPECT_EQ(net.c().invalid_descriptors.load(), 4u);
    EXPECT_EQ(net.c().undersized_frames.load(), 1u);
    std::vector<uint16_t> ids;
    while (auto u = net.drv->pop_used()) {
        ids.push_back(u->id);
        EXPECT_EQ(u->len, 0u);
    }
    ASSERT_EQ(ids.size(), 6u);
    EXPECT_EQ(std::vector<uint16_t>(ids.begin(), ids.begin() + 5),
              (std::vector<uint16_t>{1, 2, 3, 4, 5}));
    EXPECT_EQ(net.drv->free_slots(), 64);
    EXPECT_FALSE(net.vq.broken());
}

TEST(PackedRingTx, IdOutOfRangeBreaksTheQueue) {
    PNet net(16, kPacked);
    using D = virtio::PackedDesc;
    uint64_t buf = net.mem.alloc(256);
    net.drv->add_raw(std::array<D, 1>{D{buf, 100, 16, 0}});   // id 16 of 16
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
    net.drv->add_raw(chain);
    TxBuffers b;
    EXPECT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 0u);
    EXPECT_TRUE(net.vq.broken());
    // Bounded: at most 256 descriptors read.
    EXPECT_LE(net.c().descriptors_read.load(), 256u);
}

TEST(PackedRingTx, ChainOf256IsServed) {
    PNet net(512, kPacked, 64);
    uint64_t buf = net.mem.alloc(8 * 256);
    std::vector<uint8_t> zeros(8 * 256, 0);
    net.mem.write(buf, zeros);
    std::vector<virtio::PackedDesc> chain;
    for (int i = 0; i < 256; i++) {
        chain.push_back({buf + 8 * uint64_t(i), 8, 9, virtio::kDescFNext});
    }
    chain.back().flags = 0;
    net.drv->add_raw(chain);
    TxBuffers b;
    EXPECT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 1u);
    EXPECT_EQ(b.pkts[0].len, 256u * 8 - 12);
    auto u = net.drv->pop_used();
    ASSERT_TRUE(u);
    EXPECT_EQ(u->id, 9u);
    EXPECT_EQ(net.drv->free_slots(), 512);
}

// ---- Receive ------------------------------------------------------------------

TEST(PackedRingRx, Frames64And1518WithoutMrgRxbuf9000TooLarge) {
    PNet net(64, kPacked, 2048);
    for (int i = 0; i < 3; i++) {
        net.drv->add_rx({2048});
    }
    auto f64 = frame(64, 1), f1518 = frame(1518, 2), f9000 = frame(9000, 3);
    nvh_packet p[3] = {rx_packet(f64), rx_packet(f9000), rx_packet(f1518)};
    ASSERT_EQ(net_enqueue_burst(net.vq, p, 3), 3u);
    auto u1 = net.drv->pop_used();
    auto u2 = net.drv->pop_used();
    ASSERT_TRUE(u1 && u2);
    EXPECT_EQ(payload(net.drv->read_used(*u1)), f64);
    EXPECT_EQ(num_buffers(net.drv->read_used(*u1)), 1u);
    EXPECT_EQ(payload(net.drv->read_used(*u2)), f1518);
    EXPECT_EQ(u2->len, 1530u);
    EXPECT_TRUE(u2->flags & virtio::kDescFWrite);
    EXPECT_FALSE(net.drv->pop_used());   // the third buffer is still posted
    EXPECT_EQ(net.c().rx_buffer_too_small.load(), 1u);
    EXPECT_EQ(net.c().packets.load(), 2u);
}

TEST(PackedRingRx, MergeableFor1518And9000) {
    PNet net(64, kMrg, 2048);
    for (int i = 0; i < 7; i++) {
        net.drv->add_rx({1024, 1024});   // 2 descriptors per chain
    }
    auto f1518 = frame(1518, 4), f9000 = frame(9000, 5);
    nvh_packet p[2] = {rx_packet(f1518), rx_packet(f9000)};
    ASSERT_EQ(net_enqueue_burst(net.vq, p, 2), 2u);
    auto u = net.drv->pop_used();
    ASSERT_TRUE(u);
    EXPECT_EQ(num_buffers(net.drv->read_used(*u)), 1u);
    EXPECT_EQ(payload(net.drv->read_used(*u)), f1518);
    std::vector<uint8_t> got;
    for (int i = 0; i < 5; i++) {   // 9012 bytes in 2048-byte chains
        auto v = net.drv->pop_used();
        ASSERT_TRUE(v);
        auto bytes = net.drv->read_used(*v);
        if (i == 0) {
            EXPECT_EQ(num_buffers(bytes), 5u);
            bytes.erase(bytes.begin(), bytes.begin() + 12);
        }
        got.insert(got.end(), bytes.begin(), bytes.end());
    }
    EXPECT_EQ(got, f9000);
    EXPECT_FALSE(net.drv->pop_used());
    EXPECT_EQ(net.drv->free_slots(), 64 - 2);   // one chain left posted
}

TEST(PackedRingRx, FullRingAndIncompleteMergeablePacketRolledBack) {
    PNet net(16, kMrg, 2048);
    net.drv->add_rx({2048});
    net.drv->add_rx({2048});
    auto small = frame(100, 1), big = frame(5000, 2);
    nvh_packet p[3] = {rx_packet(small), rx_packet(big), rx_packet(small)};
    // The big one needs 3 chains, only 1 is left: rolled back, burst stops.
    ASSERT_EQ(net_enqueue_burst(net.vq, p, 3), 1u);
    EXPECT_EQ(net.c().ring_full.load(), 1u);
    ASSERT_TRUE(net.drv->pop_used());
    EXPECT_FALSE(net.drv->pop_used());
    net.drv->add_rx({2048});
    net.drv->add_rx({2048});
    ASSERT_EQ(net_enqueue_burst(net.vq, p + 1, 1), 1u);
    std::vector<uint8_t> got;
    for (int i = 0; i < 3; i++) {
        auto v = net.drv->pop_used();
        ASSERT_TRUE(v);
        auto bytes = net.drv->read_used(*v);
        if (i == 0) {
            EXPECT_EQ(num_buffers(bytes), 3u);
            bytes.erase(bytes.begin(), bytes.begin() + 12);
        }
        got.insert(got.end(), bytes.begin(), bytes.end());
    }
    EXPECT_EQ(got, big);
    EXPECT_EQ(net.drv->free_slots(), 16);
}

TEST(PackedRingRx, IndirectOnlyWhenNegotiated) {
    for (bool negotiated : {false, true}) {
        PNet net(64, kPacked | (negotiated ? kIndirect : 0));
        uint64_t buf = net.mem.alloc(2048);
        const Segment segs[] = {{buf, 1000, true}, {buf + 1000, 1000, true}};
        ASSERT_GE(net.drv->add_indirect(segs), 0);
        auto f = frame(1500, 3);
        nvh_packet p = rx_packet(f);
        EXPECT_EQ(net_enqueue_burst(net.vq, &p, 1), negotiated ? 1u : 0u);
        EXPECT_EQ(net.c().invalid_descriptors.load(), negotiated ? 0u : 1u);
        auto u = net.drv->pop_used();
        ASSERT_TRUE(u);
        EXPECT_EQ(u->len, negotiated ? 1512u : 0u);
        if (negotiated) {
            EXPECT_EQ(payload(net.drv->read_used(*u)), f);
        }
    }
}

TEST(PackedRingRx, ReadOnlyBufferIsInvalidAndTheNextChainIsUsed) {
    PNet net(16, kPacked, 2048);
    using D = virtio::PackedDesc;
    uint64_t buf = net.mem.alloc(2048);
    net.drv->add_raw(std::array<D, 2>{D{buf, 1024, 0, virtio::kDescFNext}, D{buf + 1024, 1024, 3, 0}});
    net.drv->add_rx({2048});
    auto f = frame(200, 8);
    nvh_packet p = rx_packet(f);
    ASSERT_EQ(net_enqueue_burst(net.vq, &p, 1), 1u);
    auto bad = net.drv->pop_used();
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->id, 3u);
    EXPECT_EQ(bad->len, 0u);
    auto ok = net.drv->pop_used();
    ASSERT_TRUE(ok);
    EXPECT_EQ(payload(net.drv->read_used(*ok)), f);
    EXPECT_EQ(net.c().invalid_descriptors.load(), 1u);
    EXPECT_EQ(net.drv->free_slots(), 16);
}

TEST(PackedRingRx, ManyLapsMergeableAndNot) {
    for (uint64_t features : {kPacked, kMrg}) {
        PNet net(8, features, 2048);
        const bool mrg = features == kMrg;
        for (uint32_t i = 0; i < 10000; i++) {
            auto f = frame(mrg ? 60 + (i * 37) % 3000 : 60 + (i * 37) % 1400, uint8_t(i));
            uint32_t chains = mrg ? (12 + uint32_t(f.size()) + 1023) / 1024 : 1;
            for (uint32_t c = 0; c < chains; c++) {
                if (mrg) {
                    ASSERT_GE(net.drv->add_rx({512, 512}), 0);
                } else {
                    ASSERT_GE(net.drv->add_rx({1000, 1000}), 0);
                }
            }
            nvh_packet p = rx_packet(f);
            ASSERT_EQ(net_enqueue_burst(net.vq, &p, 1), 1u) << i;
            std::vector<uint8_t> got;
            for (uint32_t c = 0; c < chains; c++) {
                auto u = net.drv->pop_used();
                ASSERT_TRUE(u) << i;
                auto bytes = net.drv->read_used(*u);
                got.insert(got.end(), bytes.begin(), bytes.end());
            }
            ASSERT_EQ(num_buffers(got), chains);
            ASSERT_EQ(payload(got), f) << i;
        }
        EXPECT_EQ(net.c().packets.load(), 10000u);
        EXPECT_EQ(net.drv->free_slots(), 8);
    }
}

// ---- Event suppression (virtio 1.2, 2.8.10) ---------------------------------------

TEST(PackedRingNotify, EnableAndDisable) {
    PNet net(64, kPacked);
    TxBuffers b;
    net.drv->add_tx(PackedRingDriver::net_header(12), frame(64));
    net.drv->add_tx(PackedRingDriver::net_header(12), frame(64));
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 2u);
    EXPECT_EQ(net.interrupts(), 1u);   // ENABLE (0): once per burst
    net.drv->set_driver_event(kPackedEventDisable);
    net.drv->add_tx(PackedRingDriver::net_header(12), frame(64));
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 1u);
    EXPECT_EQ(net.interrupts(), 0u);
    // DESC without EVENT_IDX is not valid: treated as ENABLE.
    net.drv->set_driver_event(kPackedEventDesc, 0x7fff);
    net.drv->add_tx(PackedRingDriver::net_header(12), frame(64));
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
                PNet net(8, kPacked | kEventIdx, 2048, 0x8000);
                TxBuffers b;
                for (uint16_t k = 0; k < start; k++) {   // move to `start`
                    net.drv->add_tx(PackedRingDriver::net_header(12), frame(64));
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
                    net.drv->add_tx(PackedRingDriver::net_header(12), frame(64));
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

// ---- Ring base (vhost-user.rst, packed virtqueue indices) --------------------------

TEST(PackedRingBase, GetBaseCarriesAvailAndUsedAndRestarts) {
    PNet net(8, kPacked, 2048);
    TxBuffers b;
    for (int i = 0; i < 11; i++) {   // 11 one-slot chains: index 3, wrap 0
        net.drv->add_tx(PackedRingDriver::net_header(12), frame(64));
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
    ASSERT_TRUE(net.vq.start(net.memory, kPacked).ok());
    net.drv->add_tx(PackedRingDriver::net_header(12), frame(64, 42));
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 1u);
    EXPECT_EQ(b.got(0), frame(64, 42));
    ASSERT_TRUE(net.drv->pop_used());
    // DPDK's encoding (bits 0-15 only) gives the same position.
    net.vq.stop();
    net.vq.set_base(net.vq.base() & 0xffff);
    ASSERT_TRUE(net.vq.start(net.memory, kPacked).ok());
    net.drv->add_tx(PackedRingDriver::net_header(12), frame(64, 43));
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 1u);
    ASSERT_TRUE(net.drv->pop_used());
}

TEST(PackedRingBase, RefusesInFlightOrOutOfRangeBases) {
    PNet net(8, kPacked, 2048);
    net.vq.stop();
    net.vq.set_base(0x8000u | (2u << 16) | 0x80000000u);   // used 2 != avail 0
    EXPECT_FALSE(net.vq.start(net.memory, kPacked).ok());
    net.vq.set_base(0x8000u | 8u);   // index 8 of an 8-entry ring
    EXPECT_FALSE(net.vq.start(net.memory, kPacked).ok());
    net.vq.set_base(0x80008000u);    // QEMU's fresh ring: both at 0, wrap 1
    EXPECT_TRUE(net.vq.start(net.memory, kPacked).ok());
}

}  // namespace
}  // namespace nvh
