// SPDX-License-Identifier: Apache-2.0
// packed_ring.h: the device side of a packed virtqueue (virtio 1.2, 2.8):
// descriptor availability by wrap counter, chain walking (NEXT and
// indirect), used descriptor writes and event suppression.
//
// The ring lives in guest memory that the driver may rewrite at any time.
// Every descriptor is read exactly once into a local value and checked
// before use.  Single-threaded: the caller holds the queue's AccessLock.
#pragma once

#include <cstdint>

#include "memory/dirty_log.h"
#include "memory/guest_memory.h"
#include "base/prefetch.h"
#include "ring/attached_ring.h"
#include "ring/chain.h"
#include "base/virtio_spec.h"

namespace nvh {

// Event suppression flags (virtio 1.2, 2.8.10, struct pvirtq_event_suppress).
inline constexpr uint16_t kPackedEventDisable = 1;
inline constexpr uint16_t kPackedEventDesc = 2;

// Byte sizes of the packed ring areas (virtio 1.2, 2.8.10 and 2.8.13).
constexpr uint64_t packed_desc_bytes(uint32_t num) { return uint64_t{16} * num; }
inline constexpr uint64_t kPackedEventBytes = 4;

// vhost-user ring base for packed rings (vhost-user.rst, "Vring descriptor
// indices for packed virtqueues"): bits 0-14 the next avail index, bit 15
// the driver (avail) wrap counter, bits 16-30 the next used index, bit 31 the
// device (used) wrap counter.
struct PackedBase {
    uint16_t avail_idx;
    bool avail_wrap;
    uint16_t used_idx;
    bool used_wrap;

    static PackedBase decode(uint32_t num) {
        return {static_cast<uint16_t>(num & 0x7fff), (num & 0x8000) != 0,
                static_cast<uint16_t>((num >> 16) & 0x7fff), (num & 0x80000000u) != 0};
    }
    uint32_t encode() const {
        return uint32_t{avail_idx} | (uint32_t{avail_wrap} << 15) |
               (uint32_t{used_idx} << 16) | (uint32_t{used_wrap} << 31);
    }
};

class PackedRing : public AttachedRing {
public:
    // A position in the descriptor ring with its wrap counter.
    struct Cursor {
        uint16_t idx = 0;
        bool wrap = true;   // virtio 1.2, 2.8.1: both counters start at 1.
    };

    // `desc` is the descriptor ring, `driver_event` / `device_event` the
    // event suppression areas (host addresses, checked by the caller), `num`
    // the queue size, `base` where the device resumes.  Every write to the
    // descriptor ring and the device event area is recorded in `log` (which
    // outlives the attachment; inactive unless the frontend asked for dirty
    // logging).
    void attach(const GuestMemory* memory, uint32_t num, uint8_t* desc,
                uint8_t* driver_event, uint8_t* device_event, PackedBase base,
                uint64_t features, const WriteLog* log);
    void detach();

    uint8_t* desc_host() const { return desc_; }

    Cursor avail_cursor() const { return avail_; }
    void restore_avail(Cursor c) { avail_ = c; }
    // The ring base for GET_VRING_BASE.
    PackedBase base() const { return {avail_.idx, avail_.wrap, used_.idx, used_.wrap}; }

    // Whether the descriptor at the avail cursor is available: its AVAIL
    // flag equals the driver wrap counter and its USED flag does not
    // (virtio 1.2, 2.8.1).  One acquire load of its flags, so the rest of the
    // chain the driver wrote before is visible (2.8.21.3).
    bool head_available() const;

    // The common case of a busy queue in one step, as DPDK's batch path: if
    // the avail cursor is at a multiple of 4, at least 4 slots before the
    // end of the ring, and those 4 slots each hold an available chain of one
    // descriptor (neither NEXT nor INDIRECT) with a buffer id below the
    // queue size, reads them (each descriptor once, its flags with acquire),
    // moves the avail cursor past them and returns true.  Otherwise changes
    // nothing: the caller walks the chains one by one, with every check of
    // PackedChainWalker.
    bool take_batch(ChainBatch* batch);

    // Hints the ring lines of the `count` descriptors from the avail
    // cursor on: a burst's chains sit in consecutive slots, and without the
    // hint each chain's first load would wait for the driver's CPU in turn.
    // `write`: the burst writes them back as used descriptors, so the lines
    // are asked for in the state that allows it (one transfer from the
    // driver's CPU instead of a read and then an upgrade).  Call once the
    // first of them is available (the queue is busy: the driver is past
    // them, or about to be).
    void prefetch_descs(uint32_t count, bool write) const {
        for (uint32_t i = 0; i < count; i += kCacheLine / 16) {
            const uint8_t* line = desc_ + 16 * size_t((avail_.idx + i) % num_);
            if (write) {
                prefetch_for_write(line);
            } else {
                prefetch_for_read(line);
            }
        }
    }

