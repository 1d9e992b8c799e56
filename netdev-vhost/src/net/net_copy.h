// net_copy.h: the virtio-net copies between guest buffers and packets that
// the split ring bursts (virtio_net.cpp) and the packed ring bursts
// (packed_net.cpp) share: gathering the pieces of transmit and receive
// chains, copying header + frame out of and into them, and the per-burst
// counters.
//
// Every burst runs in two passes (TxPass, RxPass): the first walks the
// chains, validates them and writes the used entries, recording each
// packet's pieces and hinting the first of them into the cache; the second
// copies.  The guest's buffers are cold in this CPU's cache, and this way
// the misses of a whole burst overlap instead of stalling each copy in turn.
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

#include "memory/guest_memory.h"
#include "net/net_header.h"
#include "netdev-vhost/nvh.h"
#include "base/prefetch.h"
#include "base/small_copy.h"
#include "ring/split_ring.h"   // DescBuffer, WalkStep, for_each_piece.
#include "ring/virtqueue.h"

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

// ---- Pieces of guest buffers -------------------------------------------------

// A host-contiguous piece of a guest buffer (a descriptor's buffer, split
// where memory regions meet).
struct BufferPiece {
    uint8_t* ptr;
    uint32_t len;
};

// Pieces, and buffers, one packet may be scattered over (the same bound as
// ChainWalker::kMaxChainBuffers, and as DPDK's vhost library's buffer
// vector).  A packet that would need more is dropped: on transmit the chain
// is invalid, on receive the packet is too large for the guest's buffers.
inline constexpr uint32_t kMaxPacketPieces = 256;

// Pieces one pass of a burst holds (TxPass, RxPass): a pass ends early,
// before the burst does, only when fewer than kMaxPacketPieces are left,
// which packets of a few pieces each never reach within NVH_MAX_BURST.
inline constexpr uint32_t kBurstPieces = 2 * kMaxPacketPieces;

// ---- Transmit --------------------------------------------------------------

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
    // For a queue with header length `hdr_len` and negotiated `features`.
    TxPass(uint32_t hdr_len, uint64_t features)
        : hdr_len_(hdr_len), features_(features), read_header_(tx_header_used(features)) {}

    // Whether another chain may be gathered (else deliver() first).
    bool has_room() const { return n_pieces_ <= kBurstPieces - kMaxPacketPieces; }

    // Gathers the chain `walker` is at and hints the bytes the copy will
    // read first.
    template <typename Walker>
    void gather(const GuestMemory& memory, Walker& walker) {
        Chain& c = chains_[n_chains_++];
        c.first_piece = n_pieces_;
        c.n_pieces = 0;
        c.total = 0;
        c.result = gather_tx_chain(memory, walker, &pieces_[n_pieces_], &c.n_pieces, &c.total);
        if (c.result == TxResult::kOk) {
            prefetch_tx_chain(&pieces_[n_pieces_], c.n_pieces, read_header_ ? 0 : hdr_len_);
        }
        n_pieces_ += c.n_pieces;
    }
    // The result of the last gather().
    TxResult last_result() const { return chains_[n_chains_ - 1].result; }
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
                } else if (c.total - hdr_len_ > pkt.capacity) {
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
    BufferPiece pieces_[kBurstPieces];
    Chain chains_[NVH_MAX_BURST];
    uint32_t n_chains_ = 0;
    uint32_t n_pieces_ = 0;
};

// ---- Receive ---------------------------------------------------------------

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

// Returns the chains a packet of `need` bytes (header + frame) fills, in
// order: put_used(chain, written) with the bytes that land in each (virtio
// 1.2, 2.7.8.2 (split) and 2.8.4 (packed): len is the number of bytes
// written).  `capacity(chain)` is the room of a chain; together they hold
// `need`.  The bytes are copied later (RxPass::write), before the used
// entries become visible.
template <typename Chain, typename Capacity, typename PutUsed>
void return_rx_chains(const Chain* chains, uint32_t n_chains, uint64_t need,
                      Capacity&& capacity, PutUsed&& put_used) {
    for (uint32_t c = 0; c < n_chains; c++) {
        uint32_t written = static_cast<uint32_t>(std::min<uint64_t>(capacity(chains[c]), need));
        put_used(chains[c], written);
        need -= written;
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

    // Hints the first lines of a packet's first piece: for writing where
    // the frame goes, for reading where only the header does (which
    // store_short_if_changed reads, and mostly leaves as it is).
    void prefetch_first_lines(const BufferPiece& first, uint32_t frame_len) const {
        const uint64_t bytes = std::min<uint64_t>(first.len, uint64_t{hdr_len_} + frame_len);
        const uintptr_t start = reinterpret_cast<uintptr_t>(first.ptr);
        if (bytes > hdr_len_ && start / kCacheLine != (start + hdr_len_) / kCacheLine) {
            prefetch_for_read(first.ptr);
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

// The receive side of a ring's batch path: places pkts[i] into buffers[i],
// a chain of one descriptor each, for i in [0, n), calling
// put_used(i, written) for each packet placed.  Stops at the first buffer
// that does not simply hold its packet (read-only, too small, not all
// mapped): returns how many were placed, and the caller gives that buffer
// and the ones after it back to its one-by-one path, which applies every
// rule to them.
template <typename PutUsed>
uint32_t place_in_single_buffers(const GuestMemory& memory, const DescBuffer* buffers,
                                 uint32_t n, const nvh_packet* pkts, uint32_t hdr_len,
                                 RxPass& pass, Tally& t, PutUsed&& put_used) {
    for (uint32_t i = 0; i < n; i++) {
        const nvh_packet& pkt = pkts[i];
        const uint64_t need = uint64_t{hdr_len} + pkt.len;
        if (!pass.has_room()) {
            pass.write(t);
        }
        BufferPiece* pieces = pass.next_pieces();
        RxBudget budget;
        uint64_t capacity = 0;
        SingleBufferWalker walker(buffers[i]);
        Collect r = collect_rx_chain(memory, walker, pieces, &budget, &capacity);
        t.descs += walker.descriptors_read();
        if (r != Collect::kComplete || capacity < need) {
            return i;
        }
        // virtio 1.2, 2.7.8.2 / 2.8.4: len is the number of bytes written.
        put_used(i, static_cast<uint32_t>(need));
        pass.add(pkt, budget.n_pieces, 1);
    }
    return n;
}

}  // namespace net
}  // namespace nvh
