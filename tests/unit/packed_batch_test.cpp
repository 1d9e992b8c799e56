// Packed-ring bursts a batch at a time: the batch-of-4 path
// (PackedRing::take_batch: four one-descriptor chains in one line of the
// ring) and, with VIRTIO_F_IN_ORDER, a transmit burst returned as one used
// descriptor.  Every case that breaks a batch must come out as the
// one-by-one path would have it.
#include <gtest/gtest.h>

#include <vector>

#include "frontend/packed_ring_driver.h"
#include "packed_fixture.h"
#include "net/virtio_net.h"
#include "base/virtio_spec.h"

namespace nvh {
namespace {

using test::PackedRingDriver;
using test::PNet;
using test::TxBuffers;
using test::frame;
using test::kMrg;
using test::kPacked;
using test::num_buffers;
using test::payload;
using test::rx_packet;
using Segment = PackedRingDriver::Segment;

constexpr uint64_t kInOrder = virtio::bit(virtio::kFInOrder);

// ---- Transmit -----------------------------------------------------------------

TEST(PackedBatchTx, ThirtyTwoSingleChainsInBatches) {
    PNet net(64, kPacked);
    std::vector<int> ids;
    for (int i = 0; i < 32; i++) {
        ids.push_back(net.drv->add_tx(PackedRingDriver::net_header(12),
                                      frame(60 + 37 * size_t(i), uint8_t(i))));
    }
    TxBuffers b;
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 32u);
    for (int i = 0; i < 32; i++) {
        EXPECT_EQ(b.got(size_t(i)), frame(60 + 37 * size_t(i), uint8_t(i))) << i;
        auto u = net.drv->pop_used();
        ASSERT_TRUE(u) << i;
        EXPECT_EQ(u->id, uint16_t(ids[size_t(i)]));
        EXPECT_EQ(u->len, 0u);
    }
    EXPECT_FALSE(net.drv->pop_used());
    EXPECT_EQ(net.c().packets.load(), 32u);
    EXPECT_EQ(net.c().descriptors_read.load(), 32u);
}

// virtio 1.2, 5.1.6.2: a device-writable buffer has no place in a transmit
// chain.  In a batch it is dropped, counted and returned like anywhere else.
TEST(PackedBatchTx, WritableBufferInABatchIsDropped) {
    PNet net(64, kPacked);
    for (int i = 0; i < 4; i++) {
        if (i == 2) {
            const Segment w[] = {{net.drv->pool_buffer(2), 100, true}};
            net.drv->add_chain(w);
        } else {
            net.drv->add_tx(PackedRingDriver::net_header(12), frame(80, uint8_t(i)));
        }
    }
    TxBuffers b;
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 3u);
    EXPECT_EQ(b.got(0), frame(80, 0));
    EXPECT_EQ(b.got(1), frame(80, 1));
    EXPECT_EQ(b.got(2), frame(80, 3));
    EXPECT_EQ(net.c().invalid_descriptors.load(), 1u);
    for (int i = 0; i < 4; i++) {
        ASSERT_TRUE(net.drv->pop_used()) << i;
    }
    EXPECT_FALSE(net.vq.broken());
}

// A buffer id out of range in the third slot of a line: the batch is
// refused, the one-by-one path delivers the first two chains and finds the
// ring unusable at the third (virtio 1.2, 2.8.6).
TEST(PackedBatchTx, IdOutOfRangeInABatchBreaksTheQueue) {
    PNet net(64, kPacked);
    std::vector<virtio::PackedDesc> descs;
    for (uint16_t i = 0; i < 4; i++) {
        auto f = frame(70, uint8_t(i));
        std::vector<uint8_t> bytes(12, 0);
        bytes.insert(bytes.end(), f.begin(), f.end());
        net.mem.write(net.drv->pool_buffer(i), bytes);
        virtio::PackedDesc d{};
        d.addr = net.drv->pool_buffer(i);
        d.len = static_cast<uint32_t>(bytes.size());
        d.id = i == 2 ? uint16_t(64 + 5) : i;
        descs.push_back(d);
    }
    // One slot at a time: four chains of one descriptor each.
    for (const auto& d : descs) {
        net.drv->add_raw(std::span<const virtio::PackedDesc>(&d, 1));
    }
    TxBuffers b;
    EXPECT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 2u);
    EXPECT_EQ(b.got(0), frame(70, 0));
    EXPECT_EQ(b.got(1), frame(70, 1));
    EXPECT_TRUE(net.vq.broken());
}

