// virtio_net.cpp: virtio-net transmit (guest -> host) and receive
// (host -> guest) bursts on a split virtqueue (virtio 1.2, 5.1.6).
//
// No allocation, no system call except the call-eventfd write in
// Virtqueue::publish_and_notify(); counters are updated once per burst.
#include "net/virtio_net.h"

#include <algorithm>

#include "net/net_copy.h"
#include "net/packed_net.h"

namespace nvh {
namespace {

using net::BufferPiece;
using net::Collect;
using net::RxBudget;
using net::Tally;

// Adds the descriptors a walker read to *n on every return path.
struct CountReads {
    const ChainWalker& w;
    uint64_t* n;
    ~CountReads() { *n += w.descriptors_read(); }
};

// A receive chain taken for the packet being placed.
struct RxChain {
    uint16_t head;
    uint64_t capacity;   // Writable bytes.
};

// Returns fn(walker) for the chain at `head` (< the queue size): a
// SingleBufferWalker when the chain is one direct descriptor, else a
// ChainWalker that starts from the head already read.  Adds the descriptors
// read to *descs.
template <typename Fn>
auto walk_chain(const SplitRing& ring, uint16_t head, uint64_t* descs, Fn&& fn) {
    const virtio::SplitDesc first = ring.head_desc(head);
    if (SingleBufferWalker::applies(first)) {
        SingleBufferWalker walker(first);
        *descs += walker.descriptors_read();
        return fn(walker);
    }
    ChainWalker walker(ring, head, first);
    CountReads count{walker, descs};
    return fn(walker);
}

// net::collect_rx_chain on the chain at `head`.  Adds the descriptors read
// to *descs.
Collect collect_rx_chain(const SplitRing& ring, uint16_t head, BufferPiece* pieces,
                         RxBudget* budget, uint64_t* capacity, uint64_t* descs) {
    return walk_chain(ring, head, descs, [&](auto& walker) {
        return net::collect_rx_chain(ring.memory(), walker, pieces, budget, capacity);
    });
}

// The batch path of net_enqueue_burst: places pkts[0..4) into the four
// one-descriptor chains of ring.take_batch(), one packet per chain; gives
// the heads from the first buffer that does not hold its packet back to the
// one-by-one path.  Returns how many were placed.
uint32_t place_batch(SplitRing& ring, const nvh_packet* pkts, uint32_t hdr_len,
                     net::RxPass& pass, Tally& t) {
    SplitBatch batch;
    if (!ring.take_batch(&batch)) {
        return 0;
    }
    uint32_t placed = net::place_in_single_buffers(
        ring.memory(), batch.buffers, SplitBatch::kSize, pkts, hdr_len, pass, t,
        [&](uint32_t i, uint32_t written) { ring.put_used(batch.heads[i], written); });
    ring.untake_heads(static_cast<uint16_t>(SplitBatch::kSize - placed));
    return placed;
}

}  // namespace

NVH_BURST_FUNCTION uint32_t net_dequeue_burst(Virtqueue& vq, nvh_packet* pkts, uint32_t n) {
    if (vq.packed()) {
        return packed_dequeue_burst(vq, pkts, n);
    }
    SplitRing& ring = vq.split_ring();
    if (!vq.ready() || !ring.attached() || ring.broken() || n == 0) {
        return 0;
    }
    Tally t;
    // The lines of as many chains as the last burst took are hinted before
    // the index is read (SplitRing::prefetch_next_burst), the rest after.
    const uint16_t guessed = static_cast<uint16_t>(
        std::min<uint32_t>({ring.last_burst(), n, NVH_MAX_BURST}));
    ring.prefetch_next_burst(guessed);
    uint16_t avail = ring.avail_count();
    if (ring.broken()) {
        t.invalid++;
        t.commit(vq.mutable_counters());
        return 0;
    }
    const uint32_t heads = std::min<uint32_t>({n, NVH_MAX_BURST, avail});
    if (heads > guessed) {
        ring.prefetch_burst(guessed, static_cast<uint16_t>(heads - guessed));
    }
    ring.set_last_burst(static_cast<uint16_t>(heads));
    const uint32_t hdr_len = vq.header_len();
    net::TxPass pass(hdr_len, vq.features());
    uint32_t filled = 0;
    SplitBatch batch;
    for (uint32_t h = 0; h < heads; h++) {
        if (heads - h >= SplitBatch::kSize && ring.take_batch(&batch)) {
            for (uint16_t i = 0; i < SplitBatch::kSize; i++) {
                if (!pass.has_room()) {
                    filled += pass.deliver(&pkts[filled], t);
                }
                SingleBufferWalker walker(batch.buffers[i]);
                pass.gather(ring.memory(), walker);
                t.descs += walker.descriptors_read();
                ring.put_used(batch.heads[i], 0);   // Dropped ones too, as below.
            }
            h += SplitBatch::kSize - 1;
            continue;
        }
        uint16_t head = ring.take_head();
        // virtio 1.2, 2.7.6: a head out of range cannot be returned in the
        // used ring (2.7.8: id is a head index), so the ring is unusable.
        if (head >= ring.num()) {
            ring.mark_broken();
            t.invalid++;
            break;
        }
        if (!pass.has_room()) {
            filled += pass.deliver(&pkts[filled], t);
        }
        walk_chain(ring, head, &t.descs,
                   [&](auto& walker) { pass.gather(ring.memory(), walker); });
        // Every chain goes back, dropped ones too, so the driver does not
        // leak buffers; the device writes nothing into them (virtio 1.2,
        // 2.7.8.2: len 0).  The driver sees them only after the copies
        // (publish_and_notify).
        ring.put_used(head, 0);
    }
    filled += pass.deliver(&pkts[filled], t);
    vq.publish_and_notify();
    t.commit(vq.mutable_counters());
    return filled;
}

// Receive placement, per packet:
//   - Chains are taken from the avail ring and their writable pieces recorded
//     until they hold header + frame (one chain without MRG_RXBUF, virtio
//     1.2, 5.1.6.3.1 / 5.1.6.4.1).  Then the used entries are written and
//     the packet's pieces kept for the copy, which runs for the whole burst
//     at its end (net::RxPass): nothing is visible to the driver before
//     publish_and_notify(), so no partially written packet ever is.
//   - Out of avail chains: the chains taken for the packet are given back
//     (last_avail_idx rolled back), the burst stops, ring_full counts once.
//   - Too small: without MRG_RXBUF a chain that cannot hold the packet is
//     left in the ring (not consumed) and the packet is dropped: a later,
//     smaller packet can still use the buffer, and the guest is not sent
//     empty buffers it would count as errors.  With MRG_RXBUF the same
//     happens when the whole ring, or kMaxPacketPieces pieces or buffers, cannot
//     hold it.  Such packets count as handled in the return value (retrying
//     cannot succeed) and in rx_buffer_too_small.
//   - Bounded work: a packet walks at most kMaxPacketPieces buffers.  After a
//     packet was too small for the chains at the head of the avail ring,
//     their capacity is remembered for the rest of the burst: later packets
//     that need more are dropped without walking them again (else every
//     packet of the burst would re-walk the same long chains), later packets
//     that fit walk them once more and take them.
//   - An invalid chain is returned with len 0 and counted; chains already
//     taken for the packet are returned with len 0 as well, so the roll back
//     above never has to step over a returned chain.
NVH_BURST_FUNCTION uint32_t net_enqueue_burst(Virtqueue& vq, const nvh_packet* pkts, uint32_t n) {
    if (vq.packed()) {
        return packed_enqueue_burst(vq, pkts, n);
    }
    SplitRing& ring = vq.split_ring();
    if (!vq.ready() || !ring.attached() || ring.broken() || n == 0) {
        return 0;
    }
    Tally t;
    n = std::min<uint32_t>(n, NVH_MAX_BURST);
    // Most packets take one chain; hinted before the index is read
    // (SplitRing::prefetch_next_burst).
    ring.prefetch_next_burst(static_cast<uint16_t>(n));
    uint32_t avail = ring.avail_count();
    if (ring.broken()) {
        t.invalid++;
        t.commit(vq.mutable_counters());
        return 0;
    }
    const uint32_t hdr_len = vq.header_len();
    const bool mrg = vq.mrg_rxbuf();
    net::RxPass pass(hdr_len, vq.features(), vq.write_log());
    RxChain chains[net::kMaxPacketPieces];

    // Capacity of the chains at last_avail_idx, once a packet found them too
    // small; valid until chains are consumed.
    bool head_cap_known = false;
    uint64_t head_cap = 0;

    uint32_t done = 0;
    bool stop = false;
    for (; done < n && !stop; done++) {
        if (!head_cap_known && n - done >= SplitBatch::kSize && avail >= SplitBatch::kSize) {
            uint32_t placed = place_batch(ring, &pkts[done], hdr_len, pass, t);
            avail -= placed;
            if (placed == SplitBatch::kSize) {
                done += SplitBatch::kSize - 1;
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
        uint32_t n_chains = 0;
        RxBudget budget;
        uint64_t capacity = 0;
        bool too_small = false;
        while (capacity < need) {
            if (budget.full() || (!mrg && n_chains == 1) ||
                n_chains == ring.num()) {
                too_small = true;
                break;
            }
            if (avail == 0) {
                ring.untake_heads(static_cast<uint16_t>(n_chains));
                t.ring_full++;
                stop = true;
                break;
            }
            uint16_t head = ring.take_head();
            avail--;
            // virtio 1.2, 2.7.6 / 2.7.8: see net_dequeue_burst.
            if (head >= ring.num()) {
                ring.untake_heads(static_cast<uint16_t>(n_chains + 1));
                ring.mark_broken();
                t.invalid++;
                stop = true;
                break;
            }
            uint64_t chain_cap = 0;
            Collect r = collect_rx_chain(ring, head, pieces, &budget, &chain_cap, &t.descs);
            if (r == Collect::kFull && chain_cap == 0 && n_chains > 0) {
                // The packet's budget ran out before this chain added room:
                // it goes back with the others.
                ring.untake_heads(1);
                avail++;
                too_small = true;
                break;
            }
            if (r == Collect::kInvalid || chain_cap == 0) {
                // The chains taken before it and the invalid one go back
                // empty, in the order they were made available (virtio 1.2,
                // 2.7.9 with IN_ORDER).
                for (uint32_t c = 0; c < n_chains; c++) {
                    ring.put_used(chains[c].head, 0);
                }
                ring.put_used(head, 0);
                t.invalid++;
                n_chains = 0;
                budget = RxBudget{};
                capacity = 0;
                continue;
            }
            chains[n_chains++] = {head, chain_cap};
            capacity += chain_cap;
        }
        if (stop) {
            break;
        }
        if (too_small) {
            ring.untake_heads(static_cast<uint16_t>(n_chains));
            avail += n_chains;
            head_cap_known = true;
            head_cap = capacity;
            t.too_small++;
            continue;
        }
        head_cap_known = false;   // The chains below are consumed.
        // virtio 1.2, 2.7.8.2: len is the number of bytes written.
        net::return_rx_chains(
            chains, n_chains, need, [](const RxChain& c) { return c.capacity; },
            [&ring](const RxChain& c, uint32_t written) { ring.put_used(c.head, written); });
        pass.add(pkt, budget.n_pieces, n_chains);
    }
    pass.write(t);
    vq.publish_and_notify();
    t.commit(vq.mutable_counters());
    return done;
}

}  // namespace nvh
