// SPDX-License-Identifier: Apache-2.0
// chain.h: what every ring type hands the virtio-net bursts, whatever its
// layout (virtio 1.2, 2.7 split, 2.8 packed): a descriptor's buffer, the
// steps of a chain walk, the walkers that need no ring, a batch of
// one-buffer chains, and the host pieces of a guest buffer.
#pragma once

#include <cstdint>

#include "memory/guest_memory.h"

namespace nvh {

// One descriptor's buffer, copied out of guest memory.
struct DescBuffer {
    uint64_t addr;     // Guest-physical.
    uint32_t len;
    bool writable;     // VIRTQ_DESC_F_WRITE (device-writable).
};

// What a chain walker's next() found: a buffer, the end of the chain, or a
// broken rule (the chain must not be used).
enum class WalkStep { kBuffer, kEnd, kInvalid };

// Buffers (direct plus indirect descriptors; a descriptor that points at an
// indirect table is not a buffer) one chain may have, on either ring type.
// virtio 1.2, 2.7.5.3.1 allows chains as long as the queue (up to 32768),
// but no virtio-net driver needs that many: Linux virtio_net never uses
// more than MAX_SKB_FRAGS + 2 descriptors per packet, and DPDK's vhost
// library refuses chains longer than BUF_VECTOR_MAX (256) the same way.
inline constexpr uint32_t kMaxChainBuffers = 256;

// A chain taken from a ring, as it is returned: `id` is the split ring's
// head index or the packed ring's buffer id, `ring_descs` the ring slots
// the chain took (a packed used descriptor skips them; 1 on a split ring).
struct TakenChain {
    uint16_t id;
    uint16_t ring_descs;
};

// How a burst's walk of a chain ended: what the callback of the rings'
// take() (SplitChains, PackedChains) returns.
enum class WalkEnd {
    kComplete,   // The walker reached the end of the chain.
    kStopped,    // The burst read no further (a broken rule, or room enough):
                 // the chain is still taken.
    kLeave,      // The burst does not take the chain: it stays available.
};

// What take() did with the next available chain.
enum class Take {
    kTaken,        // Taken: the burst returns it with put_used().
    kLeft,         // Still available (WalkEnd::kLeave).
    kRingBroken,   // Its extent or id cannot be known, so it can never be
                   // returned: the ring is marked broken.
};

// Four chains of one direct descriptor each, taken together (the rings'
// take_batch(): four avail entries, or the four slots of one ring line).
struct ChainBatch {
    static constexpr uint16_t kSize = 4;
    DescBuffer buffers[kSize];
    uint16_t ids[kSize];

    TakenChain chain(uint32_t i) const { return {ids[i], 1}; }
};

// The walk of a chain that is one direct descriptor, already read: the
// common case of both directions, without a ring walker's bookkeeping.
class SingleBufferWalker {
public:
    explicit SingleBufferWalker(const DescBuffer& b) : buffer_(b) {}
    WalkStep next(DescBuffer* out) {
        if (given_) {
            return WalkStep::kEnd;
        }
        given_ = true;
        *out = buffer_;
        return WalkStep::kBuffer;
    }
    uint32_t descriptors_read() const { return 1; }

private:
    DescBuffer buffer_;
    bool given_ = false;
};

// The walk of a chain that cannot be read at all (its head names no
// descriptor): invalid at once, so that a burst treats it like any other
// broken chain.
class UnreadableChainWalker {
public:
    WalkStep next(DescBuffer*) { return WalkStep::kInvalid; }
    uint32_t descriptors_read() const { return 0; }
};

// Calls fn(uint8_t* host, uint32_t len) for each host-contiguous piece of
// guest-physical [gpa, gpa + len), in order; a buffer that spans adjacent
// regions comes out as several pieces.  Returns false, having called fn for
// the mapped prefix only, if some byte is not mapped.
template <typename Fn>
bool for_each_piece(const GuestMemory& memory, uint64_t gpa, uint32_t len, Fn&& fn) {
    while (len > 0) {
        HostPiece p = memory.gpa_piece(gpa, len);
        if (p.ptr == nullptr) {
            return false;
        }
        fn(p.ptr, static_cast<uint32_t>(p.len));
        gpa += p.len;   // Inside a region: gpa + size never overflows.
        len -= static_cast<uint32_t>(p.len);
    }
    return true;
}

}  // namespace nvh
