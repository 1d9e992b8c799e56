// SPDX-License-Identifier: Apache-2.0
// transmit_burst.cpp: the virtio-net transmit burst (guest -> host, from a
// transmitq, virtio 1.2, 5.1.6.2), written once for both ring types: it
// takes chains through SplitChains or PackedChains (ring/), gathers each
// one's pieces (net::TxPass) and copies the frames at the end.
//
// No allocation, no system call except the notifier's doorbell write in
// Virtqueue::publish_and_notify() (the notifier thread writes the guest's
// call eventfd); counters are updated once per burst.
#include <algorithm>

#include "net/tx_pass.h"
#include "net/virtio_net.h"
#include "ring/packed_chains.h"
#include "ring/split_chains.h"

namespace nvh {
namespace {

using net::Tally;
using net::TxPass;
using net::TxResult;

// The state of one transmit burst: its packets, its pass, its counters.
// Constructed, not aggregate-initialised: brace-initialised from a
// constructed TxPass, GCC 12 cleared the whole object (9 KB, mostly the
// pass's pieces, each written before it is read) with a memset on every
// poll, busy or idle (docs/performance.md; tests/check_burst_code.py).
struct TxBurst {
    TxBurst(nvh_packet* p, uint32_t hdr_len, uint64_t features, const LargeBufferHook& large)
        : pkts(p), pass(hdr_len, features, large) {}

    nvh_packet* pkts;
    TxPass pass;
    Tally t;
    uint32_t filled = 0;

    // Makes room in the pass for one more chain.
    void make_room() {
        if (!pass.has_room()) {
            filled += pass.deliver(&pkts[filled], t);
        }
    }
};

// The four one-buffer chains of a batch, each gathered and returned.
template <typename Chains>
void gather_batch(Chains& chains, const ChainBatch& batch, TxBurst& b) {
    for (uint32_t i = 0; i < ChainBatch::kSize; i++) {
        b.make_room();
        SingleBufferWalker walker(batch.buffers[i]);
        b.pass.gather(chains.memory(), walker);
        b.t.descs += walker.descriptors_read();
        chains.put_read(batch.chain(i));   // Dropped ones too, as below.
    }
}

// Takes, gathers and returns the next chain; false if the ring broke.
template <typename Chains>
bool gather_one(Chains& chains, TxBurst& b) {
    b.make_room();
    TakenChain chain;
    const Take taken = chains.take(&chain, &b.t.descs, [&](auto& walker) {
        const TxResult r = b.pass.gather(chains.memory(), walker);
        return r == TxResult::kInvalid ? WalkEnd::kStopped : WalkEnd::kComplete;
    });
    if (taken == Take::kRingBroken) {
        b.pass.drop_last();   // It cannot be returned: nothing is delivered.
        b.t.invalid++;
        return false;
    }
    // Every chain goes back, dropped ones too, so the driver does not leak
    // buffers; the device wrote nothing into them (virtio 1.2, 2.7.8.2 and
    // 2.8.4: len 0).  The driver sees them only after the copies
    // (publish_and_notify).
    chains.put_read(chain);
    return true;
}

// Up to min(n, NVH_MAX_BURST, queue size) frames from the queue's transmit
// chains into pkts[0..): whole batches of four one-buffer chains where the
// ring holds them, chains one by one otherwise, until the descriptor budget
// is spent (virtio_net.h, "Bounded work").  Every chain taken is returned;
// the invalid ones (counted) carry no frame.
template <typename Chains>
uint32_t transmit_burst(Chains chains, Virtqueue& vq, nvh_packet* pkts, uint32_t n,
                        const LargeBufferHook& large) {
    if (!chains.usable()) {
        return 0;
    }
    const uint32_t max = std::min<uint32_t>({n, NVH_MAX_BURST, chains.num()});
    TxBurst b(pkts, vq.header_len(), vq.features(), large);
    if (!chains.begin_transmit(max)) {
        b.t.invalid++;   // The avail index jumped (SplitRing::avail_count).
        b.t.commit(vq.mutable_counters());
        return 0;
    }
    ChainBatch batch;
    for (uint32_t taken = 0;
         taken < max && b.t.descs < kBurstDescriptorBudget && chains.has_chain(); taken++) {
        if (max - taken >= ChainBatch::kSize && chains.take_batch(&batch)) {
            gather_batch(chains, batch, b);
            taken += ChainBatch::kSize - 1;
        } else if (!gather_one(chains, b)) {
            break;
        }
    }
    b.filled += b.pass.deliver(&pkts[b.filled], b.t);
    vq.publish_and_notify();
    b.t.commit(vq.mutable_counters());
    return b.filled;
}

}  // namespace

NVH_BURST_FUNCTION uint32_t net_dequeue_burst(Virtqueue& vq, nvh_packet* pkts, uint32_t n,
                                              const LargeBufferHook& large) {
    if (!vq.ready() || n == 0) {
        return 0;
    }
    if (vq.packed()) {
        return transmit_burst(PackedChains(vq.packed_ring(), vq.features()), vq, pkts, n,
                              large);
    }
    return transmit_burst(SplitChains(vq.split_ring()), vq, pkts, n, large);
}

}  // namespace nvh
