// SPDX-License-Identifier: Apache-2.0
// receive_burst.cpp: the virtio-net receive burst (host -> guest, into a
// receiveq, virtio 1.2, 5.1.6.3 and 5.1.6.4), written once for both ring
// types: it takes chains through SplitChains or PackedChains (ring/),
// records their writable pieces for each packet (net::RxPass) and writes
// headers and frames at the end.
//
// Placement, per packet:
//   - Chains are taken until they hold header + frame: one chain without
//     MRG_RXBUF (virtio 1.2, 5.1.6.3.1 / 5.1.6.4.1), as many as needed with
//     it.  Then the used entries are written and the packet's pieces kept
//     for the copy, which runs for the whole burst at its end: nothing is
//     visible to the driver before publish_and_notify(), so no partly
//     written packet ever is.
//   - Out of available chains: the chains taken for the packet are given
//     back, the burst stops, ring_full counts once.
//   - Too small: without MRG_RXBUF a chain that cannot hold the packet is
//     left in the ring (not consumed) and the packet is dropped: a later,
//     smaller packet can still use the buffer, and the guest is not sent
//     empty buffers it would count as errors.  With MRG_RXBUF the same
//     happens when the whole ring, or kMaxPacketPieces pieces or buffers,
//     cannot hold it.  Such packets count as handled in the return value
//     (retrying cannot succeed) and in rx_buffer_too_small.
//   - Bounded work: a packet walks at most kMaxPacketPieces buffers.  After
//     a packet was too small for the chains at the head of the ring, their
//     capacity is remembered for the rest of the burst: later packets that
//     need more are dropped without walking them again, later packets that
//     fit walk them once more and take them.
//   - An invalid chain is returned with len 0 and counted, with the chains
//     already taken for the packet (so a give-back never steps over a
//     returned chain), and the burst ends there, as DPDK's vhost library's
//     does: the packet is not handled, and the guest's next burst starts at
//     the next chain.  Walking on would let one packet consume every chain
//     of the ring, and a packed driver that re-arms the slots keep the
//     burst going for ever.
//   - Bounded work (virtio_net.h): at most as many chains per burst as the
//     queue has slots, and no new chain once the descriptor budget is
//     spent; either ends the burst as a full ring does.
//
// No allocation, no system call except the notifier's doorbell write in
// Virtqueue::publish_and_notify() (the notifier thread writes the guest's
// call eventfd); counters are updated once per burst.
#include <algorithm>

#include "net/rx_pass.h"
#include "net/virtio_net.h"
#include "ring/packed_chains.h"
#include "ring/split_chains.h"

namespace nvh {
namespace {

using net::BufferPiece;
using net::Collect;
using net::RxBudget;
using net::RxPass;
using net::Tally;

// What became of one packet.
enum class Placed {
    kPlaced,    // In the guest's buffers (written at the end of the pass).
    kDropped,   // Too small buffers: counted, handled.
    kStop,      // No more chains, or the ring broke: the burst ends here.
};

// A receive chain taken for the packet being placed.
struct RxChain {
    TakenChain taken;
    uint64_t capacity;   // Writable bytes.
};

// Why gathering chains for one packet ended.
enum class Gathered { kEnough, kTooSmall, kStop };

// The chains gathered for the packet being placed, and what they cost.
template <typename Chains>
struct PacketChains {
    // `start`: where to give them back to.  chains[] is left uninitialised:
    // only chains[0..n) are ever read.
    explicit PacketChains(typename Chains::Mark at) : start(at) {}

    typename Chains::Mark start;
    RxChain chains[net::kMaxPacketPieces];
    uint32_t n = 0;
    RxBudget budget;
    uint64_t capacity = 0;

    // Returns the gathered chains and `invalid` empty (virtio 1.2, 2.7.9
    // with IN_ORDER: in the order they were made available).
    void return_empty(Chains& ring, const TakenChain& invalid) const {
        for (uint32_t c = 0; c < n; c++) {
            ring.put_used(chains[c].taken, 0);
        }
        ring.put_used(invalid, 0);
    }

