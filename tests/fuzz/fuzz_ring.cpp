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

// One burst, with the queue's lock taken as a PMD takes it.
void dequeue(nvh::Virtqueue& vq, uint32_t n, uint32_t capacity) {
    nvh_packet pkts[NVH_MAX_BURST];
    for (uint32_t i = 0; i < n; i++) {
        pkts[i] = nvh_packet{};
        pkts[i].data = buffers().packet(i);
        pkts[i].capacity = capacity;
    }
    if (vq.access_lock().try_lock()) {
        if (vq.ready()) {
            uint32_t got = nvh::net_dequeue_burst(vq, pkts, n);
            for (uint32_t i = 0; i < got; i++) {
                // Every returned frame fits its buffer (nvh.h).
                if (pkts[i].len > pkts[i].capacity) {
                    __builtin_trap();
                }
            }
        }
        vq.access_lock().unlock();
    }
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
    if (vq.access_lock().try_lock()) {
        if (vq.ready()) {
            nvh::net_enqueue_burst(vq, pkts, n);
        }
        vq.access_lock().unlock();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FuzzInput in(data, size);
    const uint8_t config = in.u8();
    uint64_t features = 0;
    if (config & 0x01) features |= virtio::bit(virtio::kNetFMrgRxbuf);
    if (config & 0x02) features |= virtio::bit(virtio::kFIndirectDesc);
    if (config & 0x04) features |= virtio::bit(virtio::kFEventIdx);
    if (config & 0x08) features |= virtio::bit(virtio::kFVersion1);
    if (config & 0x10) features |= nvh::kOffloadFeatures;
    if (config & 0x20) features |= virtio::bit(virtio::kFInOrder);
    if (NVH_FUZZ_PACKED) features |= virtio::bit(virtio::kFRingPacked);
    const unsigned region_count = 1 + (config >> 6) % 3;
    const uint32_t num = 1u << (in.u8() % 9);

    GuestMemoryFixture mem;
    const uint64_t first_gpa = uint64_t{in.u16()} * 4096;
    uint64_t gpa = first_gpa;
    for (unsigned r = 0; r < region_count; r++) {
        uint64_t region_size = (uint64_t{in.u8()} % 16 + 1) * 4096;
        uint64_t gap = uint64_t{in.u8()} * 4096;
        mem.add_region(gpa, region_size);
        gpa += region_size + gap;
    }
    const uint64_t span = gpa - first_gpa + 4096;
    auto ring_addr = [&](uint32_t off) {
        return first_gpa + off % span + GuestMemoryFixture::kUvaOffset;
    };
    nvh::VringAddresses addresses;
    addresses.desc_user_addr = ring_addr(in.u32());
    addresses.avail_user_addr = ring_addr(in.u32());
    addresses.used_user_addr = ring_addr(in.u32());
    const uint32_t base = in.u32();
    std::span<const uint8_t> op_bytes = in.bytes(in.u8());

    // The rest of the input is the guest's memory, region after region.
    std::vector<nvh::MemoryRegionSpec> specs = mem.specs();
    for (const nvh::MemoryRegionSpec& spec : specs) {
        std::span<const uint8_t> image = in.bytes(spec.memory_size);
        if (!image.empty()) {
            mem.write(spec.guest_phys_addr, image);
        }
    }

    nvh::Result<nvh::GuestMemory> memory = mem.create_memory();
    if (!memory) {
        __builtin_trap();   // The fixture's tables are always valid.
    }
    nvh::Virtqueue vq;
    if (!vq.set_num(num)) {
        __builtin_trap();
    }
    vq.set_addresses(addresses);
    vq.set_base(base);
    nvh::UniqueFd call(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    vq.set_call_fd(std::move(call));
    vq.set_enabled(true);
    if (!vq.start(memory.value(), features)) {
        return 0;   // Rings not inside mapped memory: refused, nothing to walk.
    }

    FuzzInput ops(op_bytes.data(), op_bytes.size());
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
        case 4: {
            // The guest rewrites up to 16 bytes anywhere in its memory.
            const nvh::MemoryRegionSpec& spec = specs[ops.u8() % specs.size()];
            uint64_t off = ops.u16() % spec.memory_size;
            std::span<const uint8_t> bytes = ops.bytes(ops.u8() % 17);
            if (bytes.size() > spec.memory_size - off) {
                bytes = bytes.first(spec.memory_size - off);
            }
            if (!bytes.empty()) {
                mem.write(spec.guest_phys_addr + off, bytes);
            }
            break;
        }
        case 5:
            // A restart where the device stopped (GET_VRING_BASE, then
            // SET_VRING_BASE with the answer), as across a reconnect.
            vq.access_lock().lock();
            vq.stop();
            vq.set_base(vq.base());
            (void)vq.start(memory.value(), features);
            vq.access_lock().unlock();
            break;
        case 6:
            vq.access_lock().lock();
            vq.set_enabled(!vq.enabled());
            vq.access_lock().unlock();
            break;
        default:
            vq.access_lock().lock();
            (void)vq.publish_and_notify();
            vq.access_lock().unlock();
            break;
        }
    }
    vq.access_lock().lock();
    vq.reset();
    vq.access_lock().unlock();
    return 0;
}
