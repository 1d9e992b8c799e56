// net_copy.h: the virtio-net copies between guest buffers and packets that
// the split ring bursts (virtio_net.cpp) and the packed ring bursts
// (packed_net.cpp) share: gathering a transmit chain, recording the pieces
// of receive chains, scattering header + frame over them, and the per-burst
// counters.
//
// Templates on the chain walker (ChainWalker, PackedChainWalker: both yield
// buffers through next(DescBuffer*) -> WalkStep), inlined into each burst:
// no virtual call, no allocation.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#include "guest_memory.h"
#include "net_header.h"
#include "netdev-vhost/nvh.h"
#include "small_copy.h"
#include "split_ring.h"   // DescBuffer, WalkStep, for_each_piece.
#include "virtqueue.h"

namespace nvh {
namespace net {

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
    uint64_t multicast = 0;
    uint64_t broadcast = 0;
    std::array<uint64_t, NVH_SIZE_BINS> size_bins{};

    // One frame that crossed (nvh_vring_stats: packets and the classes of
    // its packets).
    void count_frame(const nvh_packet& pkt) {
        packets++;
        bytes += pkt.len;
        size_bins[size_bin(pkt.len)]++;
        // IEEE 802.3, 3.2.3: the first bit sent of the destination address
        // (bit 0 of its first byte) marks a group address; all ones is the
        // broadcast address.  A frame too short for an address is neither.
        if (pkt.len >= 6 && (pkt.data[0] & 1)) {
            static constexpr uint8_t kBroadcast[6] = {0xff, 0xff, 0xff,
                                                     0xff, 0xff, 0xff};
            if (std::memcmp(pkt.data, kBroadcast, sizeof kBroadcast) == 0) {
                broadcast++;
            } else {
                multicast++;
            }
        }
    }

    // The bins of nvh_vring_stats.size_bins: < 64, 64, 65-127, 128-255,
    // 256-511, 512-1023, 1024-1518, >= 1519 bytes.
    static constexpr uint32_t size_bin(uint32_t len) {
        if (len < 64) {
            return 0;
        }
        if (len == 64) {
            return 1;
        }
        if (len >= 1519) {
            return 7;
        }
        // 65..1518: 2 for 65-127 (highest bit 6), ... 6 for 1024-1518.
        return static_cast<uint32_t>(std::bit_width(len)) - 5;
    }