    // Returns the chains a packet of `need` bytes (header + frame) fills,
    // in order, each with the bytes that land in it (virtio 1.2, 2.7.8.2
    // and 2.8.4: len is the number of bytes written).  The bytes are copied
    // later (RxPass::write), before the used entries become visible.
    void return_filled(Chains& ring, uint64_t need) const {
        for (uint32_t c = 0; c < n; c++) {
            const uint32_t written =
                static_cast<uint32_t>(std::min<uint64_t>(chains[c].capacity, need));
            ring.put_used(chains[c].taken, written);
            need -= written;
        }
    }
};

// One receive burst: the ring's chains, the pass and the counters, and what
// it learnt of the chains at the head of the ring.
template <typename Chains>
class RxBurst {
public:
    RxBurst(Chains& chains, Virtqueue& vq, Tally& t)
        : chains_(chains), pass_(vq.header_len(), vq.features(), vq.write_log()), t_(t),
          hdr_len_(vq.header_len()), mrg_(vq.mrg_rxbuf()) {}

    // Whether the batch path may be tried: the chains at the head of the
    // ring were not found too small.
    bool batch_allowed() const { return !head_cap_known_; }
    uint32_t place_batch(const nvh_packet* pkts);
    Placed place(const nvh_packet& pkt);
    void finish() { pass_.write(t_); }

private:
    // Whether another chain may be taken in this burst (virtio_net.h,
    // "Bounded work"): `pending` are taken for the packet being placed.
    bool chain_allowed(uint32_t pending) const {
        return burst_chains_ + pending < chains_.num() && t_.descs < kBurstDescriptorBudget;
    }

    Gathered gather(uint64_t need, BufferPiece* pieces, PacketChains<Chains>& p);

