// SPDX-License-Identifier: Apache-2.0
// split_ring.h: the device side of a split virtqueue (virtio 1.2, 2.7):
// avail index snapshots, descriptor chain walking, used ring writes.
//
// The ring lives in guest memory that the driver may rewrite at any time.
// Every index, ring entry and descriptor is read exactly once into a local
// value (atomic_ref loads) and checked before use; nothing here trusts the
// guest to be consistent between two reads.
//
// Single-threaded: the caller holds the queue's AccessLock.
#pragma once

#include <atomic>
#include <cstdint>

#include "memory/dirty_log.h"
#include "ring/attached_ring.h"
#include "ring/chain.h"
#include "memory/guest_memory.h"
#include "base/prefetch.h"
#include "base/virtio_spec.h"

namespace nvh {

class SplitRing : public AttachedRing {
public:
    // Makes the ring usable: `desc`, `avail`, `used` are host addresses of
    // the three parts (already translated and alignment-checked), `num` the
    // queue size (a power of two), `base` the first avail index to read and
    // the first used index to write (VHOST_USER_SET_VRING_BASE),
    // `features` the negotiated virtio features (EVENT_IDX, INDIRECT_DESC).
    // Every write to the used ring is recorded in `log` (which outlives the
    // attachment; inactive unless the frontend asked for dirty logging).
    void attach(const GuestMemory* memory, uint32_t num, uint8_t* desc,
                uint8_t* avail, uint8_t* used, uint16_t base,
                uint64_t features, const WriteLog* log);
    void detach();

    uint16_t last_avail_idx() const { return last_avail_idx_; }
    uint16_t last_used_idx() const { return last_used_idx_; }
    uint8_t* desc_host() const { return desc_; }
    uint8_t* avail_host() const { return avail_; }
    uint8_t* used_host() const { return used_; }

    // Snapshot of avail->idx (one acquire load, so ring entries and
    // descriptors written before it are visible).  Returns how many chains
    // are available past last_avail_idx.  A jump of more than the queue size
    // marks the ring broken and returns 0.  With EVENT_IDX, also keeps
    // avail_event behind the driver (see quiet_driver()).
    uint16_t avail_count();

    // Hints the cache lines that chains [first, first + count) past
    // last_avail_idx touch: the used entries they will be returned in (for
    // writing, so that the stores and the fence before
    // driver_wants_interrupt() do not wait for the driver's CPU) and their
    // first descriptors (for reading).  The avail entries are read here
    // only to aim the hints at the descriptor table (masked into it);
    // take_head() reads them again, and only that value is ever used.  So
    // it may run before avail_count(), for entries the driver has not made
    // available yet: a stale entry only wastes a hint.
    void prefetch_burst(uint16_t first, uint16_t count) const;

    // Before avail_count(): hints avail->idx and prefetch_burst(0, count),
    // so that the miss on the index, which the driver's CPU has just
    // written, overlaps the misses on the lines the burst reads next
    // instead of coming before them.
    void prefetch_next_burst(uint16_t count) const;

    // Chains the last transmit burst took: the guess for the next one's
    // prefetch_next_burst() (0 after attach(): an idle queue hints nothing).
    uint16_t last_burst() const { return last_burst_; }
    void set_last_burst(uint16_t n) { last_burst_ = n; }

    // Reads the next avail ring entry (once) and advances last_avail_idx.
    // The caller has seen it in avail_count().
    uint16_t take_head();
    // Reads the descriptor at `head` (< num()) once, e.g. to see whether
    // its chain is a single direct buffer (is_single_buffer).
    virtio::SplitDesc head_desc(uint16_t head) const;
    // Whether a chain whose head descriptor is `d` is that one buffer
    // (neither NEXT nor INDIRECT): then SingleBufferWalker walks it.
    static bool is_single_buffer(const virtio::SplitDesc& d) {
        return (d.flags & (virtio::kDescFNext | virtio::kDescFIndirect)) == 0;
    }
    static DescBuffer buffer_of(const virtio::SplitDesc& d) {
        return {d.addr, d.len, (d.flags & virtio::kDescFWrite) != 0};
    }

    // The next kSize avail entries at once, when each names a head below
    // the queue size whose descriptor is one direct buffer (neither NEXT nor
    // INDIRECT): reads each entry and descriptor once, advances
    // last_avail_idx past them and returns true.  Otherwise changes nothing:
    // the caller takes the heads one by one, with every check.  The caller
    // has seen at least kSize chains in avail_count().
    bool take_batch(ChainBatch* batch);

    // Gives back the last `n` heads taken (their chains were not used).
    void untake_heads(uint16_t n) { last_avail_idx_ -= n; }
    // Gives back every head taken since last_avail_idx() was `idx`.
    void rewind_avail(uint16_t idx) { last_avail_idx_ = idx; }