// Chains of one to three descriptors and bursts of 1 to 9 over thousands of
// laps of a 16-entry ring: batches start wherever the cursor is aligned,
// never across the ring's end, and the frames come out in order.
TEST(PackedBatchTx, ManyLapsOfMixedChains) {
    PNet net(16, kPacked, 2048);
    TxBuffers b;
    uint64_t sent = 0;
    for (uint32_t round = 0; round < 5000; round++) {
        const uint32_t chains = 1 + round % 9;
        std::vector<std::vector<uint8_t>> frames;
        for (uint32_t c = 0; c < chains; c++) {
            frames.push_back(frame(60 + (round + c) % 300, uint8_t(round + c)));
            std::vector<uint32_t> split;
            if ((round + c) % 5 == 0) {
                split = {12, 20};
            }
            if (net.drv->add_tx(PackedRingDriver::net_header(12), frames.back(), split) < 0) {
                frames.pop_back();
                break;
            }
        }
        ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), frames.size()) << round;
        for (size_t i = 0; i < frames.size(); i++) {
            ASSERT_EQ(b.got(i), frames[i]) << round << " " << i;
            ASSERT_TRUE(net.drv->pop_used()) << round;
        }
        sent += frames.size();
    }
    EXPECT_EQ(net.c().packets.load(), sent);
    EXPECT_EQ(net.drv->free_slots(), 16);
}

// ---- Receive --------------------------------------------------------------------

TEST(PackedBatchRx, EightPacketsInTwoBatches) {
    PNet net(64, kMrg, 2048);
    for (int i = 0; i < 8; i++) {
        net.drv->add_rx({2048});
    }
    std::vector<std::vector<uint8_t>> frames;
    std::vector<nvh_packet> pkts;
    for (int i = 0; i < 8; i++) {
        frames.push_back(frame(64 + 200 * size_t(i), uint8_t(i)));
    }
    for (auto& f : frames) {
        pkts.push_back(rx_packet(f));
    }
    ASSERT_EQ(net_enqueue_burst(net.vq, pkts.data(), 8), 8u);
    for (int i = 0; i < 8; i++) {
        auto u = net.drv->pop_used();
        ASSERT_TRUE(u) << i;
        EXPECT_EQ(u->len, 12 + frames[size_t(i)].size());
        auto bytes = net.drv->read_used(*u);
        EXPECT_EQ(payload(bytes), frames[size_t(i)]) << i;
        EXPECT_EQ(num_buffers(bytes), 1u);
    }
    EXPECT_EQ(net.c().packets.load(), 8u);
}

// A buffer too small for its packet in the third slot (no MRG_RXBUF): the
// batch places two packets and stops; as one by one, the packet that does
// not fit is dropped and the buffer stays for the next packet that does.
TEST(PackedBatchRx, SmallBufferInABatchStaysForASmallerPacket) {
    PNet net(64, kPacked, 2048);
    const uint32_t sizes[] = {2048, 2048, 100, 2048};
    for (uint32_t s : sizes) {
        net.drv->add_rx({s});
    }
    auto f1 = frame(1000, 1), f2 = frame(1000, 2), f3 = frame(1000, 3), f4 = frame(50, 4);
    nvh_packet p[4] = {rx_packet(f1), rx_packet(f2), rx_packet(f3), rx_packet(f4)};
    ASSERT_EQ(net_enqueue_burst(net.vq, p, 4), 4u);
    auto u1 = net.drv->pop_used(), u2 = net.drv->pop_used(), u3 = net.drv->pop_used();
    ASSERT_TRUE(u1 && u2 && u3);
    EXPECT_EQ(payload(net.drv->read_used(*u1)), f1);
    EXPECT_EQ(payload(net.drv->read_used(*u2)), f2);
    EXPECT_EQ(payload(net.drv->read_used(*u3)), f4);   // in the 100-byte buffer
    EXPECT_EQ(u3->len, 62u);
    EXPECT_FALSE(net.drv->pop_used());                  // the fourth buffer is left
    EXPECT_EQ(net.c().rx_buffer_too_small.load(), 1u);
    EXPECT_EQ(net.c().packets.load(), 3u);
}

