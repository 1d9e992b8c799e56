// SPDX-License-Identifier: Apache-2.0
// Transmit (net_dequeue_burst) rules shared by split and packed rings:
// frames, counts and bytes, offload headers, frames the device refuses,
// broken chains, indirect tables and many laps of a small ring.
#include <gtest/gtest.h>

#include <vector>

#include "base/virtio_spec.h"
#include "net/virtio_net.h"
#include "ring_harness.h"

namespace nvh::test {
namespace {

template <typename R>
class RingTx : public RingTest<R> {};
TYPED_TEST_SUITE(RingTx, RingTypes, RingTypeNames);

TYPED_TEST(RingTx, FramesOfEverySizeCountedWithoutHeaders) {
    RingQueue<TypeParam> q(64, kV1);
    const size_t sizes[] = {64, 1518, 9000};
    std::vector<int> ids;
    for (size_t s : sizes) {
        ids.push_back(q.post_tx(frame(s, uint8_t(s))));
        ids.push_back(q.post_tx(frame(s, uint8_t(s + 1)), {12, 500}));   // 3 descriptors
    }
    TxBuffers b(9216);
    ASSERT_EQ(q.dequeue(b), 6u);
    for (size_t i = 0; i < 6; i++) {
        size_t s = sizes[i / 2];
        EXPECT_EQ(b.got(i), frame(s, uint8_t(s + i % 2))) << i;
        auto u = q.pop();
        ASSERT_TRUE(u) << i;
        EXPECT_EQ(u->id, uint32_t(ids[i]));
        EXPECT_EQ(u->len, 0u);   // the device wrote nothing
    }
    EXPECT_FALSE(q.pop());
    EXPECT_EQ(q.c().packets.load(), 6u);
    EXPECT_EQ(q.c().bytes.load(), 2u * (64 + 1518 + 9000));   // without headers
    EXPECT_EQ(q.outstanding(), 0u);
    EXPECT_EQ(q.dequeue(b), 0u);   // nothing more to take
}

TYPED_TEST(RingTx, BurstTakesAtMostNChains) {
    RingQueue<TypeParam> q(64, kV1);
    for (int i = 0; i < 5; i++) {
        q.post_tx(frame(60, uint8_t(i)));
    }
    TxBuffers b;
    EXPECT_EQ(q.dequeue(b, 3), 3u);
    EXPECT_EQ(q.pop_all().size(), 3u);
    EXPECT_EQ(q.dequeue(b, 3), 2u);
    EXPECT_EQ(b.got(1), frame(60, 4));
    EXPECT_EQ(q.dequeue(b), 0u);
}

// virtio 1.2, 5.1.6.2: the offload fields, with CSUM and HOST_TSO4
// negotiated, read from a header spread over three descriptors.
TYPED_TEST(RingTx, HeaderSplitAcrossDescriptorsAndOffloadFields) {
    RingQueue<TypeParam> q(64, kV1 | virtio::bit(virtio::kNetFCsum) |
                                   virtio::bit(virtio::kNetFHostTso4));
    std::vector<uint8_t> hdr(12, 0);
    hdr[0] = virtio::kNetHdrFNeedsCsum;
    hdr[1] = virtio::kNetHdrGsoTcpv4;
    hdr[2] = 54;            // hdr_len
    hdr[4] = 0xa8;          // gso_size 1448
    hdr[5] = 0x05;
    hdr[6] = 34;            // csum_start
    hdr[8] = 16;            // csum_offset
    auto f = frame(1000, 9);
    const uint32_t split[] = {4, 5, 3, 100};
    q.drv->add_tx(hdr, f, split);
    TxBuffers b;
    ASSERT_EQ(q.dequeue(b, 1), 1u);
    EXPECT_EQ(b.got(0), f);
    EXPECT_EQ(b.pkts[0].offload.flags, virtio::kNetHdrFNeedsCsum);
    EXPECT_EQ(b.pkts[0].offload.gso_type, virtio::kNetHdrGsoTcpv4);
    EXPECT_EQ(b.pkts[0].offload.hdr_len, 54);
    EXPECT_EQ(b.pkts[0].offload.gso_size, 1448);
    EXPECT_EQ(b.pkts[0].offload.csum_start, 34);
    EXPECT_EQ(b.pkts[0].offload.csum_offset, 16);
}

TYPED_TEST(RingTx, HeaderAndFrameSharingADescriptor) {
    RingQueue<TypeParam> q(64, kV1);
    auto f = frame(300, 2);
    q.post_tx(f, {20});   // 12 header + 8 frame bytes, then 292
    TxBuffers b;
    ASSERT_EQ(q.dequeue(b, 1), 1u);
    EXPECT_EQ(b.got(0), f);
}

// After a dequeue of an oversized chain `big` followed by frame `ok`: `ok`
// took pkts[0], `big` was counted as oversized and given back with length 0.
template <typename Queue>
void expect_big_dropped_ok_taken(Queue& q, TxBuffers& b, int big,
                                 const std::vector<uint8_t>& ok) {
    EXPECT_EQ(b.got(0), ok);
    EXPECT_EQ(q.c().oversized_frames.load(), 1u);
    EXPECT_EQ(q.c().packets.load(), 1u);
    auto u = q.pop();
    ASSERT_TRUE(u);
    EXPECT_EQ(u->id, uint32_t(big));
    EXPECT_EQ(u->len, 0u);
    EXPECT_TRUE(q.pop());
}

TYPED_TEST(RingTx, FrameOverCapacityDroppedAndReturned) {
    RingQueue<TypeParam> q(64, kV1);
    int big = q.post_tx(frame(1519));
    auto ok = frame(1518, 4);
    q.post_tx(ok);
    TxBuffers b(1518);
    ASSERT_EQ(q.dequeue(b), 1u);
    expect_big_dropped_ok_taken(q, b, big, ok);
}

// nvh_large_buffer_fn: a frame larger than its slot gets the caller's large
// buffer in that slot; the caller sees every call.
struct LargeBuffers {
    explicit LargeBuffers(uint32_t capacity, uint32_t n = 4) : storage(n) {
        for (auto& buf : storage) {
            buf.resize(capacity);
        }
    }
    static bool get(void* aux, uint32_t qp, nvh_packet* pkt, uint32_t len) {
        auto* self = static_cast<LargeBuffers*>(aux);
        self->calls.push_back({qp, len, pkt->capacity});
        if (self->refuse || self->given == self->storage.size()) {
            return false;
        }
        std::vector<uint8_t>& buf = self->storage[self->given++];
        pkt->data = buf.data();
        pkt->capacity = self->lie ? len - 1 : static_cast<uint32_t>(buf.size());
        return true;
    }
    LargeBufferHook hook(uint32_t qp = 3) { return {&LargeBuffers::get, this, qp}; }

