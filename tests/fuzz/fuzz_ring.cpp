// SPDX-License-Identifier: Apache-2.0
// fuzz_ring.cpp: the data path walking a split (or, built with
// NVH_FUZZ_PACKED=1, a packed) virtqueue whose guest memory is entirely
// chosen by the fuzzer: descriptors, avail/used rings and event areas,
// indirect tables, chains and buffers, over 1-3 regions that may be
// adjacent in guest-physical space.  Between bursts the input may rewrite
// guest memory, as a guest can at any time.
//
// Input (fuzz_input.h; make_corpus.py writes seeds in it):
//   u8  config: bit 0 MRG_RXBUF, 1 INDIRECT_DESC, 2 EVENT_IDX, 3 VERSION_1,
//       4 checksum/TSO offloads, 5 IN_ORDER, 6-7 region count - 1 (1..3)
//   u8  log2 of the queue size (mod 9: 1..256)
//   u16 first region's guest-physical page number
//   per region: u8 size in pages - 1 (mod 16), u8 gap in pages to the next
//   u32 x3  desc, avail (driver area), used (device area) offsets from the
//           first region's start (reduced modulo the span + 4096)
//   u32 base (SET_VRING_BASE value; packed: PackedBase encoding)
//   u8  op stream length, then that many bytes of ops (see run_ops)
//   the rest: guest memory, region 0 from its start, then region 1, ...
#include <sys/eventfd.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "frontend/guest_memory_fixture.h"
#include "fuzz_input.h"
#include "net/net_header.h"
#include "net/virtio_net.h"
#include "base/virtio_spec.h"
#include "ring/virtqueue.h"

#ifndef NVH_FUZZ_PACKED
#define NVH_FUZZ_PACKED 0
#endif

namespace {

using nvh::test::GuestMemoryFixture;
using nvh::fuzz::FuzzInput;
namespace virtio = nvh::virtio;

constexpr uint32_t kPacketCapacity = 65536 + 64;
constexpr uint32_t kMaxOps = 48;

// The host side's packet buffers (dequeue destination, enqueue source).
struct Buffers {
    Buffers() : storage(size_t{NVH_MAX_BURST} * kPacketCapacity) {
        for (size_t i = 0; i < storage.size(); i++) {
            storage[i] = static_cast<uint8_t>(i * 131 + 7);
        }
    }
    uint8_t* packet(uint32_t i) { return storage.data() + size_t{i} * kPacketCapacity; }
    std::vector<uint8_t> storage;
};

Buffers& buffers() {
    static Buffers b;
    return b;
}

// Runs `burst` if the queue's lock is free and the queue ready, as a PMD
// does (it skips a queue the control thread holds).
template <typename Burst>
void as_pmd(nvh::Virtqueue& vq, Burst burst) {
    if (vq.access_lock().try_lock()) {
        if (vq.ready()) {
            burst();
        }
        vq.access_lock().unlock();
    }
}

// Runs `change` with the queue's lock held, as the control thread does.
template <typename Change>
void as_control_thread(nvh::Virtqueue& vq, Change change) {
    vq.access_lock().lock();
    change();
    vq.access_lock().unlock();
}

// Every returned frame fits its buffer (nvh.h).
void check_dequeued(const nvh_packet* pkts, uint32_t got) {
    for (uint32_t i = 0; i < got; i++) {
        if (pkts[i].len > pkts[i].capacity) {
            __builtin_trap();
        }
    }
}

void dequeue(nvh::Virtqueue& vq, uint32_t n, uint32_t capacity) {
    nvh_packet pkts[NVH_MAX_BURST];
    for (uint32_t i = 0; i < n; i++) {
        pkts[i] = nvh_packet{};
        pkts[i].data = buffers().packet(i);
        pkts[i].capacity = capacity;
    }
    as_pmd(vq, [&] { check_dequeued(pkts, nvh::net_dequeue_burst(vq, pkts, n)); });
}

void enqueue(nvh::Virtqueue& vq, FuzzInput& ops, uint32_t n) {
    nvh_packet pkts[NVH_MAX_BURST];
    for (uint32_t i = 0; i < n; i++) {
        pkts[i] = nvh_packet{};
        pkts[i].data = buffers().packet(i);
        uint32_t len = ops.u8();
        // Mostly small frames, sometimes up to a TSO frame.
        pkts[i].len = (len & 0x80) ? (len & 0x7f) * 512u + 14 : len;
        pkts[i].offload.flags = ops.u8() & 0x3;
        pkts[i].offload.gso_type = ops.u8() & 0x7;
        pkts[i].offload.gso_size = ops.u8() * 8;
        pkts[i].offload.csum_start = ops.u8();
        pkts[i].offload.csum_offset = ops.u8() & 0x1f;
        pkts[i].offload.hdr_len = ops.u8();
    }
    as_pmd(vq, [&] { nvh::net_enqueue_burst(vq, pkts, n); });
}

// The guest rewrites up to 16 bytes anywhere in its memory.
void rewrite_guest_memory(GuestMemoryFixture& mem,
                          const std::vector<nvh::MemoryRegionSpec>& specs,
                          FuzzInput& ops) {
    const nvh::MemoryRegionSpec& spec = specs[ops.u8() % specs.size()];
    uint64_t off = ops.u16() % spec.memory_size;
    std::span<const uint8_t> bytes = ops.bytes(ops.u8() % 17);
    if (bytes.size() > spec.memory_size - off) {
        bytes = bytes.first(spec.memory_size - off);
    }
    if (!bytes.empty()) {
        mem.write(spec.guest_phys_addr + off, bytes);
    }
}

// The ring's fields of the input, before guest memory.
struct RingInput {
    uint64_t features = 0;
    uint32_t num = 0;
    nvh::VringAddresses addresses;
    uint32_t base = 0;
    std::span<const uint8_t> ops;
};

uint64_t features_of(uint8_t config) {
    uint64_t features = 0;
    if (config & 0x01) features |= virtio::bit(virtio::kNetFMrgRxbuf);
    if (config & 0x02) features |= virtio::bit(virtio::kFIndirectDesc);
    if (config & 0x04) features |= virtio::bit(virtio::kFEventIdx);
    if (config & 0x08) features |= virtio::bit(virtio::kFVersion1);
    if (config & 0x10) features |= nvh::kOffloadFeatures;
    if (config & 0x20) features |= virtio::bit(virtio::kFInOrder);
    if (NVH_FUZZ_PACKED) features |= virtio::bit(virtio::kFRingPacked);
    return features;
}

// Adds `count` regions from `first_gpa` on, each followed by its gap.
// Returns how many bytes of guest-physical space they span, gaps included.
uint64_t add_regions(FuzzInput& in, GuestMemoryFixture& mem, uint64_t first_gpa,
                     unsigned count) {
    uint64_t gpa = first_gpa;
    for (unsigned r = 0; r < count; r++) {
        uint64_t region_size = (uint64_t{in.u8()} % 16 + 1) * 4096;
        uint64_t gap = uint64_t{in.u8()} * 4096;
        mem.add_region(gpa, region_size);
        gpa += region_size + gap;
    }
    return gpa - first_gpa;
}

// Reads the fields before guest memory, adding the regions to `mem`.
RingInput decode_ring(FuzzInput& in, GuestMemoryFixture& mem) {
    RingInput ring;
    const uint8_t config = in.u8();
    ring.features = features_of(config);
    const unsigned region_count = 1 + (config >> 6) % 3;
    ring.num = 1u << (in.u8() % 9);
    const uint64_t first_gpa = uint64_t{in.u16()} * 4096;
    const uint64_t span = add_regions(in, mem, first_gpa, region_count) + 4096;
    auto ring_addr = [&](uint32_t off) {
        return first_gpa + off % span + GuestMemoryFixture::kUvaOffset;
    };
    ring.addresses.desc_user_addr = ring_addr(in.u32());
    ring.addresses.avail_user_addr = ring_addr(in.u32());
    ring.addresses.used_user_addr = ring_addr(in.u32());
    ring.base = in.u32();
    ring.ops = in.bytes(in.u8());
    return ring;
}

// The rest of the input is the guest's memory, region after region.
void fill_guest_memory(FuzzInput& in, GuestMemoryFixture& mem) {
    for (const nvh::MemoryRegionSpec& spec : mem.specs()) {
        std::span<const uint8_t> image = in.bytes(spec.memory_size);
        if (!image.empty()) {
            mem.write(spec.guest_phys_addr, image);
        }
    }
}

// Sets the queue up as the control thread does; false if its rings are not
// inside mapped memory (refused, nothing to walk).
bool start_ring(nvh::Virtqueue& vq, const nvh::GuestMemory& memory,
                const RingInput& ring) {
    if (!vq.set_num(ring.num)) {
        __builtin_trap();
    }
    vq.set_addresses(ring.addresses);
    vq.set_base(ring.base);
    vq.set_call_fd(nvh::UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)));
    vq.set_enabled(true);
    return static_cast<bool>(vq.start(memory, ring.features));
}

