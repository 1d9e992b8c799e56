// SPDX-License-Identifier: Apache-2.0
// rx_pass.h: the receive side (host -> guest, virtio 1.2, 5.1.6.3 and
// 5.1.6.4) of a burst's two passes: the first records the writable pieces
// of the chains each packet takes (collect_rx_chain) and hints them for
// writing; the second writes header and frame (RxPass::write()).  Nothing
// is visible to the driver before the burst publishes its used entries, so
// no partly written packet ever is.
//
// Templates on the chain walker (ring/chain.h): no virtual call, no
// allocation.
#pragma once

#include <algorithm>
#include <cstdint>

#include "base/prefetch.h"
#include "base/small_copy.h"
#include "memory/dirty_log.h"
#include "memory/guest_memory.h"
#include "net/buffer_piece.h"
#include "net/net_header.h"
#include "net/tally.h"
#include "netdev-vhost/nvh.h"
#include "ring/chain.h"

namespace nvh {
namespace net {

// What one packet's chains have cost so far.
struct RxBudget {
    uint32_t n_pieces = 0;   // Recorded in pieces[].
    uint32_t buffers = 0;    // Descriptors walked (zero-length ones too).
    bool full() const {
        return n_pieces == kMaxPacketPieces || buffers == kMaxPacketPieces;
    }
};

enum class Collect { kComplete, kFull, kInvalid };

// Records the device-writable pieces of the receive chain `walker` is at
// into pieces[budget->n_pieces..kMaxPacketPieces) (descriptors are read
// once, here; the copy later uses only these pieces).  Adds the recorded
// bytes to *capacity.  Stops walking at the first buffer past a full budget
// (kFull: the recorded prefix is usable, the rest of the chain is not looked
// at), so a packet costs at most kMaxPacketPieces + 1 buffers.  kInvalid if
// the chain broke a rule; a single chain longer than the budget is invalid
// (ChainWalker::kMaxChainBuffers).
template <typename Walker>
Collect collect_rx_chain(const GuestMemory& memory, Walker& walker, BufferPiece* pieces,
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
                                         if (budget->n_pieces < kMaxPacketPieces) {
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
    // `hdr` starts zeroed: a packet without offload fields has an all-zero
    // header (what build_rx_header writes for it).
    if (pkt.offload.flags != 0 || pkt.offload.gso_type != 0) {
        build_rx_header(features, pkt.offload, hdr);
    }
    if (hdr_len == sizeof(virtio::NetHdrMrgRxbuf)) {
        hdr[10] = static_cast<uint8_t>(n_chains);
        hdr[11] = static_cast<uint8_t>(n_chains >> 8);
    }
}

// Copies `hdr` then `frame` across `pieces`, which hold enough room, and
// records each piece written in `log` (dirty_log.h).
inline void scatter_rx_packet(const BufferPiece* pieces, const uint8_t* hdr, uint32_t hdr_len,
                              const uint8_t* frame, uint32_t frame_len, const WriteLog& log) {
    uint64_t pos = 0;
    const uint64_t total = uint64_t{hdr_len} + frame_len;
    for (uint32_t i = 0; pos < total; i++) {
        const BufferPiece& p = pieces[i];
        uint32_t room = p.len;
        uint8_t* dst = p.ptr;
        if (pos < hdr_len) {
            uint32_t h = std::min<uint64_t>(room, hdr_len - pos);
            store_short_if_changed(dst, hdr + pos, h);
            dst += h;
            room -= h;
            pos += h;
        }
        uint32_t f = std::min<uint64_t>(room, total - pos);
        if (f > 0) {
            copy_bytes(dst, frame + (pos - hdr_len), f);
            pos += f;
        }
        log.note(p.ptr, static_cast<uint64_t>(dst - p.ptr) + f);
    }
}

// The packets of one pass of a receive burst: placed first (chains taken,
// used entries written, buffers hinted for writing), copied afterwards
// (write()), so that the cache misses on the guest's buffers overlap.  The
// caller collects each packet's pieces at next_pieces() and commits them
// with add().
class RxPass {
public:
    // For a queue with header length `hdr_len` and negotiated `features`,
    // recording its writes in `log`.
    RxPass(uint32_t hdr_len, uint64_t features, const WriteLog& log)
        : hdr_len_(hdr_len), features_(features), log_(log) {}

    // Whether another packet may be placed (else write() first): the next
    // one has room for kMaxPacketPieces pieces.
    bool has_room() const { return n_pieces_ <= kBurstPieces - kMaxPacketPieces; }
    BufferPiece* next_pieces() { return &pieces_[n_pieces_]; }

    // Commits the packet whose n_pieces pieces were collected at
    // next_pieces(), spread over n_chains chains.
    void add(const nvh_packet& pkt, uint32_t n_pieces, uint32_t n_chains) {
        packets_[n_packets_++] = {&pkt, n_pieces_, n_chains};
        prefetch_first_lines(pieces_[n_pieces_], pkt.len);
        n_pieces_ += n_pieces;
    }

    // Writes header and frame of every placed packet, counting them in `t`.
    // Starts a new pass.
    void write(Tally& t) {
        for (uint32_t i = 0; i < n_packets_; i++) {
            const Packet& p = packets_[i];
            if (i + 1 < n_packets_) {
                prefetch_ahead(packets_[i + 1]);
            }
            // virtio 1.2, 5.1.6.4.1: offload fields only as negotiated;
            // num_buffers is the number of chains used.
            uint8_t hdr[sizeof(virtio::NetHdrMrgRxbuf)] = {};
            make_rx_header(features_, *p.pkt, hdr_len_, p.n_chains, hdr);
            scatter_rx_packet(&pieces_[p.first_piece], hdr, hdr_len_, p.pkt->data, p.pkt->len,
                              log_);
            t.count_frame(*p.pkt);
        }
        n_packets_ = 0;
        n_pieces_ = 0;
    }

private:
    struct Packet {
        const nvh_packet* pkt;
        uint32_t first_piece;
        uint32_t n_chains;
    };

    // Hints the first lines of a packet's first piece for writing, where
    // the frame goes.  A line that holds only the header is not hinted:
    // store_short_if_changed reads it and mostly leaves it as it is, and
    // its hint cost more than the miss it saved (on a 64 B packed chain,
    // about 6 % of the cycles per packet; neutral on split rings:
    // docs/performance.md).
    void prefetch_first_lines(const BufferPiece& first, uint32_t frame_len) const {
        const uint64_t bytes = std::min<uint64_t>(first.len, uint64_t{hdr_len_} + frame_len);
        const uintptr_t start = reinterpret_cast<uintptr_t>(first.ptr);
        if (bytes > hdr_len_ && start / kCacheLine != (start + hdr_len_) / kCacheLine) {
            prefetch_buffer(first.ptr + hdr_len_, bytes - hdr_len_, true, kPrefetchLines - 1);
        } else {
            prefetch_buffer(first.ptr, bytes, true);
        }
    }

    // Hints the rest of a large packet's first piece while the packet
    // before it is copied (add() hinted its first lines).
    void prefetch_ahead(const Packet& p) const {
        const BufferPiece& first = pieces_[p.first_piece];
        const uint64_t bytes = std::min<uint64_t>(first.len, uint64_t{hdr_len_} + p.pkt->len);
        if (bytes > kPrefetchLines * kCacheLine) {
            prefetch_buffer(first.ptr + kPrefetchLines * kCacheLine,
                            bytes - kPrefetchLines * kCacheLine, true, kPrefetchAheadLines);
        }
    }
    const uint32_t hdr_len_;
    const uint64_t features_;
    const WriteLog& log_;
    BufferPiece pieces_[kBurstPieces];
    Packet packets_[NVH_MAX_BURST];
    uint32_t n_packets_ = 0;
    uint32_t n_pieces_ = 0;
};

}  // namespace net
}  // namespace nvh
