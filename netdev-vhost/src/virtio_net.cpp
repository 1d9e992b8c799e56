// virtio_net.cpp: virtio-net transmit (guest -> host) and receive
// (host -> guest) bursts on a split virtqueue (virtio 1.2, 5.1.6).
//
// No allocation, no system call except the call-eventfd write in
// Virtqueue::publish_and_notify(); counters are updated once per burst.
#include "virtio_net.h"

#include "packed_net.h"

#include "net_header.h"

#include <algorithm>
#include <cstring>

namespace nvh {
namespace {

// Per-burst counter deltas, added to the vring's counters once.
struct Tally {
    uint64_t packets = 0;
    uint64_t bytes = 0;
    uint64_t ring_full = 0;
    uint64_t invalid = 0;
    uint64_t undersized = 0;
    uint64_t oversized = 0;
    uint64_t too_small = 0;
    uint64_t descs = 0;   // Descriptors read.

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

// ---- Transmit --------------------------------------------------------------

enum class TxResult { kOk, kInvalid, kUndersized, kOversized };

// Copies one transmit chain: the first hdr_len bytes into `hdr` (the header
// may be split across descriptors, virtio 1.2, 2.7.4 "Message Framing"), the
// rest into pkt.data up to pkt.capacity.  The whole chain is walked (and
// validated) even when the frame does not fit, to classify the drop.
// Adds the descriptors read to *descs.
TxResult copy_tx_chain(const SplitRing& ring, uint16_t head, uint32_t hdr_len,
                       uint8_t* hdr, nvh_packet& pkt, uint64_t* descs) {
    ChainWalker walker(ring, head);
    struct Count {   // Counts on every return path.
        const ChainWalker& w;
        uint64_t* n;
        ~Count() { *n += w.descriptors_read(); }
    } count{walker, descs};
    const uint64_t cap = pkt.capacity;
    uint64_t total = 0;   // Chain bytes so far: header + frame.
    DescBuffer b;
    WalkStep step;
    while ((step = walker.next(&b)) == WalkStep::kBuffer) {
        // virtio 1.2, 5.1.6.2: a transmitq chain carries header and frame in
        // device-readable buffers only; a device-writable one (2.7.4.2
        // orders writable after readable) has no place in it.
        if (b.writable) {
            return TxResult::kInvalid;
        }
        // virtio 1.2, 2.7.5: addr/len name guest-physical memory; every byte
        // must be mapped, pieces split where regions meet.
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
    // virtio 1.2, 5.1.6.2: every packet is preceded by a header; a chain of
    // no more than the header carries no frame.
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

// ---- Receive ---------------------------------------------------------------

struct RxPiece {
    uint8_t* ptr;
    uint32_t len;
};

struct RxChain {
    uint16_t head;
    uint32_t first_piece;
    uint32_t n_pieces;
};

// Pieces, and buffers, one packet may be scattered over (the same bound as
// ChainWalker::kMaxChainBuffers).  A packet that would need more is dropped
// as too large for the guest's buffers.
constexpr uint32_t kMaxRxPieces = 256;

// What one packet's chains have cost so far.
struct RxBudget {
    uint32_t n_pieces = 0;   // Recorded in pieces[].
    uint32_t buffers = 0;    // Descriptors walked (zero-length ones too).
    bool full() const { return n_pieces == kMaxRxPieces || buffers == kMaxRxPieces; }
};

enum class Collect { kComplete, kFull, kInvalid };

// Records the device-writable pieces of one receive chain into
// pieces[budget->n_pieces..kMaxRxPieces) (descriptors are read once, here;
// the copy later uses only these pieces).  Adds the recorded bytes to
// *capacity and the descriptors read to *descs.  Stops walking at the first
// buffer past a full budget (kFull: the recorded prefix is usable, the rest
// of the chain is not looked at), so a packet costs at most kMaxRxPieces + 1
// buffers.  kInvalid if the chain broke a rule; a single chain longer than
// the budget is invalid (ChainWalker::kMaxChainBuffers).
Collect collect_rx_chain(const SplitRing& ring, uint16_t head, RxPiece* pieces,
                         RxBudget* budget, uint64_t* capacity, uint64_t* descs) {
    ChainWalker walker(ring, head);
    struct Count {   // Counts on every return path.
        const ChainWalker& w;
        uint64_t* n;
        ~Count() { *n += w.descriptors_read(); }
    } count{walker, descs};
    DescBuffer b;
    WalkStep step = WalkStep::kEnd;
    while ((step = walker.next(&b)) == WalkStep::kBuffer) {
        if (budget->full()) {
            return Collect::kFull;
        }
        budget->buffers++;
        // virtio 1.2, 5.1.6.3: receive buffers are device-writable; the
        // device never writes a device-readable buffer (2.7.5.1).
        if (!b.writable) {
            return Collect::kInvalid;
        }
        // virtio 1.2, 2.7.5: every byte must be mapped; split at regions.
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

// Copies `hdr` then `frame` across the pieces of `chains`, one used element
// per chain with the bytes written into it.  The chains hold enough room.
void write_rx_packet(SplitRing& ring, const RxChain* chains, uint32_t n_chains,
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
        // virtio 1.2, 2.7.8.2: len is the number of bytes written.
        ring.put_used(chains[c].head, written);
    }
}

}  // namespace

uint32_t net_dequeue_burst(Virtqueue& vq, nvh_packet* pkts, uint32_t n) {
    if (vq.packed()) {
        return packed_dequeue_burst(vq, pkts, n);
    }
    SplitRing& ring = vq.split_ring();
    if (!vq.ready() || !ring.attached() || ring.broken() || n == 0) {
        return 0;
    }
    Tally t;
    uint16_t avail = ring.avail_count();
    if (ring.broken()) {
        t.invalid++;
        t.commit(vq.mutable_counters());
        return 0;
    }
    const uint32_t heads = std::min<uint32_t>({n, NVH_MAX_BURST, avail});
    const uint32_t hdr_len = vq.header_len();
    uint32_t filled = 0;
    for (uint32_t h = 0; h < heads; h++) {
        uint16_t head = ring.take_head();
        // virtio 1.2, 2.7.6: a head out of range cannot be returned in the
        // used ring (2.7.8: id is a head index), so the ring is unusable.
        if (head >= ring.num()) {
            ring.mark_broken();
            t.invalid++;
            break;
        }
        uint8_t hdr[sizeof(virtio::NetHdrMrgRxbuf)] = {};
        nvh_packet& pkt = pkts[filled];
        TxResult r = copy_tx_chain(ring, head, hdr_len, hdr, pkt, &t.descs);
        // Dropped chains go back too, so the driver does not leak buffers;
        // the device wrote nothing into them (virtio 1.2, 2.7.8.2: len 0).
        ring.put_used(head, 0);
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

// Receive placement, per packet:
//   - Chains are taken from the avail ring and their writable pieces recorded
//     until they hold header + frame (one chain without MRG_RXBUF, virtio
//     1.2, 5.1.6.3.1 / 5.1.6.4.1); only then is anything written, so no
//     partially written packet ever becomes visible.
//   - Out of avail chains: the chains taken for the packet are given back
//     (last_avail_idx rolled back), the burst stops, ring_full counts once.
//   - Too small: without MRG_RXBUF a chain that cannot hold the packet is
//     left in the ring (not consumed) and the packet is dropped: a later,
//     smaller packet can still use the buffer, and the guest is not sent
//     empty buffers it would count as errors.  With MRG_RXBUF the same
//     happens when the whole ring, or kMaxRxPieces pieces or buffers, cannot
//     hold it.  Such packets count as handled in the return value (retrying
//     cannot succeed) and in rx_buffer_too_small.
//   - Bounded work: a packet walks at most kMaxRxPieces buffers.  After a
//     packet was too small for the chains at the head of the avail ring,
//     their capacity is remembered for the rest of the burst: later packets
//     that need more are dropped without walking them again (else every
//     packet of the burst would re-walk the same long chains), later packets
//     that fit walk them once more and take them.
//   - An invalid chain is returned with len 0 and counted; chains already
//     taken for the packet are returned with len 0 as well, so the roll back
//     above never has to step over a returned chain.
uint32_t net_enqueue_burst(Virtqueue& vq, const nvh_packet* pkts, uint32_t n) {
    if (vq.packed()) {
        return packed_enqueue_burst(vq, pkts, n);
    }
    SplitRing& ring = vq.split_ring();
    if (!vq.ready() || !ring.attached() || ring.broken() || n == 0) {
        return 0;
    }
    Tally t;
    uint32_t avail = ring.avail_count();
    if (ring.broken()) {
        t.invalid++;
        t.commit(vq.mutable_counters());
        return 0;
    }
    n = std::min<uint32_t>(n, NVH_MAX_BURST);
    const uint32_t hdr_len = vq.header_len();
    const bool mrg = vq.mrg_rxbuf();
    RxPiece pieces[kMaxRxPieces];
    RxChain chains[kMaxRxPieces];

    // Capacity of the chains at last_avail_idx, once a packet found them too
    // small; valid until chains are consumed.
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
            uint32_t first = budget.n_pieces;
            uint64_t chain_cap = 0;
            Collect r = collect_rx_chain(ring, head, pieces, &budget, &chain_cap,
                                         &t.descs);
            if (r == Collect::kFull && chain_cap == 0 && n_chains > 0) {
                // The packet's budget ran out before this chain added room:
                // it goes back with the others.
                ring.untake_heads(1);
                avail++;
                too_small = true;
                break;
            }
            if (r == Collect::kInvalid || chain_cap == 0) {
                ring.put_used(head, 0);
                for (uint32_t c = 0; c < n_chains; c++) {
                    ring.put_used(chains[c].head, 0);
                }
                t.invalid++;
                n_chains = 0;
                budget = RxBudget{};
                capacity = 0;
                continue;
            }
            chains[n_chains++] = {head, first, budget.n_pieces - first};
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
        // virtio 1.2, 5.1.6.4.1: offload fields only as negotiated
        // (build_rx_header); num_buffers is the number of chains used (1
        // without MRG_RXBUF).
        uint8_t hdr[sizeof(virtio::NetHdrMrgRxbuf)] = {};
        build_rx_header(vq.features(), pkt.offload, hdr);
        if (hdr_len == sizeof(virtio::NetHdrMrgRxbuf)) {
            hdr[10] = static_cast<uint8_t>(n_chains);
            hdr[11] = static_cast<uint8_t>(n_chains >> 8);
        }
        write_rx_packet(ring, chains, n_chains, pieces, hdr, hdr_len, pkt.data,
                        pkt.len);
        t.packets++;
        t.bytes += pkt.len;
    }
    vq.publish_and_notify();
    t.commit(vq.mutable_counters());
    return done;
}

}  // namespace nvh