    void commit(VringCounters& c) const {
        VringCounters::add(c.packets, packets);
        VringCounters::add(c.bytes, bytes);
        VringCounters::add(c.ring_full, ring_full);
        VringCounters::add(c.invalid_descriptors, invalid);
        VringCounters::add(c.undersized_frames, undersized);
        VringCounters::add(c.oversized_frames, oversized);
        VringCounters::add(c.rx_buffer_too_small, too_small);
        VringCounters::add(c.descriptors_read, descs);
        VringCounters::add(c.multicast, multicast);
        VringCounters::add(c.broadcast, broadcast);
        for (size_t i = 0; i < size_bins.size(); i++) {
            VringCounters::add(c.size_bins[i], size_bins[i]);
        }
    }
};

// ---- Transmit --------------------------------------------------------------

enum class TxResult { kOk, kInvalid, kUndersized, kOversized };

// Copies the transmit chain `walker` is at: the first hdr_len bytes into
// `hdr` (the header may be split across descriptors, virtio 1.2, 2.7.4
// "Message Framing"), the rest into pkt.data up to pkt.capacity.  The whole
// chain is walked (and validated) even when the frame does not fit, to
// classify the drop.
template <typename Walker>
TxResult copy_tx_chain(const GuestMemory& memory, Walker& walker, uint32_t hdr_len,
                       uint8_t* hdr, nvh_packet& pkt) {
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
        // virtio 1.2, 2.7.5 (split) and 2.8.13 (packed): addr/len name
        // guest-physical memory; every byte must be mapped, pieces split
        // where regions meet.
        bool mapped = for_each_piece(
            memory, b.addr, b.len, [&](const uint8_t* p, uint32_t len) {
                uint64_t pos = total;
                total += len;
                if (pos < hdr_len) {
                    uint32_t h = std::min<uint64_t>(len, hdr_len - pos);
                    copy_short(hdr + pos, p, h);
                    p += h;
                    len -= h;
                    pos += h;
                }
                uint64_t off = pos - hdr_len;
                if (len > 0 && off < cap) {
                    copy_bytes(pkt.data + off, p, std::min<uint64_t>(len, cap - off));
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

// Counts one returned transmit chain; true if `pkt` is delivered.
inline bool count_tx(Tally& t, TxResult r, uint64_t features, nvh_packet& pkt) {
    switch (r) {
    case TxResult::kOk:
        // virtio 1.2, 5.1.6.2.1: a header that breaks the offload rules
        // is dropped and counted as invalid.
        if (!accept_tx_header(features, pkt.len, &pkt.offload)) {
            t.invalid++;
            return false;
        }
        t.count_frame(pkt);
        return true;
    case TxResult::kInvalid:
        t.invalid++;
        return false;
    case TxResult::kUndersized:
        t.undersized++;
        return false;
    case TxResult::kOversized:
        t.oversized++;
        return false;
    }
    return false;
}

// ---- Receive ---------------------------------------------------------------

struct RxPiece {
    uint8_t* ptr;
    uint32_t len;
};

// Pieces, and buffers, one packet may be scattered over (the same bound as
// ChainWalker::kMaxChainBuffers).  A packet that would need more is dropped
// as too large for the guest's buffers.
inline constexpr uint32_t kMaxRxPieces = 256;

// What one packet's chains have cost so far.
struct RxBudget {
    uint32_t n_pieces = 0;   // Recorded in pieces[].
    uint32_t buffers = 0;    // Descriptors walked (zero-length ones too).
    bool full() const { return n_pieces == kMaxRxPieces || buffers == kMaxRxPieces; }
};

enum class Collect { kComplete, kFull, kInvalid };

// Records the device-writable pieces of the receive chain `walker` is at
// into pieces[budget->n_pieces..kMaxRxPieces) (descriptors are read once,
// here; the copy later uses only these pieces).  Adds the recorded bytes to
// *capacity.  Stops walking at the first buffer past a full budget (kFull:
// the recorded prefix is usable, the rest of the chain is not looked at), so
// a packet costs at most kMaxRxPieces + 1 buffers.  kInvalid if the chain
// broke a rule; a single chain longer than the budget is invalid
// (ChainWalker::kMaxChainBuffers).
template <typename Walker>
Collect collect_rx_chain(const GuestMemory& memory, Walker& walker, RxPiece* pieces,
                         RxBudget* budget, uint64_t* capacity) {
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
        // virtio 1.2, 2.7.5 / 2.8.13: every byte must be mapped; split at
        // regions.
        bool mapped = for_each_piece(memory, b.addr, b.len,
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

// The receive header of a packet placed in `n_chains` chains (virtio 1.2,
// 5.1.6.4.1): offload fields only as negotiated (build_rx_header);
// num_buffers is the number of chains used (1 without MRG_RXBUF).
inline void make_rx_header(uint64_t features, const nvh_packet& pkt, uint32_t hdr_len,
                           uint32_t n_chains, uint8_t* hdr) {
    build_rx_header(features, pkt.offload, hdr);
    if (hdr_len == sizeof(virtio::NetHdrMrgRxbuf)) {
        hdr[10] = static_cast<uint8_t>(n_chains);
        hdr[11] = static_cast<uint8_t>(n_chains >> 8);
    }
}

// Copies `hdr` then `frame` across the pieces of `chains` (each with
// first_piece and n_pieces), calling put_used(chain, written) once per chain
// with the bytes written into it: virtio 1.2, 2.7.8.2 (split) and 2.8.4
// (packed), len is the number of bytes written.  The chains hold enough
// room.  Each piece written is recorded in `log` (dirty_log.h).
template <typename Chain, typename PutUsed>
void write_rx_packet(const Chain* chains, uint32_t n_chains, const RxPiece* pieces,
                     const uint8_t* hdr, uint32_t hdr_len, const uint8_t* frame,
                     uint32_t frame_len, const WriteLog& log, PutUsed&& put_used) {
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
                copy_short(dst, hdr + pos, h);
                dst += h;
                room -= h;
                pos += h;
                written += h;
            }
            uint32_t f = std::min<uint64_t>(room, total - pos);
            if (f > 0) {
                copy_bytes(dst, frame + (pos - hdr_len), f);
                pos += f;
                written += f;
            }
            log.note(p.ptr, static_cast<uint64_t>(dst - p.ptr) + f);
        }
        put_used(chains[c], written);
    }
}

}  // namespace net
}  // namespace nvh
