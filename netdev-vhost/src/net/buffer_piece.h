// SPDX-License-Identifier: Apache-2.0
// buffer_piece.h: host pieces of guest buffers, as the bursts record them between
// walking the chains and copying.
#pragma once

#include <cstdint>

namespace nvh {
namespace net {

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

}  // namespace net
}  // namespace nvh
