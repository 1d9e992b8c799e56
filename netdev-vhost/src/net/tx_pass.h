// SPDX-License-Identifier: Apache-2.0
// tx_pass.h: the transmit side (guest -> host, virtio 1.2, 5.1.6.2) of a
// burst's two passes: the first walks each chain, validates it and records
// its host pieces, hinting the first of them into the cache (gather()); the
// second copies header and frame into the caller's packets (deliver()).
// The guest's buffers are cold in this CPU's cache, and this way the misses
// of a whole burst overlap instead of stalling each copy in turn.
//
// Templates on the chain walker (ring/chain.h): no virtual call, no
// allocation.
#pragma once

#include <algorithm>
#include <cstdint>

#include "base/prefetch.h"
#include "base/small_copy.h"
#include "memory/guest_memory.h"
#include "net/buffer_piece.h"
#include "net/net_header.h"
#include "net/tally.h"
#include "net/virtio_net.h"
#include "netdev-vhost/nvh.h"
#include "ring/chain.h"

namespace nvh {
namespace net {

enum class TxResult { kOk, kInvalid, kUndersized, kOversized };

// Walks the transmit chain `walker` is at and records its pieces in
// pieces[0..kMaxPacketPieces), adding their count to *n_pieces and their
// bytes (header + frame) to *total.  Nothing is copied yet.  The whole
// chain is walked (and validated).
template <typename Walker>
TxResult gather_tx_chain(const GuestMemory& memory, Walker& walker, BufferPiece* pieces,
                         uint32_t* n_pieces, uint64_t* total) {
    uint32_t n = 0;
    uint64_t bytes = 0;
    bool too_many = false;
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
        bool mapped = for_each_piece(memory, b.addr, b.len, [&](uint8_t* p, uint32_t len) {
            if (n == kMaxPacketPieces) {
                too_many = true;
                return;
            }
            pieces[n++] = {p, len};
            bytes += len;
        });
        if (!mapped || too_many) {
            return TxResult::kInvalid;
        }
    }
    if (step == WalkStep::kInvalid) {
        return TxResult::kInvalid;
    }
    *n_pieces = n;
    *total = bytes;
    return TxResult::kOk;
}

// Hints the first bytes from offset `skip` of a gathered chain.
inline void prefetch_tx_chain(const BufferPiece* pieces, uint32_t n_pieces, uint64_t skip) {
    for (uint32_t i = 0; i < n_pieces && i < 2; i++) {
        if (skip < pieces[i].len) {
            prefetch_buffer(pieces[i].ptr + skip, pieces[i].len - skip, false);
            return;
        }
        skip -= pieces[i].len;
    }
}

// Copies a gathered transmit chain: the first hdr_len bytes into `hdr` (the
// header may be split across descriptors, virtio 1.2, 2.7.4 "Message
// Framing"), or nowhere if `hdr` is null, the rest into `frame`, which
// holds them.
inline void copy_tx_pieces(const BufferPiece* pieces, uint32_t n_pieces, uint32_t hdr_len,
                           uint8_t* hdr, uint8_t* frame) {
    uint64_t pos = 0;
    for (uint32_t i = 0; i < n_pieces; i++) {
        const uint8_t* p = pieces[i].ptr;
        uint32_t len = pieces[i].len;
        if (pos < hdr_len) {
            uint32_t h = std::min<uint64_t>(len, hdr_len - pos);
            if (hdr != nullptr) {
                copy_short(hdr + pos, p, h);
            }
            p += h;
            len -= h;
            pos += h;
        }
        if (len > 0) {
            copy_bytes(frame + (pos - hdr_len), p, len);
            pos += len;
        }
    }
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

// The transmit chains of one pass of a burst: gathered (walked, validated,
// returned to the driver, buffers hinted) first, copied into the caller's
// packets afterwards (deliver()), so that the cache misses on the guest's
// buffers overlap.
class TxPass {
public:
    // For a queue with header length `hdr_len` and negotiated `features`;
    // `large` gives a frame larger than its packet's capacity a buffer.
    TxPass(uint32_t hdr_len, uint64_t features, const LargeBufferHook& large = LargeBufferHook{})
        : hdr_len_(hdr_len),
          features_(features),
          read_header_(tx_header_used(features)),
          large_(large) {}

    // Whether another chain may be gathered (else deliver() first).
    bool has_room() const { return n_pieces_ <= kBurstPieces - kMaxPacketPieces; }

    // Gathers the chain `walker` is at and hints the bytes the copy will
    // read first.  Returns the chain's result so far (deliver() may still
    // find it undersized or oversized).
    template <typename Walker>
    TxResult gather(const GuestMemory& memory, Walker& walker) {
        Chain& c = chains_[n_chains_++];
        c.first_piece = n_pieces_;
        c.n_pieces = 0;
        c.total = 0;
        c.result = gather_tx_chain(memory, walker, &pieces_[n_pieces_], &c.n_pieces, &c.total);
        if (c.result == TxResult::kOk) {
            prefetch_tx_chain(&pieces_[n_pieces_], c.n_pieces, read_header_ ? 0 : hdr_len_);
        }
        n_pieces_ += c.n_pieces;
        return c.result;
    }
    // Forgets the last chain gathered (it cannot be returned: the ring is
    // unusable).
    void drop_last() {
        n_chains_--;
        n_pieces_ = chains_[n_chains_].first_piece;
    }

    // Copies the gathered chains that carry a frame into pkts[0..),
    // counting every chain in `t`; returns how many packets were filled.
    // Starts a new pass.
    uint32_t deliver(nvh_packet* pkts, Tally& t) {
        uint32_t filled = 0;
        for (uint32_t i = 0; i < n_chains_; i++) {
            const Chain& c = chains_[i];
            nvh_packet& pkt = pkts[filled];
            if (i + 1 < n_chains_) {
                prefetch_ahead(chains_[i + 1]);
            }
            TxResult r = c.result;
            if (r == TxResult::kOk) {
                // virtio 1.2, 5.1.6.2: every packet is preceded by a header;
                // a chain of no more than the header carries no frame.
                if (c.total <= hdr_len_) {
                    r = TxResult::kUndersized;
                } else if (c.total - hdr_len_ > pkt.capacity &&
                           !large_.get(pkt, c.total - hdr_len_)) {
                    r = TxResult::kOversized;
                } else {
                    pkt.len = static_cast<uint32_t>(c.total - hdr_len_);
                    const BufferPiece* pieces = &pieces_[c.first_piece];
                    if (!read_header_) {
                        // No offload fields to check (tx_header_used).
                        if (c.n_pieces == 1) {
                            copy_bytes(pkt.data, pieces[0].ptr + hdr_len_, pkt.len);
                        } else {
                            copy_tx_pieces(pieces, c.n_pieces, hdr_len_, nullptr, pkt.data);
                        }
                        pkt.offload = nvh_offload{};
                        t.count_frame(pkt);
                        filled++;
                        continue;
                    }
                    uint8_t hdr[sizeof(virtio::NetHdrMrgRxbuf)] = {};
                    copy_tx_pieces(pieces, c.n_pieces, hdr_len_, hdr, pkt.data);
                    // Offload fields as the driver set them (virtio 1.2,
                    // 5.1.6.2), checked in count_tx (accept_tx_header).
                    pkt.offload = parse_net_header(hdr);
                }
            }
            if (count_tx(t, r, features_, pkt)) {
                filled++;
            }
        }
        n_chains_ = 0;
        n_pieces_ = 0;
        return filled;
    }

private:
    struct Chain {
        uint32_t first_piece;
        uint32_t n_pieces;
        uint64_t total;   // Header + frame bytes.
        TxResult result;
    };

    // Hints the rest of a large chain's first piece while the chain before
    // it is copied (gather() hinted its first lines).
    void prefetch_ahead(const Chain& c) const {
        if (c.result == TxResult::kOk && c.n_pieces > 0 &&
            pieces_[c.first_piece].len > kPrefetchLines * kCacheLine) {
            const BufferPiece& p = pieces_[c.first_piece];
            prefetch_buffer(p.ptr + kPrefetchLines * kCacheLine,
                            p.len - kPrefetchLines * kCacheLine, false, kPrefetchAheadLines);
        }
    }
    const uint32_t hdr_len_;
    const uint64_t features_;
    const bool read_header_;   // tx_header_used(features_).
    const LargeBufferHook large_;
    BufferPiece pieces_[kBurstPieces];
    Chain chains_[NVH_MAX_BURST];
    uint32_t n_chains_ = 0;
    uint32_t n_pieces_ = 0;
};

}  // namespace net
}  // namespace nvh
