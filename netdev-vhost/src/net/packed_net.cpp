// packed_net.cpp: virtio-net transmit and receive bursts on a packed
// virtqueue.  Same rules and counters as the split ring bursts in
// virtio_net.cpp (see the placement notes there); what differs is how chains
// are found (availability by wrap counter, chains in consecutive ring
// slots), returned (used descriptors carrying the buffer id, the used
// position moving by the chain's ring descriptors) and given back (the
// avail cursor is restored).
//
// No allocation, no system call except the call-eventfd write in
// Virtqueue::publish_and_notify(); counters are updated once per burst.
#include "net/packed_net.h"

#include <algorithm>

#include "net/net_copy.h"
#include "ring/packed_ring.h"
#include "net/virtio_net.h"

namespace nvh {
namespace {

using net::BufferPiece;
using net::Collect;
using net::RxBudget;
using net::Tally;
using net::TxResult;

// A receive chain taken for the packet being placed.
struct RxChain {
    uint16_t id;
    uint16_t ring_descs;
    uint64_t capacity;   // Writable bytes.
};

// The batch path of packed_enqueue_burst: places pkts[0..4) into the four
// one-descriptor chains of ring.take_batch(), one packet per chain; gives
// the buffers from the first one that does not hold its packet back to the
// one-by-one path (the avail cursor).  Returns how many were placed.
uint32_t place_batch(PackedRing& ring, const nvh_packet* pkts, uint32_t hdr_len,
                     net::RxPass& pass, Tally& t) {
    const PackedRing::Cursor start = ring.avail_cursor();
    PackedBatch batch;
    if (!ring.take_batch(&batch)) {
        return 0;
    }
    uint32_t placed = net::place_in_single_buffers(
        ring.memory(), batch.buffers, PackedBatch::kSize, pkts, hdr_len, pass, t,
        [&](uint32_t i, uint32_t written) { ring.put_used(batch.ids[i], written, 1); });
    if (placed < PackedBatch::kSize) {
        PackedRing::Cursor back = start;
        back.idx = static_cast<uint16_t>(back.idx + placed);   // No wrap in a batch.
        ring.restore_avail(back);
    }
    return placed;
}

}  // namespace

NVH_BURST_FUNCTION uint32_t packed_dequeue_burst(Virtqueue& vq, nvh_packet* pkts, uint32_t n) {
    PackedRing& ring = vq.packed_ring();
    if (!vq.ready() || !ring.attached() || ring.broken() || n == 0) {
        return 0;
    }
    Tally t;
    const uint32_t max = std::min<uint32_t>(n, NVH_MAX_BURST);
    const uint32_t hdr_len = vq.header_len();
    net::TxPass pass(hdr_len, vq.features());
    const bool in_order = virtio::has(vq.features(), virtio::kFInOrder);
    if (ring.head_available()) {
        ring.prefetch_descs(max);
    }
    uint32_t filled = 0;
    // Returns a chain the device only read: with IN_ORDER, the burst's one
    // used descriptor names it.
    auto put_used = [&](uint16_t id, uint16_t ring_descs) {
        if (in_order) {
            ring.put_used_in_order(id, ring_descs);
        } else {
            ring.put_used(id, 0, ring_descs);
        }
    };
    PackedBatch batch;
    for (uint32_t h = 0; h < max && ring.head_available(); h++) {
        if (max - h >= PackedBatch::kSize && ring.take_batch(&batch)) {
            for (uint16_t i = 0; i < PackedBatch::kSize; i++) {
                if (!pass.has_room()) {
                    filled += pass.deliver(&pkts[filled], t);
                }
                SingleBufferWalker walker(batch.buffers[i]);
                pass.gather(ring.memory(), walker);
                t.descs += walker.descriptors_read();
                // Dropped chains go back too, with len 0 (virtio 1.2, 2.8.4).
                put_used(batch.ids[i], 1);
            }
            h += PackedBatch::kSize - 1;
            continue;
        }
        if (!pass.has_room()) {
            filled += pass.deliver(&pkts[filled], t);
        }
        PackedChainWalker walker(ring);
        pass.gather(ring.memory(), walker);
        bool extent_known = pass.last_result() != TxResult::kInvalid || walker.skip_rest();
        t.descs += walker.descriptors_read();
        if (!extent_known) {
            // A chain longer than the queue, or a buffer id out of range:
            // it cannot be returned (virtio 1.2, 2.8.6), the ring is unusable.
            pass.drop_last();
            ring.mark_broken();
            t.invalid++;
            break;
        }
        // Dropped chains go back too, with len 0 (virtio 1.2, 2.8.4).  The
        // driver sees them only after the copies (publish_and_notify).
        walker.commit();
        put_used(walker.id(), walker.ring_descs());
    }
    filled += pass.deliver(&pkts[filled], t);
    vq.publish_and_notify();
    t.commit(vq.mutable_counters());
    return filled;
}

// Receive placement: as net_enqueue_burst in virtio_net.cpp; "giving chains
// back" restores the avail cursor to where the packet started.
NVH_BURST_FUNCTION uint32_t packed_enqueue_burst(Virtqueue& vq, const nvh_packet* pkts, uint32_t n) {
    PackedRing& ring = vq.packed_ring();
    if (!vq.ready() || !ring.attached() || ring.broken() || n == 0) {
        return 0;
    }
    Tally t;
    n = std::min<uint32_t>(n, NVH_MAX_BURST);
    const uint32_t hdr_len = vq.header_len();
    const bool mrg = vq.mrg_rxbuf();
    net::RxPass pass(hdr_len, vq.features(), vq.write_log());
    if (ring.head_available()) {
        ring.prefetch_descs(n);   // Most packets take one chain.
    }
    RxChain chains[net::kMaxPacketPieces];
    bool head_cap_known = false;
    uint64_t head_cap = 0;

    uint32_t done = 0;
    bool stop = false;
    for (; done < n && !stop; done++) {
        if (!head_cap_known && n - done >= PackedBatch::kSize) {
            uint32_t placed = place_batch(ring, &pkts[done], hdr_len, pass, t);
            if (placed == PackedBatch::kSize) {
                done += PackedBatch::kSize - 1;
                continue;
            }
            done += placed;   // pkts[done] takes the one-by-one path.
        }
        const nvh_packet& pkt = pkts[done];
        const uint64_t need = uint64_t{hdr_len} + pkt.len;
        if (head_cap_known && need > head_cap) {
            t.too_small++;
            continue;
        }
        if (!pass.has_room()) {
            pass.write(t);
        }
        BufferPiece* pieces = pass.next_pieces();
        PackedRing::Cursor start = ring.avail_cursor();
        uint32_t n_chains = 0;
        RxBudget budget;
        uint64_t capacity = 0;
        bool too_small = false;
        while (capacity < need) {
            if (budget.full() || (!mrg && n_chains == 1) || n_chains == ring.num()) {
                too_small = true;
                break;
            }
            if (!ring.head_available()) {
                ring.restore_avail(start);
                t.ring_full++;
                stop = true;
                break;
            }
            PackedChainWalker walker(ring);
            uint64_t chain_cap = 0;
            // On kFull and kInvalid, walker.skip_rest() learns the chain's
            // extent.
            Collect r = net::collect_rx_chain(ring.memory(), walker, pieces, &budget,
                                              &chain_cap);
            if (r == Collect::kFull && chain_cap == 0 && n_chains > 0) {
                // Budget ran out before this chain added room: not taken.
                t.descs += walker.descriptors_read();
                too_small = true;
                break;
            }
            bool extent_known = r == Collect::kComplete || walker.skip_rest();
            t.descs += walker.descriptors_read();
            if (!extent_known) {
                // virtio 1.2, 2.8.6: see packed_dequeue_burst.
                ring.restore_avail(start);
                ring.mark_broken();
                t.invalid++;
                stop = true;
                break;
            }
            walker.commit();
            if (r == Collect::kInvalid || chain_cap == 0) {
                // The invalid chain and the ones taken before it go back
                // empty; the packet starts over at the next chain.
                for (uint32_t c = 0; c < n_chains; c++) {
                    ring.put_used(chains[c].id, 0, chains[c].ring_descs);
                }
                ring.put_used(walker.id(), 0, walker.ring_descs());
                t.invalid++;
                n_chains = 0;
                budget = RxBudget{};
                capacity = 0;
                start = ring.avail_cursor();
                continue;
            }
            chains[n_chains++] = {walker.id(), walker.ring_descs(), chain_cap};
            capacity += chain_cap;
        }
        if (stop) {
            break;
        }
        if (too_small) {
            ring.restore_avail(start);
            head_cap_known = true;
            head_cap = capacity;
            t.too_small++;
            continue;
        }
        head_cap_known = false;
        // virtio 1.2, 2.8.4: len is the number of bytes written.
        net::return_rx_chains(
            chains, n_chains, need, [](const RxChain& c) { return c.capacity; },
            [&ring](const RxChain& c, uint32_t written) {
                ring.put_used(c.id, written, c.ring_descs);
            });
        pass.add(pkt, budget.n_pieces, n_chains);
    }
    pass.write(t);
    vq.publish_and_notify();
    t.commit(vq.mutable_counters());
    return done;
}

}  // namespace nvh