// Runs the op stream: bursts either way, guest writes, restarts, enable
// changes and publications, at most kMaxOps of them.
void run_ops(nvh::Virtqueue& vq, GuestMemoryFixture& mem,
             const nvh::GuestMemory& memory, const RingInput& ring) {
    const std::vector<nvh::MemoryRegionSpec> specs = mem.specs();
    FuzzInput ops(ring.ops.data(), ring.ops.size());
    for (uint32_t i = 0; i < kMaxOps && !ops.empty(); i++) {
        const uint8_t op = ops.u8();
        const uint32_t n = 1 + (op >> 3) % NVH_MAX_BURST;
        switch (op & 0x7) {
        case 0:
        case 1:
            dequeue(vq, n, (op & 1) ? kPacketCapacity : 64 + ops.u8() * 16u);
            break;
        case 2:
        case 3:
            enqueue(vq, ops, n);
            break;
        case 4:
            rewrite_guest_memory(mem, specs, ops);
            break;
        case 5:
            // A restart where the device stopped (GET_VRING_BASE, then
            // SET_VRING_BASE with the answer), as across a reconnect.
            as_control_thread(vq, [&] {
                vq.stop();
                vq.set_base(vq.base());
                (void)vq.start(memory, ring.features);
            });
            break;
        case 6:
            as_control_thread(vq, [&] { vq.set_enabled(!vq.enabled()); });
            break;
        default:
            as_control_thread(vq, [&] { (void)vq.publish_and_notify(); });
            break;
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FuzzInput in(data, size);
    GuestMemoryFixture mem;
    const RingInput ring = decode_ring(in, mem);
    fill_guest_memory(in, mem);

    nvh::Result<nvh::GuestMemory> memory = mem.create_memory();
    if (!memory) {
        __builtin_trap();   // The fixture's tables are always valid.
    }
    nvh::Virtqueue vq;
    if (!start_ring(vq, memory.value(), ring)) {
        return 0;
    }
    run_ops(vq, mem, memory.value(), ring);
    as_control_thread(vq, [&] { vq.reset(); });
    return 0;
}
