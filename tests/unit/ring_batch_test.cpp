// SPDX-License-Identifier: Apache-2.0
// Bursts a batch at a time, on split and packed rings: four chains of one
// descriptor each go through the batch path, and every case that breaks a
// batch (a longer chain, a bad buffer, a buffer too small) must come out as
// the one-by-one path would have it.  Also chains of the longest legal
// length and bursts whose chains hold more pieces than one pass keeps.
#include <gtest/gtest.h>

#include <vector>

#include "base/virtio_spec.h"
#include "net/virtio_net.h"
#include "ring_harness.h"

namespace nvh::test {
namespace {

template <typename R>
class RingBatch : public RingTest<R> {};
TYPED_TEST_SUITE(RingBatch, RingTypes, RingTypeNames);

// A chain the ring cannot be used past: split, a head out of range of the
// table (virtio 1.2, 2.7.6); packed, a buffer id out of range (2.8.6).
template <typename R>
void post_out_of_range_chain(RingQueue<R>& q, std::span<const uint8_t> f) {
    if constexpr (std::is_same_v<R, Split>) {
        q.drv->make_available(uint16_t(q.drv->num() + 5));
    } else {
        uint64_t gpa = q.place_tx_bytes(f);
        const virtio::PackedDesc d{gpa, uint32_t(12 + f.size()), uint16_t(q.drv->num() + 5), 0};
        ASSERT_TRUE(q.drv->add_raw(std::span<const virtio::PackedDesc>(&d, 1)));
    }
}

TYPED_TEST(RingBatch, SingleDescriptorChainsInBatches) {
    RingQueue<TypeParam> q(64, kV1);
    std::vector<int> ids;
    for (int i = 0; i < 32; i++) {
        ids.push_back(q.post_tx(frame(60 + 37 * size_t(i), uint8_t(i))));
    }
    TxBuffers b;
    ASSERT_EQ(q.dequeue(b), 32u);
    for (int i = 0; i < 32; i++) {
        EXPECT_EQ(b.got(size_t(i)), frame(60 + 37 * size_t(i), uint8_t(i))) << i;
        auto u = q.pop();
        ASSERT_TRUE(u) << i;
        EXPECT_EQ(u->id, uint32_t(ids[size_t(i)]));
        EXPECT_EQ(u->len, 0u);
    }
    EXPECT_FALSE(q.pop());
    EXPECT_EQ(q.c().packets.load(), 32u);
    EXPECT_EQ(q.c().descriptors_read.load(), 32u);
}

// Every 7th chain is header + frame in two descriptors: it breaks the
// batches around it.
TYPED_TEST(RingBatch, LongerChainsBetweenBatches) {
    RingQueue<TypeParam> q(128, kV1);
    std::vector<int> ids;
    std::vector<std::vector<uint8_t>> frames;
    for (int i = 0; i < 32; i++) {
        frames.push_back(frame(60 + 40 * size_t(i), uint8_t(i)));
        ids.push_back(i % 7 == 3 ? q.post_tx(frames.back(), {12}) : q.post_tx(frames.back()));
    }
    TxBuffers b;
    ASSERT_EQ(q.dequeue(b), 32u);
    for (int i = 0; i < 32; i++) {
        EXPECT_EQ(b.got(size_t(i)), frames[size_t(i)]) << i;
        auto u = q.pop();
        ASSERT_TRUE(u) << i;
        EXPECT_EQ(u->id, uint32_t(ids[size_t(i)]));
        EXPECT_EQ(u->len, 0u);
    }
    EXPECT_FALSE(q.pop());
}

// virtio 1.2, 5.1.6.2: a device-writable buffer has no place in a transmit
// chain.  In a batch it is dropped, counted and returned like anywhere else.
TYPED_TEST(RingBatch, WritableTransmitBufferInABatchIsDropped) {
    RingQueue<TypeParam> q(64, kV1);
    for (int i = 0; i < 4; i++) {
        i == 2 ? q.post_buffer(100, true) : q.post_tx(frame(80, uint8_t(i)));
    }
    TxBuffers b;
    ASSERT_EQ(q.dequeue(b), 3u);
    EXPECT_EQ(b.got(0), frame(80, 0));
    EXPECT_EQ(b.got(1), frame(80, 1));
    EXPECT_EQ(b.got(2), frame(80, 3));
    EXPECT_EQ(q.c().invalid_descriptors.load(), 1u);
    EXPECT_EQ(q.pop_all().size(), 4u);
    EXPECT_FALSE(q.vq.broken());
}

// A chain out of range third in a line of four: the batch is refused, the
// one-by-one path delivers the first two chains and finds the ring
// unusable at the third.
TYPED_TEST(RingBatch, OutOfRangeChainInABatchBreaksTheQueue) {
    RingQueue<TypeParam> q(64, kV1);
    q.post_tx(frame(70, 1));
    q.post_tx(frame(70, 2));
    post_out_of_range_chain(q, frame(70, 3));
    q.post_tx(frame(70, 4));
    TxBuffers b;
    EXPECT_EQ(q.dequeue(b), 2u);
    EXPECT_EQ(b.got(0), frame(70, 1));
    EXPECT_EQ(b.got(1), frame(70, 2));
    EXPECT_TRUE(q.vq.broken());
    EXPECT_EQ(q.c().invalid_descriptors.load(), 1u);
}

// Chains of one to three descriptors and bursts of 1 to 9 over thousands of
// laps of a 16-entry ring: batches start wherever the cursor is, never
// across the ring's end, and the frames come out in order.
TYPED_TEST(RingBatch, ManyLapsOfMixedChains) {
    RingQueue<TypeParam> q(16, kV1, 2048);
    TxBuffers b;
    uint64_t sent = 0;
    for (uint32_t round = 0; round < 5000; round++) {
        std::vector<std::vector<uint8_t>> frames;
        for (uint32_t c = 0; c < 1 + round % 9; c++) {
            frames.push_back(frame(60 + (round + c) % 300, uint8_t(round + c)));
            bool two = (round + c) % 5 == 0;
            if ((two ? q.post_tx(frames.back(), {12, 20}) : q.post_tx(frames.back())) < 0) {
                frames.pop_back();
                break;
            }
        }
        ASSERT_EQ(q.dequeue(b), frames.size()) << round;
        for (size_t i = 0; i < frames.size(); i++) {
            ASSERT_EQ(b.got(i), frames[i]) << round << " " << i;
            ASSERT_TRUE(q.pop()) << round;
        }
        sent += frames.size();
    }
    EXPECT_EQ(q.c().packets.load(), sent);
    EXPECT_EQ(q.outstanding(), 0u);
}

TYPED_TEST(RingBatch, ReceiveIntoSingleBuffers) {
    RingQueue<TypeParam> q(64, kMrg, 2048);
    std::vector<int> ids;
    std::vector<std::vector<uint8_t>> frames;
    for (int i = 0; i < 8; i++) {
        ids.push_back(q.post_rx({2048}));
        frames.push_back(frame(64 + 200 * size_t(i), uint8_t(i)));
    }
    ASSERT_EQ(q.enqueue(frames), 8u);
    for (int i = 0; i < 8; i++) {
        auto u = q.pop();
        ASSERT_TRUE(u) << i;
        EXPECT_EQ(u->id, uint32_t(ids[size_t(i)]));
        EXPECT_EQ(u->len, 12 + frames[size_t(i)].size());
        EXPECT_EQ(payload(u->bytes), frames[size_t(i)]) << i;
        EXPECT_EQ(num_buffers(u->bytes), 1u);
    }
    EXPECT_EQ(q.c().packets.load(), 8u);
}

// Without MRG_RXBUF: a buffer too small for its packet third in a batch:
// the batch places two packets and stops; as one by one, the packet that
// does not fit is dropped and the buffer stays for the next that does.
TYPED_TEST(RingBatch, SmallReceiveBufferInABatchStaysForASmallerPacket) {
    RingQueue<TypeParam> q(64, kV1, 2048);
    for (uint32_t s : {2048u, 2048u, 100u, 2048u}) {
        q.post_rx({s});
    }
    std::vector<std::vector<uint8_t>> f = {frame(1000, 1), frame(1000, 2), frame(1000, 3),
                                           frame(50, 4)};
    ASSERT_EQ(q.enqueue(f), 4u);
    auto used = q.pop_all();
    ASSERT_EQ(used.size(), 3u);   // the fourth buffer is left
    EXPECT_EQ(payload(used[0].bytes), f[0]);
    EXPECT_EQ(payload(used[1].bytes), f[1]);
    EXPECT_EQ(payload(used[2].bytes), f[3]);   // in the 100-byte buffer
    EXPECT_EQ(used[2].len, 62u);
    EXPECT_EQ(q.c().rx_buffer_too_small.load(), 1u);
    EXPECT_EQ(q.c().packets.load(), 3u);
}

// virtio 1.2, 5.1.6.3: a read-only receive buffer in a batch goes back
// empty and counted and ends the burst; its packet takes the next buffer in
// the next burst.
TYPED_TEST(RingBatch, ReadOnlyReceiveBufferInABatchIsInvalid) {
    RingQueue<TypeParam> q(64, kMrg, 2048);
    for (int i = 0; i < 5; i++) {
        i == 2 ? q.post_buffer(2048, false) : q.post_rx({2048});
    }
    std::vector<std::vector<uint8_t>> frames;
    for (int i = 0; i < 4; i++) {
        frames.push_back(frame(300, uint8_t(10 + i)));
    }
    ASSERT_EQ(q.enqueue(frames), 2u);   // Up to the read-only buffer.
    EXPECT_EQ(q.c().invalid_descriptors.load(), 1u);
    std::vector<std::vector<uint8_t>> rest(frames.begin() + 2, frames.end());
    ASSERT_EQ(q.enqueue(rest), 2u);
    std::vector<std::vector<uint8_t>> got;
    uint32_t empty = 0;
    for (const UsedChain& u : q.pop_all()) {
        if (u.len == 0) {   // the read-only buffer comes back empty
            empty++;
        } else {
            got.push_back(payload(u.bytes));
        }
    }
    EXPECT_EQ(got, frames);
    EXPECT_EQ(empty, 1u);
    EXPECT_EQ(q.c().invalid_descriptors.load(), 1u);
}

// Bursts of 1 to 9 packets into a 16-entry ring over thousands of laps,
// every 7th buffer too small: placement and drops as one by one.
TYPED_TEST(RingBatch, ManyLapsWithSmallBuffers) {
    RingQueue<TypeParam> q(16, kV1, 2048);
    uint64_t placed = 0, small = 0;
    for (uint32_t round = 0; round < 5000; round++) {
        std::vector<std::vector<uint8_t>> frames;
        size_t expect = SIZE_MAX;
        for (uint32_t i = 0; i < 1 + round % 9; i++) {
            const bool too_small = (round + i) % 7 == 0;
            if (q.post_rx({too_small ? 40u : 2048u}) < 0) {
                break;
            }
            if (too_small && expect == SIZE_MAX) {
                expect = i;
            }
            frames.push_back(frame(100 + (round + i) % 500, uint8_t(round + i)));
        }
        ASSERT_EQ(q.enqueue(frames), frames.size()) << round;
        // Packets take buffers in order until the first small buffer: its
        // packet is dropped, and so is every later one (they need more than
        // it holds, and it stays at the head).
        expect = std::min(expect, frames.size());
        auto used = q.pop_all();
        ASSERT_EQ(used.size(), expect) << round;
        for (size_t i = 0; i < expect; i++) {
            ASSERT_EQ(payload(used[i].bytes), frames[i]) << round;
        }
        placed += expect;
        small += frames.size() - expect;
        // Drain what is still posted with frames that fit.
        while (q.outstanding() > 0) {
            auto f = frame(20, 9);
            ASSERT_EQ(q.enqueue({rx_packet(f)}), 1u);
            ASSERT_TRUE(q.pop()) << round;
            placed++;
        }
    }
    EXPECT_EQ(q.c().packets.load(), placed);
    EXPECT_EQ(q.c().rx_buffer_too_small.load(), small);
}

// ---- Long chains ---------------------------------------------------------------

// `count` device-readable buffers of 8 bytes back to back in fresh memory:
// a 12-byte zero header, then `f` (8 * count - 12 bytes).
template <typename R>
int post_tx_in_8_byte_pieces(RingQueue<R>& q, size_t count, std::span<const uint8_t> f) {
    uint64_t base = q.place_tx_bytes(f);
    std::vector<typename RingQueue<R>::Segment> segs;
    for (size_t i = 0; i < count; i++) {
        segs.push_back({base + 8 * i, 8, false});
    }
    return q.drv->add_chain(segs);
}

// 256 buffers: the longest chain the device takes (ChainWalker's limit).
TYPED_TEST(RingBatch, ChainOf256BuffersIsServed) {
    RingQueue<TypeParam> q(QueueConfig{.num = 512, .buffer_size = 64});
    auto f = frame(256 * 8 - 12, 9);
    int id = post_tx_in_8_byte_pieces(q, 256, f);
    TxBuffers b;
    ASSERT_EQ(q.dequeue(b), 1u);
    EXPECT_EQ(b.got(0), f);
    auto u = q.pop();
    ASSERT_TRUE(u);
    EXPECT_EQ(u->id, uint32_t(id));
    EXPECT_EQ(q.outstanding(), 0u);
}

// Chains of 200 pieces each: the pieces of two fill more than half of a
// burst's pass, so the burst copies every two before it gathers the next;
// every frame must still land whole, in order, in its own packet.
TYPED_TEST(RingBatch, TransmitBurstOverOnePassDeliversEveryFrame) {
    RingQueue<TypeParam> q(QueueConfig{.num = 1024, .buffer_size = 2048});
    std::vector<std::vector<uint8_t>> frames;
    std::vector<int> ids;
    for (int i = 0; i < 5; i++) {
        frames.push_back(frame(200 * 8 - 12, static_cast<uint8_t>(10 * i + 1)));
        ids.push_back(post_tx_in_8_byte_pieces(q, 200, frames.back()));
    }
    TxBuffers b;
    ASSERT_EQ(q.dequeue(b, 5), 5u);
    for (int i = 0; i < 5; i++) {
        EXPECT_EQ(b.got(size_t(i)), frames[size_t(i)]) << i;
        auto u = q.pop();
        ASSERT_TRUE(u);
        EXPECT_EQ(u->id, uint32_t(ids[size_t(i)]));
    }
    EXPECT_EQ(q.c().packets.load(), 5u);
}

TYPED_TEST(RingBatch, ReceiveBurstOverOnePassWritesEveryFrame) {
    RingQueue<TypeParam> q(QueueConfig{.num = 1024, .buffer_size = 2048});
    std::vector<int> ids;
    std::vector<uint32_t> pieces(200, 8);   // 1600 bytes: 189 pieces used
    std::vector<std::vector<uint8_t>> frames;
    for (int i = 0; i < 3; i++) {
        ids.push_back(q.post_rx(pieces));
        frames.push_back(frame(1500, static_cast<uint8_t>(7 * i + 3)));
    }
    ASSERT_EQ(q.enqueue(frames), 3u);
    EXPECT_EQ(q.c().packets.load(), 3u);
    for (int i = 0; i < 3; i++) {
        auto u = q.pop();
        ASSERT_TRUE(u);
        EXPECT_EQ(u->id, uint32_t(ids[size_t(i)]));
        ASSERT_EQ(u->len, 12u + 1500u);
        EXPECT_EQ(payload(u->bytes), frames[size_t(i)]);
    }
}

}  // namespace
}  // namespace nvh::test