// virtio 1.2, 5.1.6.3: receive buffers are device-writable.  A read-only
// one in a batch is returned empty and counted; its packet takes the next.
TEST(PackedBatchRx, ReadOnlyBufferInABatchIsInvalid) {
    PNet net(64, kMrg, 2048);
    for (int i = 0; i < 5; i++) {
        if (i == 2) {
            const Segment ro[] = {{net.drv->pool_buffer(2), 2048, false}};
            net.drv->add_chain(ro);
        } else {
            net.drv->add_rx({2048});
        }
    }
    auto f1 = frame(300, 1), f2 = frame(300, 2), f3 = frame(300, 3), f4 = frame(300, 4);
    nvh_packet p[4] = {rx_packet(f1), rx_packet(f2), rx_packet(f3), rx_packet(f4)};
    ASSERT_EQ(net_enqueue_burst(net.vq, p, 4), 4u);
    std::vector<std::vector<uint8_t>> got;
    while (auto u = net.drv->pop_used()) {
        if (u->len == 0) {
            continue;   // the read-only buffer, returned empty
        }
        got.push_back(payload(net.drv->read_used(*u)));
    }
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(got[0], f1);
    EXPECT_EQ(got[1], f2);
    EXPECT_EQ(got[2], f3);
    EXPECT_EQ(got[3], f4);
    EXPECT_EQ(net.c().invalid_descriptors.load(), 1u);
}

// Bursts of 1 to 9 packets into a 16-entry ring over thousands of laps,
// some buffers too small: placement and drops as one by one.
TEST(PackedBatchRx, ManyLapsWithSmallBuffers) {
    PNet net(16, kPacked, 2048);
    uint64_t placed = 0, small = 0;
    for (uint32_t round = 0; round < 5000; round++) {
        const uint32_t n = 1 + round % 9;
        std::vector<std::vector<uint8_t>> frames;
        std::vector<nvh_packet> pkts;
        uint32_t posted = 0;
        for (uint32_t i = 0; i < n; i++) {
            // Every 7th buffer is too small for any frame of this test.
            uint32_t size = (round + i) % 7 == 0 ? 40 : 2048;
            if (net.drv->add_rx({size}) < 0) {
                break;
            }
            posted++;
            frames.push_back(frame(100 + (round + i) % 500, uint8_t(round + i)));
        }
        for (auto& f : frames) {
            pkts.push_back(rx_packet(f));
        }
        ASSERT_EQ(net_enqueue_burst(net.vq, pkts.data(), uint32_t(pkts.size())), pkts.size())
            << round;
        // One by one, packets take buffers in order until the first small
        // buffer: its packet is dropped, and so is every later one (they
        // need more than it holds, and it stays at the head).
        size_t expect = frames.size();
        for (uint32_t i = 0; i < posted; i++) {
            if ((round + i) % 7 == 0) {
                expect = i;
                break;
            }
        }
        size_t got = 0;
        while (auto u = net.drv->pop_used()) {
            ASSERT_LT(got, expect) << round;
            ASSERT_EQ(payload(net.drv->read_used(*u)), frames[got]) << round;
            got++;
        }
        ASSERT_EQ(got, expect) << round;
        placed += got;
        small += frames.size() - got;
        // Give back what is still posted: drain it with frames that fit.
        while (net.drv->free_slots() < 16) {
            auto f = frame(20, 9);
            nvh_packet q = rx_packet(f);
            ASSERT_EQ(net_enqueue_burst(net.vq, &q, 1), 1u);
            ASSERT_TRUE(net.drv->pop_used()) << round;
            placed++;
        }
    }
    EXPECT_EQ(net.c().packets.load(), placed);
    EXPECT_EQ(net.c().rx_buffer_too_small.load(), small);
}

// ---- IN_ORDER -------------------------------------------------------------------

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
        ids.push_back(net.drv->add_tx(PackedRingDriver::net_header(12), frame(100, uint8_t(i)),
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
                ids.push_back(net.drv->add_tx(PackedRingDriver::net_header(12),
                                              frame(60, uint8_t(i)), split));
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
}  // namespace nvh
