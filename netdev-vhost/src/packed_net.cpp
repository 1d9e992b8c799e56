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
#include <cstring>

#include "net_header.h"
#include "packed_ring.h"

namespace nvh {
namespace {

struct Tally {
    uint64_t packets = 0;
    uint64_t bytes = 0;
    uint64_t ring_full = 0;
    uint64_t invalid = 0;
    uint64_t undersized = 0;
    uint64_t oversized = 0;
    uint64_t too_small = 0;
    uint64_t descs = 0;

    void commit(VringCounters& c) const {
        VringCounters::add(c.packets, packets);
        VringCounters::add(c.bytes, bytes);
        VringCounters::add(c.ring_full, ring_full);
        VringCounters::add(c.invalid_descriptors, invalid);
        VringCounters::add(c.undersized_frames, undersized);
        VringCounters::add(c.oversized_frames, oversized);
        VringCounters::add(c.rx_buffer_too_small, too_small);
        VringCounters::add(c.descriptors_read, descs);
    }
};

enum class TxResult { kOk, kInvalid, kUndersized, kOversized };

// As copy_tx_chain in virtio_net.cpp, on the chain `walker` is at.
TxResult copy_tx_chain(const PackedRing& ring, PackedChainWalker& walker,
                       uint32_t hdr_len, uint8_t* hdr, nvh_packet& pkt) {
    const uint64_t cap = pkt.capacity;
    uint64_t total = 0;
    DescBuffer b;
    WalkStep step;
    while ((step = walker.next(&b)) == WalkStep::kBuffer) {
        // virtio 1.2, 5.1.6.2: transmit buffers are device-readable only.
        if (b.writable) {
            return TxResult::kInvalid;
        }
        // virtio 1.2, 2.8.13: addr/len name guest-physical memory; every
        // byte must be mapped.
        bool mapped = for_each_piece(
            ring.memory(), b.addr, b.len, [&](const uint8_t* p, uint32_t len) {
                uint64_t pos = total;
                total += len;
                if (pos < hdr_len) {
                    uint32_t h = std::min<uint64_t>(len, hdr_len - pos);
                    std::memcpy(hdr + pos, p, h);
                    p += h;
                    len -= h;
                    pos += h;
                }
                uint64_t off = pos - hdr_len;
                if (len > 0 && off < cap) {
                    std::memcpy(pkt.data + off, p, std::min<uint64_t>(len, cap - off));
                }
            });
        if (!mapped) {
            return TxResult::kInvalid;
        }
    }
    if (step == WalkStep::kInvalid) {
        return TxResult::kInvalid;
    }
    // virtio 1.2, 5.1.6.2: a header, then a frame.
    if (total <= hdr_len) {
        return TxResult::kUndersized;
    }
    if (total - hdr_len > cap) {
        return TxResult::kOversized;
    }
    pkt.len = static_cast<uint32_t>(total - hdr_len);
    // Offload fields as the driver set them (virtio 1.2, 5.1.6.2), checked
    // by the caller (accept_tx_header).
    pkt.offload = parse_net_header(hdr);
    return TxResult::kOk;
}

struct RxPiece {
    uint8_t* ptr;
    uint32_t len;
};

struct RxChain {
    uint16_t id;
    uint16_t ring_descs;
    uint32_t first_piece;
    uint32_t n_pieces;
};

constexpr uint32_t kMaxRxPieces = 256;

struct RxBudget {
    uint32_t n_pieces = 0;
    uint32_t buffers = 0;
    bool full() const { return n_pieces == kMaxRxPieces || buffers == kMaxRxPieces; }
};

enum class Collect { kComplete, kFull, kInvalid };

// As collect_rx_chain in virtio_net.cpp.  On kFull and kInvalid the caller
// calls walker.skip_rest() to learn the chain's extent.
Collect collect_rx_chain(const PackedRing& ring, PackedChainWalker& walker,
                         RxPiece* pieces, RxBudget* budget, uint64_t* capacity) {
    DescBuffer b;
    WalkStep step = WalkStep::kEnd;
    while ((step = walker.next(&b)) == WalkStep::kBuffer) {
        if (budget->full()) {
            return Collect::kFull;
        }
        budget->buffers++;
        // virtio 1.2, 5.1.6.3: receive buffers are device-writable.
        if (!b.writable) {
            return Collect::kInvalid;
        }
        bool mapped = for_each_piece(ring.memory(), b.addr, b.len,
                                     [&](uint8_t* p, uint32_t len) {
                                         if (budget->n_pieces < kMaxRxPieces) {
                                             pieces[budget->n_pieces++] = {p, len};
                                             *capacity += len;
                                         }
                                     });
        if (!mapped) {
            return Collect::kInvalid;
        }
    }
    return step == WalkStep::kEnd ? Collect::kComplete : Collect::kInvalid;
}

void write_rx_packet(PackedRing& ring, const RxChain* chains, uint32_t n_chains,
                     const RxPiece* pieces, const uint8_t* hdr, uint32_t hdr_len,
                     const uint8_t* frame, uint32_t frame_len) {
    uint64_t pos = 0;
    const uint64_t total = uint64_t{hdr_len} + frame_len;
    for (uint32_t c = 0; c < n_chains; c++) {
        uint32_t written = 0;
        for (uint32_t i = 0; i < chains[c].n_pieces && pos < total; i++) {
            const RxPiece& p = pieces[chains[c].first_piece + i];
            uint32_t room = p.len;
            uint8_t* dst = p.ptr;
            if (pos < hdr_len) {
                uint32_t h = std::min<uint64_t>(room, hdr_len - pos);
                std::memcpy(dst, hdr + pos, h);
                dst += h;
                room -= h;
                pos += h;
                written += h;
            }
            uint32_t f = std::min<uint64_t>(room, total - pos);
            if (f > 0) {
                std::memcpy(dst, frame + (pos - hdr_len), f);
                pos += f;
                written += f;
            }
        }
        // virtio 1.2, 2.8.4: len is the number of bytes written.
        ring.put_used(chains[c].id, written, chains[c].ring_descs);
    }
}

}  // namespace

uint32_t packed_dequeue_burst(Virtqueue& vq, nvh_packet* pkts, uint32_t n) {
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
        TxResult r = copy_tx_chain(ring, walker, hdr_len, hdr, pkt);
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
        switch (r) {
        case TxResult::kOk:
            // virtio 1.2, 5.1.6.2.1: a header that breaks the offload rules
            // is dropped and counted as invalid.
            if (!accept_tx_header(vq.features(), pkt.len, &pkt.offload)) {
                t.invalid++;
                break;
            }
            t.packets++;
            t.bytes += pkt.len;
            filled++;
            break;
        case TxResult::kInvalid:
            t.invalid++;
            break;
        case TxResult::kUndersized:
            t.undersized++;
            break;
        case TxResult::kOversized:
            t.oversized++;
            break;
        }
    }
    vq.publish_and_notify();
    t.commit(vq.mutable_counters());
    return filled;
}

// Receive placement: as net_enqueue_burst in virtio_net.cpp; "giving chains
// back" restores the avail cursor to where the packet started.
uint32_t packed_enqueue_burst(Virtqueue& vq, const nvh_packet* pkts, uint32_t n) {
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
            Collect r = collect_rx_chain(ring, walker, pieces, &budget, &chain_cap);
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
        build_rx_header(vq.features(), pkt.offload, hdr);
        if (hdr_len == sizeof(virtio::NetHdrMrgRxbuf)) {
            hdr[10] = static_cast<uint8_t>(n_chains);
            hdr[11] = static_cast<uint8_t>(n_chains >> 8);
        }
        write_rx_packet(ring, chains, n_chains, pieces, hdr, hdr_len, pkt.data, pkt.len);
        t.packets++;
        t.bytes += pkt.len;
    }
    vq.publish_and_notify();
    t.commit(vq.mutable_counters());
    return done;
}

}  // namespace nvh
