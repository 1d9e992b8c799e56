// SPDX-License-Identifier: Apache-2.0
// announce.h: the frame a backend broadcasts for a guest whose frontend
// asks for it with VHOST_USER_SEND_RARP (vhost-user.rst): a RARP request
// (RFC 903) from the guest's MAC, so that switches learn where it is now.
#pragma once

#include <cstdint>

namespace nvh {

// Length of the frame: Ethernet header and RARP body (42 bytes), zero
// padded to the 60-byte Ethernet minimum (without FCS).
inline constexpr uint32_t kRarpFrameLen = 60;

// Writes the RARP request for `mac` (48 bits, first byte in the lowest
// eight bits, as SEND_RARP carries it) into out[0..kRarpFrameLen).
void build_rarp(uint64_t mac, uint8_t* out);

}  // namespace nvh