    struct Call {
        uint32_t qp, len, capacity;
    };
    std::vector<std::vector<uint8_t>> storage;
    std::vector<Call> calls;
    size_t given = 0;
    bool refuse = false;
    bool lie = false;   // Claims a buffer one byte short of the frame.
};

TYPED_TEST(RingTx, FrameOverCapacityGetsTheCallersLargeBuffer) {
    RingQueue<TypeParam> q(64, kV1, 65536);
    auto big = frame(65000, 7);
    auto small = frame(1518, 4);
    q.post_tx(small);
    q.post_tx(big, {12, 30000});   // header, then the frame in two pieces
    q.post_tx(small);
    TxBuffers b(1518);
    uint8_t* slot1 = b.pkts[1].data;
    LargeBuffers large(65536);
    ASSERT_EQ(q.dequeue(b, large.hook()), 3u);
    ASSERT_EQ(large.calls.size(), 1u);   // only for the frame that did not fit
    EXPECT_EQ(large.calls[0].qp, 3u);
    EXPECT_EQ(large.calls[0].len, 65000u);
    EXPECT_EQ(large.calls[0].capacity, 1518u);
    EXPECT_EQ(b.pkts[1].data, large.storage[0].data());
    EXPECT_NE(b.pkts[1].data, slot1);
    EXPECT_EQ(b.pkts[1].capacity, 65536u);
    EXPECT_EQ(b.got(1), big);
    EXPECT_EQ(b.got(0), small);
    EXPECT_EQ(b.got(2), small);
    EXPECT_EQ(q.c().oversized_frames.load(), 0u);
    EXPECT_EQ(q.c().packets.load(), 3u);
    EXPECT_EQ(q.c().bytes.load(), 65000u + 2 * 1518);
    EXPECT_EQ(q.pop_all().size(), 3u);
}

TYPED_TEST(RingTx, FrameOverCapacityDroppedWhenTheHookRefuses) {
    for (bool lie : {false, true}) {
        RingQueue<TypeParam> q(64, kV1);
        int big = q.post_tx(frame(9000));
        auto ok = frame(1518, 4);
        q.post_tx(ok);
        TxBuffers b(1518);
        LargeBuffers large(9000);
        large.refuse = !lie;
        large.lie = lie;   // a buffer too small is no buffer
        ASSERT_EQ(q.dequeue(b, large.hook()), 1u) << lie;
        EXPECT_EQ(large.calls.size(), 1u);
        expect_big_dropped_ok_taken(q, b, big, ok);
    }
}

// A frame copied into a large buffer and then dropped for its header leaves
// the buffer in its slot, where the next frame goes (nvh.h).
TYPED_TEST(RingTx, LargeBufferOfADroppedFrameTakesTheNextFrame) {
    RingQueue<TypeParam> q(64, kV1 | virtio::bit(virtio::kNetFCsum));
    std::vector<uint8_t> bad(12, 0);
    bad[0] = virtio::kNetHdrFNeedsCsum;
    bad[6] = 0xff;   // csum_start past the frame (virtio 1.2, 5.1.6.2.1)
    bad[7] = 0xff;
    const uint32_t whole[] = {12 + 4000};
    q.drv->add_tx(bad, frame(4000), whole);
    auto next = frame(3000, 5);
    q.post_tx(next);
    TxBuffers b(1518);
    LargeBuffers large(4096);
    ASSERT_EQ(q.dequeue(b, large.hook()), 1u);
    EXPECT_EQ(large.calls.size(), 1u);   // the slot already holds 4096 bytes
    EXPECT_EQ(b.pkts[0].data, large.storage[0].data());
    EXPECT_EQ(b.got(0), next);
    EXPECT_EQ(q.c().invalid_descriptors.load(), 1u);
    EXPECT_EQ(q.c().oversized_frames.load(), 0u);
}

TYPED_TEST(RingTx, ChainNotLongerThanTheHeaderIsUndersized) {
    RingQueue<TypeParam> q(64, kV1);
    q.post_buffer(8, false);    // shorter than the header
    q.post_buffer(12, false);   // the header only
    TxBuffers b;
    EXPECT_EQ(q.dequeue(b), 0u);
    EXPECT_EQ(q.c().undersized_frames.load(), 2u);
    EXPECT_EQ(q.pop_all().size(), 2u);
}

// virtio 1.2, 5.1.6.2: a transmit chain holds device-readable buffers only;
// 2.7.4 / 2.8.4: every buffer in guest memory.  Broken chains are dropped,
// counted and returned with length 0; the queue keeps working.
TYPED_TEST(RingTx, InvalidChainsAreDroppedCountedAndReturned) {
    using Segment = typename RingQueue<TypeParam>::Segment;
    RingQueue<TypeParam> q(64, kV1);
    uint64_t buf = q.mem.alloc(4096);
    const Segment mixed[] = {{buf, 12, false}, {buf + 64, 60, true}};
    int first = q.drv->add_chain(mixed);
    q.post_buffer(112, true);                       // writable only
    const Segment unmapped[] = {{64 * kMiB, 80, false}};
    q.drv->add_chain(unmapped);
    auto good = frame(64);
    q.post_tx(good);
    TxBuffers b;
    ASSERT_EQ(q.dequeue(b), 1u);
    EXPECT_EQ(b.got(0), good);
    EXPECT_EQ(q.c().invalid_descriptors.load(), 3u);
    auto used = q.pop_all();
    ASSERT_EQ(used.size(), 4u);   // all chains returned
    EXPECT_EQ(used[0].id, uint32_t(first));
    for (size_t i = 0; i < 3; i++) {
        EXPECT_EQ(used[i].len, 0u) << i;
    }
    EXPECT_FALSE(q.vq.broken());
}

// virtio 1.2, 2.7.5.3.1 / 2.8.8: INDIRECT only when VIRTIO_F_INDIRECT_DESC
// was negotiated; otherwise the chain is invalid (dropped, counted,
// returned) and the next one is served.
TYPED_TEST(RingTx, IndirectTableOnlyWhenNegotiated) {
    using Segment = typename RingQueue<TypeParam>::Segment;
    for (bool negotiated : {false, true}) {
        RingQueue<TypeParam> q(64, kV1 | (negotiated ? kIndirect : 0));
        auto f = frame(700, 6);
        uint64_t buf = q.place_tx_bytes(f);
        const Segment segs[] = {{buf, 6, false}, {buf + 6, 300, false}, {buf + 306, 406, false}};
        ASSERT_GE(q.drv->add_indirect(segs), 0);
        q.post_tx(frame(80, 9));
        TxBuffers b;
        ASSERT_EQ(q.dequeue(b), negotiated ? 2u : 1u);
        if (negotiated) {
            EXPECT_EQ(b.got(0), f);
        }
        EXPECT_EQ(b.got(negotiated ? 1 : 0), frame(80, 9));
        EXPECT_EQ(q.c().invalid_descriptors.load(), negotiated ? 0u : 1u);
        auto used = q.pop_all();
        ASSERT_EQ(used.size(), 2u);   // returned either way
        EXPECT_EQ(used[0].len, 0u);
        EXPECT_FALSE(q.vq.broken());
    }
}

TYPED_TEST(RingTx, FrameSpanningTwoAdjacentRegions) {
    using Segment = typename RingQueue<TypeParam>::Segment;
    RingQueue<TypeParam> q(64, kV1);
    auto f = frame(1500, 8);
    std::vector<uint8_t> bytes(12, 0);
    bytes.insert(bytes.end(), f.begin(), f.end());
    uint64_t gpa = 16 * kMiB - 700;   // 700 bytes in region 0, the rest in 1
    q.mem.write(gpa, bytes);
    const Segment seg[] = {{gpa, uint32_t(bytes.size()), false}};
    q.drv->add_chain(seg);
    TxBuffers b;
    ASSERT_EQ(q.dequeue(b), 1u);
    EXPECT_EQ(b.got(0), f);
}

// A disabled or stopped queue moves nothing and keeps its base; once
// started again it serves the chain.
TYPED_TEST(RingTx, StoppedOrDisabledQueueMovesNothing) {
    RingQueue<TypeParam> q(16, kV1);
    q.post_tx(frame(64));
    TxBuffers b;
    q.vq.set_enabled(false);
    EXPECT_EQ(q.dequeue(b), 0u);
    q.vq.set_enabled(true);
    q.vq.stop();
    const uint32_t base = q.vq.base();
    EXPECT_EQ(q.dequeue(b), 0u);
    EXPECT_EQ(q.vq.base(), base);
    EXPECT_FALSE(q.pop());
    ASSERT_TRUE(q.start());
    EXPECT_EQ(q.dequeue(b), 1u);
    EXPECT_NE(q.vq.base(), base);
}

// Many laps of an 8-entry ring with chains of 1 to 3 descriptors, so that
// chains straddle the end of the ring: the split ring's 16-bit indexes wrap
// (70000 chains) and the packed ring's wrap counters flip thousands of times.
TYPED_TEST(RingTx, ManyLapsWithChainsAcrossTheRingEnd) {
    RingQueue<TypeParam> q(8, kV1, 2048);
    TxBuffers b;
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < 70000; i++) {
        auto f = frame(60 + i % 200, uint8_t(i));
        std::vector<uint32_t> split;
        for (uint32_t k = 0; k < i % 3; k++) {
            split.push_back(12 + k);
        }
        ASSERT_GE(q.post_tx(f, split), 0) << i;
        if (i % 2 == 0) {
            continue;   // two chains per burst
        }
        ASSERT_EQ(q.dequeue(b), 2u) << i;
        ASSERT_EQ(b.got(1), f);
        bytes += b.pkts[0].len + b.pkts[1].len;
        ASSERT_TRUE(q.pop());
        ASSERT_TRUE(q.pop());
    }
    EXPECT_EQ(q.c().packets.load(), 70000u);
    EXPECT_EQ(q.c().bytes.load(), bytes);
    EXPECT_EQ(q.outstanding(), 0u);
}

// ENABLE (packed) / no NO_INTERRUPT (split): one interrupt per burst that
// used chains, none for a burst that used nothing.
TYPED_TEST(RingTx, OneInterruptPerBurstThatUsedChains) {
    RingQueue<TypeParam> q(64, kV1);
    TxBuffers b;
    EXPECT_EQ(q.dequeue(b), 0u);
    EXPECT_EQ(q.interrupts(), 0u);
    q.post_tx(frame(64));
    q.post_tx(frame(64));
    ASSERT_EQ(q.dequeue(b), 2u);
    EXPECT_EQ(q.interrupts(), 1u);
    EXPECT_EQ(q.c().guest_notifications.load(), 1u);
}

}  // namespace
}  // namespace nvh::test