    // Writes a used element into the next free slot, invisible to the driver
    // until publish_used().  At most num() per publish.
    void put_used(uint32_t id, uint32_t len);
    uint16_t pending_used() const { return pending_used_; }
    // Makes the pending used elements visible: one release store of
    // used->idx after all of them.  Returns how many were published.
    uint16_t publish_used();

    // After publish_used() moved used->idx from old_idx to new_idx: whether
    // the driver asked to be interrupted (virtio 1.2, 2.7.7).
    bool driver_wants_interrupt(uint16_t old_idx, uint16_t new_idx) const;

    // virtio 1.2, 2.7.10 with EVENT_IDX: the driver notifies (kicks) when
    // avail->idx moves past avail_event, and ignores VIRTQ_USED_F_NO_NOTIFY.
    // The data path polls and never wants a kick, so avail_event is kept
    // at last_avail_idx - 1: the driver's index is at or ahead of
    // last_avail_idx and at most a queue size (32768) ahead, so moving it
    // never crosses avail_event.  The store is repeated only every
    // kQuietRefresh consumed entries: with avail_event = L0 - 1, the driver
    // stays quiet while its index is less than 65535 past L0, and it is at
    // most kQuietRefresh + 32768 past.  (DPDK's vhost library, with
    // notifications disabled, leaves avail_event stale and takes a kick
    // every 65536 entries instead.)
    static constexpr uint16_t kQuietRefresh = 0x4000;
    void quiet_driver();
    uint16_t avail_event() const;   // For tests: the value in guest memory.

    // used->flags (VIRTQ_USED_F_NO_NOTIFY).
    void set_used_flags(uint16_t flags);

private:
    friend class ChainWalker;

    // Writes a used-ring field and records it in the dirty log.
    void store_used16(size_t offset, uint16_t v, std::memory_order order);

    uint8_t* desc_ = nullptr;
    uint8_t* avail_ = nullptr;
    uint8_t* used_ = nullptr;
    uint16_t last_avail_idx_ = 0;
    uint16_t last_used_idx_ = 0;     // Published used->idx.
    uint16_t pending_used_ = 0;      // Written past last_used_idx_.
    uint16_t avail_event_ = 0;       // Last avail_event written.
    uint16_t last_burst_ = 0;        // See last_burst().
};

// Walks one descriptor chain, direct or through an indirect table, yielding
// each buffer once.  Bounded: at most kMaxChainBuffers buffers per chain and
// at most queue-size descriptors per table, so a long chain or a loop ends as
// an invalid chain instead of costing up to 2 x 32768 descriptor reads.
class ChainWalker {
public:
    // Buffers (direct plus indirect descriptors; the descriptor that points
    // at an indirect table is not a buffer) one chain may have.  virtio 1.2,
    // 2.7.5.3.1 allows chains as long as the queue (up to 32768), but no
    // virtio-net driver needs that many: Linux virtio_net never uses more
    // than MAX_SKB_FRAGS + 2 descriptors per packet, and DPDK's vhost library
    // refuses chains longer than BUF_VECTOR_MAX (256) the same way.
    static constexpr uint32_t kMaxChainBuffers = nvh::kMaxChainBuffers;

    ChainWalker(const SplitRing& ring, uint16_t head);
    // The same, with the head descriptor already read (head_desc()): the
    // walk starts from that copy and does not read it again.
    ChainWalker(const SplitRing& ring, uint16_t head, const virtio::SplitDesc& first);

    // kBuffer: *out holds the next buffer.  kEnd: the chain is over.
    // kInvalid: the chain broke a rule (error() names it); stop using it.
    WalkStep next(DescBuffer* out);
    const char* error() const { return error_; }
    // Descriptors read from guest memory so far, including the ones that
    // point at indirect tables (the cost of the walk).
    uint32_t descriptors_read() const { return reads_; }

private:
    WalkStep fail(const char* why) {
        error_ = why;
        done_ = true;
        return WalkStep::kInvalid;
    }
    bool fail_step(const char* why) {
        fail(why);
        return false;
    }
    bool enter_indirect(const virtio::SplitDesc& d);

    const SplitRing& ring_;
    virtio::SplitDesc first_{};
    bool have_first_ = false;
    const uint8_t* table_;
    uint32_t table_size_;
    uint32_t idx_;
    uint32_t ttl_;
    uint32_t buffers_left_ = kMaxChainBuffers;
    uint32_t reads_ = 0;
    bool indirect_ = false;
    bool done_ = false;
    const char* error_ = "";
};

}  // namespace nvh
