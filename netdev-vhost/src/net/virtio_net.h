// SPDX-License-Identifier: Apache-2.0
// virtio_net.h: the virtio-net data path on one virtqueue (virtio 1.2, 5.1):
// frames in and out of guest buffers, with the virtio-net header.  One
// burst per direction, each written once for both ring types:
// transmit_burst.cpp (guest -> host) and receive_burst.cpp (host -> guest);
// docs/data-path.md walks through them.
#pragma once

#include <cstdint>

#include "netdev-vhost/nvh.h"
#include "ring/chain.h"
#include "ring/virtqueue.h"

namespace nvh {

// ---- Bounded work (docs/security.md, "Bounded work per burst") -----------
// Whatever the guest writes into its rings, and however it rewrites them
// while a burst runs, one burst:
//   - takes at most min(NVH_MAX_BURST, queue size) chains on transmit; on
//     receive, one packet takes at most kMaxPacketPieces buffers, and the
//     burst at most as many chains as the queue has slots, so a packed
//     driver that re-arms the slots it sees used cannot keep a burst going;
//   - ends at the first invalid receive chain (it is returned empty and
//     counted), as DPDK's vhost library does, instead of walking on;
//   - takes no new chain once it has read kBurstDescriptorBudget
//     descriptors.  One chain reads at most kMaxChainBuffers buffers plus
//     its indirect descriptor and, on a packed ring, as many ring slots
//     again to find its end (PackedChainWalker::skip_rest), so a burst
//     reads at most kBurstDescriptorBudget + kMaxChainDescriptorReads
//     descriptors.  A well-behaved virtio-net driver never comes near: 32
//     packets of at most MAX_SKB_FRAGS + 2 descriptors each.
inline constexpr uint64_t kMaxChainDescriptorReads = 2 * uint64_t{kMaxChainBuffers} + 2;
inline constexpr uint64_t kBurstDescriptorBudget = uint64_t{NVH_MAX_BURST} * (kMaxChainBuffers + 2);

// The burst functions run once per burst of up to 32 frames and call the
// ring walker, the address translation and the used-ring writes several
// times per frame; those live in other files, so the bursts are compiled
// with every call inlined (with link-time optimisation, across files too).
// On x86-64 each is compiled twice, for the baseline and for AVX2, and the
// dynamic loader picks the one the CPU runs (GCC target_clones, an ifunc):
// with AVX2 the copies move 32 bytes per instruction (small_copy.h), which
// a 64-byte frame's burst measurably gains from (docs/performance.md).
// Not under ThreadSanitizer: the loader runs the clones' resolver before
// TSan's runtime is set up, and the program crashes at start.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_THREAD__)
#define NVH_BURST_FUNCTION __attribute__((flatten, target_clones("avx2", "default")))
#else
#define NVH_BURST_FUNCTION __attribute__((flatten))
#endif

// The caller's hook for a transmitted frame larger than its packet slot
// (nvh_device_config.large_buffer), with the arguments it is called with.
// No hook (fn null): such frames are dropped as oversized.
struct LargeBufferHook {
    nvh_large_buffer_fn* fn = nullptr;
    void* aux = nullptr;
    uint32_t qp = 0;

    // Asks for a buffer of `len` bytes for `pkt`; true if pkt now holds one.
    bool get(nvh_packet& pkt, uint64_t len) const {
        if (fn == nullptr || len > UINT32_MAX) {
            return false;
        }
        const uint32_t want = static_cast<uint32_t>(len);
        // The hook is the caller's code: trust only a capacity it reports.
        return fn(aux, qp, &pkt, want) && pkt.data != nullptr && pkt.capacity >= want;
    }
};

// Guest -> host, from a transmitq.  Caller holds vq.access_lock() (try_lock)
// and has checked vq.ready().  Same contract as nvh_dequeue_burst, with
// `large` the device's large_buffer hook.
uint32_t net_dequeue_burst(Virtqueue& vq, nvh_packet* pkts, uint32_t n,
                           const LargeBufferHook& large = LargeBufferHook{});

// Host -> guest, into a receiveq.  Caller holds vq.access_lock() (try_lock)
// and has checked vq.ready().  Same contract as nvh_enqueue_burst.
uint32_t net_enqueue_burst(Virtqueue& vq, const nvh_packet* pkts, uint32_t n);

}  // namespace nvh