    Chains& chains_;
    RxPass pass_;
    Tally& t_;
    const uint32_t hdr_len_;
    const bool mrg_;
    // Capacity of the chains at the head of the ring, once a packet found
    // them too small; valid until chains are consumed.
    bool head_cap_known_ = false;
    uint64_t head_cap_ = 0;
    uint32_t burst_chains_ = 0;   // Chains consumed by this burst so far.
};

// The batch path: places pkts[0..4) into the four one-descriptor chains of
// take_batch(), one packet per chain.  Stops at the first buffer that does
// not simply hold its packet (read-only, too small, not all mapped) and
// gives it and the ones after it back to place(), which applies every rule
// to them.  Returns how many were placed.
template <typename Chains>
uint32_t RxBurst<Chains>::place_batch(const nvh_packet* pkts) {
    ChainBatch batch;
    if (!chain_allowed(ChainBatch::kSize - 1) || !chains_.take_batch(&batch)) {
        return 0;
    }
    uint32_t placed = 0;
    for (; placed < ChainBatch::kSize; placed++) {
        const uint64_t need = uint64_t{hdr_len_} + pkts[placed].len;
        if (!pass_.has_room()) {
            pass_.write(t_);
        }
        RxBudget budget;
        uint64_t capacity = 0;
        SingleBufferWalker walker(batch.buffers[placed]);
        const Collect r = net::collect_rx_chain(chains_.memory(), walker, pass_.next_pieces(),
                                                &budget, &capacity);
        t_.descs += walker.descriptors_read();
        if (r != Collect::kComplete || capacity < need) {
            break;
        }
        // virtio 1.2, 2.7.8.2 / 2.8.4: len is the number of bytes written.
        chains_.put_used(batch.chain(placed), static_cast<uint32_t>(need));
        pass_.add(pkts[placed], budget.n_pieces, 1);
    }
    chains_.untake_batch(placed);
    burst_chains_ += placed;
    return placed;
}

// Takes chains for a packet of `need` bytes (header + frame) until they
// hold it, recording their writable pieces at `pieces`.
template <typename Chains>
Gathered RxBurst<Chains>::gather(uint64_t need, BufferPiece* pieces, PacketChains<Chains>& p) {
    while (p.capacity < need) {
        if (p.budget.full() || (!mrg_ && p.n == 1) || p.n == chains_.num()) {
            return Gathered::kTooSmall;
        }
        if (!chains_.has_chain() || !chain_allowed(p.n)) {
            chains_.rewind(p.start);
            t_.ring_full++;
            return Gathered::kStop;
        }
        uint64_t room = 0;
        Collect r = Collect::kInvalid;
        TakenChain taken;
        const Take take = chains_.take(&taken, &t_.descs, [&](auto& walker) {
            r = net::collect_rx_chain(chains_.memory(), walker, pieces, &p.budget, &room);
            if (r == Collect::kFull && room == 0 && p.n > 0) {
                return WalkEnd::kLeave;   // The budget ran out before it added room.
            }
            return r == Collect::kComplete ? WalkEnd::kComplete : WalkEnd::kStopped;
        });
        if (take == Take::kLeft) {
            return Gathered::kTooSmall;
        }
        if (take == Take::kRingBroken) {
            chains_.rewind(p.start);
            t_.invalid++;
            return Gathered::kStop;
        }
        if (r == Collect::kInvalid || room == 0) {
            // virtio 1.2, 5.1.6.3 / 2.7.5: see the top of this file.
            p.return_empty(chains_, taken);
            burst_chains_ += p.n + 1;
            t_.invalid++;
            return Gathered::kStop;
        }
        p.chains[p.n++] = {taken, room};
        p.capacity += room;
    }
    return Gathered::kEnough;
}

// Places one packet (see the placement rules at the top of this file).
template <typename Chains>
Placed RxBurst<Chains>::place(const nvh_packet& pkt) {
    const uint64_t need = uint64_t{hdr_len_} + pkt.len;
    if (head_cap_known_ && need > head_cap_) {
        t_.too_small++;
        return Placed::kDropped;
    }
    if (!pass_.has_room()) {
        pass_.write(t_);
    }
    PacketChains<Chains> p(chains_.mark());
    switch (gather(need, pass_.next_pieces(), p)) {
    case Gathered::kStop:
        return Placed::kStop;
    case Gathered::kTooSmall:
        chains_.rewind(p.start);
        head_cap_known_ = true;
        head_cap_ = p.capacity;
        t_.too_small++;
        return Placed::kDropped;
    case Gathered::kEnough:
        break;
    }
    head_cap_known_ = false;   // The chains at the head are consumed.
    burst_chains_ += p.n;
    p.return_filled(chains_, need);
    pass_.add(pkt, p.budget.n_pieces, p.n);
    return Placed::kPlaced;
}

// Up to min(n, NVH_MAX_BURST) packets into the queue's receive chains;
// returns how many were handled (placed or dropped as too small).
template <typename Chains>
uint32_t receive_burst(Chains chains, Virtqueue& vq, const nvh_packet* pkts, uint32_t n) {
    if (!chains.usable()) {
        return 0;
    }
    Tally t;
    n = std::min<uint32_t>(n, NVH_MAX_BURST);
    if (!chains.begin_receive(n)) {
        t.invalid++;   // The avail index jumped (SplitRing::avail_count).
        t.commit(vq.mutable_counters());
        return 0;
    }
    RxBurst<Chains> burst(chains, vq, t);
    uint32_t done = 0;
    while (done < n) {
        if (burst.batch_allowed() && n - done >= ChainBatch::kSize) {
            const uint32_t placed = burst.place_batch(&pkts[done]);
            done += placed;
            if (placed == ChainBatch::kSize) {
                continue;
            }
            // pkts[done] takes the one-by-one path.
        }
        if (burst.place(pkts[done]) == Placed::kStop) {
            break;
        }
        done++;
    }
    burst.finish();
    vq.publish_and_notify();
    t.commit(vq.mutable_counters());
    return done;
}

}  // namespace

NVH_BURST_FUNCTION uint32_t net_enqueue_burst(Virtqueue& vq, const nvh_packet* pkts,
                                              uint32_t n) {
    if (!vq.ready() || n == 0) {
        return 0;
    }
    if (vq.packed()) {
        return receive_burst(PackedChains(vq.packed_ring(), vq.features()), vq, pkts, n);
    }
    return receive_burst(SplitChains(vq.split_ring()), vq, pkts, n);
}

}  // namespace nvh