    // Host address of descriptor `idx` of the ring.
    const uint8_t* desc_at(uint16_t idx) const { return desc_ + 16 * size_t(idx); }
    // Moves the avail cursor past `n` ring descriptors (a walked chain).
    void advance_avail(uint16_t n) { advance(&avail_, n); }

    // Writes the used descriptor for buffer `id`, whose chain took `count`
    // ring descriptors, with `len` bytes written (virtio 1.2, 2.8.4): at the
    // used cursor, which then moves by `count`.  The first one of a batch
    // stays invisible until publish_used().
    void put_used(uint16_t id, uint32_t len, uint16_t count);
    // With VIRTIO_F_IN_ORDER, for buffers the device only read (len 0): the
    // batch's one used descriptor, at its first position, names its last
    // buffer; the used position still moves past every chain (virtio 1.2,
    // "Packed Virtqueues / In-order use of descriptors": the skipped buffers
    // count as used).  The driver's cache lines of the other slots stay
    // untouched.
    void put_used_in_order(uint16_t id, uint16_t count);
    uint16_t pending_used() const { return pending_; }
    // Makes the batch visible: the flags of its first used descriptor are
    // stored last, with release (the driver reads used descriptors in ring
    // order, so it sees the whole batch at once, virtio 1.2, 2.8.21.2).
    // Returns how many used descriptors were published.
    uint16_t publish_used();
    // Whether the driver asked for an interrupt for the batch published last
    // (virtio 1.2, 2.8.10 and 2.8.21.3.2 / 2.8.22).
    bool driver_wants_interrupt() const;

private:
    void advance(Cursor* c, uint16_t n) const {
        uint32_t i = uint32_t{c->idx} + n;
        if (i >= num_) {
            i -= num_;
            c->wrap = !c->wrap;
        }
        c->idx = static_cast<uint16_t>(i);
    }

    uint8_t* desc_ = nullptr;
    uint8_t* driver_event_ = nullptr;
    uint8_t* device_event_ = nullptr;
    Cursor avail_;
    Cursor used_;
    // The batch being written: its first descriptor and that one's flags.
    Cursor batch_start_;
    uint16_t batch_flags_ = 0;
    uint16_t pending_ = 0;
    // Used positions before and after the last published batch.
    Cursor published_from_;
    Cursor published_to_;
};

// Walks the chain at the ring's avail cursor (which head_available() said
// is available): the ring descriptors linked by NEXT, or one descriptor
// pointing at an indirect table (virtio 1.2, 2.8.6 and 2.8.8).  Each ring
// descriptor is read once.  After kEnd, or after skip_rest() returned true,
// id() and ring_descs() describe the chain and commit() moves the avail
// cursor past it.
class PackedChainWalker {
public:
    // The bound of chain.h, on every chain.
    static constexpr uint32_t kMaxChainBuffers = nvh::kMaxChainBuffers;

    explicit PackedChainWalker(PackedRing& ring) : ring_(ring), idx_(ring.avail_cursor().idx) {}

    WalkStep next(DescBuffer* out);
    // The caller stops using the chain (it broke a buffer rule): reads the
    // rest of its ring descriptors, to learn its id and extent.  False if
    // the chain structure itself is broken (then the ring is unusable).
    bool skip_rest();
    // Moves the ring's avail cursor past the chain.
    void commit() { ring_.advance_avail(ring_descs_); }

    uint16_t id() const { return id_; }
    uint16_t ring_descs() const { return ring_descs_; }
    const char* error() const { return error_; }
    uint32_t descriptors_read() const { return reads_; }

private:
    WalkStep fail(const char* why, bool structural) {
        error_ = why;
        structure_broken_ = structure_broken_ || structural;
        done_ = true;
        return WalkStep::kInvalid;
    }
    bool fail_step(const char* why) {
        fail(why, false);
        return false;
    }
    WalkStep next_in_table(DescBuffer* out);
    bool enter_indirect(const virtio::PackedDesc& d);

    PackedRing& ring_;
    uint32_t idx_;                 // Next ring descriptor to read.
    const uint8_t* table_ = nullptr;   // Indirect table, while in one.
    uint32_t table_size_ = 0;
    uint32_t table_pos_ = 0;
    uint32_t buffers_left_ = kMaxChainBuffers;
    uint32_t reads_ = 0;
    uint16_t ring_descs_ = 0;      // Ring descriptors of the chain read.
    uint16_t id_ = 0;
    bool ring_done_ = false;       // Last ring descriptor (no NEXT) read.
    bool done_ = false;
    bool structure_broken_ = false;
    const char* error_ = "";
};

}  // namespace nvh
