// SPDX-License-Identifier: Apache-2.0
// announce.cpp: see announce.h.
#include "device/announce.h"

#include <cstring>

namespace nvh {

void build_rarp(uint64_t mac, uint8_t* out) {
    uint8_t addr[6];
    for (int i = 0; i < 6; i++) {
        addr[i] = static_cast<uint8_t>(mac >> (8 * i));
    }
    std::memset(out, 0, kRarpFrameLen);
    // Ethernet: broadcast destination, the guest as source, type RARP.
    std::memset(out, 0xff, 6);
    std::memcpy(out + 6, addr, 6);
    out[12] = 0x80;
    out[13] = 0x35;
    // RFC 903: hardware type Ethernet (1), protocol IPv4 (0x0800), address
    // lengths 6 and 4, opcode 3 (request reverse); sender and target
    // hardware addresses are the guest's, protocol addresses unknown (0).
    uint8_t* arp = out + 14;
    arp[1] = 1;
    arp[2] = 0x08;
    arp[4] = 6;
    arp[5] = 4;
    arp[7] = 3;
    std::memcpy(arp + 8, addr, 6);
    std::memcpy(arp + 18, addr, 6);
}

}  // namespace nvh
