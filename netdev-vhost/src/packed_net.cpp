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
#include "packed_net.h"

#include <algorithm>

#include "net_copy.h"
#include "packed_ring.h"
#include "virtio_net.h"

namespace nvh {
namespace {

using net::Collect;
using net::kMaxRxPieces;
using net::RxBudget;
using net::RxPiece;
using net::Tally;
using net::TxResult;

struct RxChain {
    uint16_t id;
    uint16_t ring_descs;
    uint32_t first_piece;
    uint32_t n_pieces;
};

}  // namespace

NVH_BURST_FUNCTION uint32_t packed_dequeue_burst(Virtqueue& vq, nvh_packet* pkts, uint32_t n) {
    PackedRing& ring = vq.packed_ring();
    if (!vq.ready() || !ring.attached() || ring.broken() || n == 0) {
        return 0;
    }
    Tally t;
    const uint32_t max = std::min<uint32_t>(n, NVH_MAX_BURST);
    const uint32_t hdr_len = vq.header_len();
    uint32_t filled = 0;
    for (uint32_t h = 0; h < max && ring.head_available(); h++) {
        uint8_t hdr[sizeof(virtio::NetHdrMrgRxbuf)] = {};
        nvh_packet& pkt = pkts[filled];
        PackedChainWalker walker(ring);
        TxResult r = net::copy_tx_chain(ring.memory(), walker, hdr_len, hdr, pkt);
        bool extent_known = r != TxResult::kInvalid || walker.skip_rest();
        t.descs += walker.descriptors_read();
        if (!extent_known) {
            // A chain longer than the queue, or a buffer id out of range:
            // it cannot be returned (virtio 1.2, 2.8.6), the ring is unusable.
            ring.mark_broken();
            t.invalid++;
            break;
        }
        // Dropped chains go back too, with len 0 (virtio 1.2, 2.8.4).
        walker.commit();
        ring.put_used(walker.id(), 0, walker.ring_descs());
        if (net::count_tx(t, r, vq.features(), pkt)) {
            filled++;
        }
    }
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
    RxPiece pieces[kMaxRxPieces];
    RxChain chains[kMaxRxPieces];
    bool head_cap_known = false;
    uint64_t head_cap = 0;

    uint32_t done = 0;
    bool stop = false;
    for (; done < n && !stop; done++) {
        const nvh_packet& pkt = pkts[done];
        const uint64_t need = uint64_t{hdr_len} + pkt.len;
        if (head_cap_known && need > head_cap) {
            t.too_small++;
            continue;
        }
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
            uint32_t first = budget.n_pieces;
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
            chains[n_chains++] = {walker.id(), walker.ring_descs(), first,
                                  budget.n_pieces - first};
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
        // virtio 1.2, 5.1.6.4.1: offload fields only as negotiated
        // (build_rx_header); num_buffers is the number of chains used (1
        // without MRG_RXBUF).
        uint8_t hdr[sizeof(virtio::NetHdrMrgRxbuf)] = {};
        net::make_rx_header(vq.features(), pkt, hdr_len, n_chains, hdr);
        // virtio 1.2, 2.8.4: len is the number of bytes written.
        net::write_rx_packet(chains, n_chains, pieces, hdr, hdr_len, pkt.data, pkt.len,
                             vq.write_log(),
                             [&ring](const RxChain& c, uint32_t written) {
                                 ring.put_used(c.id, written, c.ring_descs);
                             });
        t.count_frame(pkt);
    }
    vq.publish_and_notify();
    t.commit(vq.mutable_counters());
    return done;
}

}  // namespace nvh
