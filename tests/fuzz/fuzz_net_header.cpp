// SPDX-License-Identifier: Apache-2.0
// fuzz_net_header.cpp: the virtio-net header (virtio 1.2, 5.1.6) as a
// driver writes it on transmit (parse_net_header, accept_tx_header) and as
// the device writes it on receive (build_rx_header), and the RARP frame of
// VHOST_USER_SEND_RARP (build_rarp).
//
// Input (fuzz_input.h): u64 negotiated features, u32 frame length, 10
// header bytes, then u64 MAC; the offload of build_rx_header is the one
// accept_tx_header produced (or the raw one when it was refused).
#include <cstdint>
#include <cstring>

#include "device/announce.h"
#include "fuzz_input.h"
#include "net/net_header.h"
#include "base/virtio_spec.h"

namespace virtio = nvh::virtio;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    nvh::fuzz::FuzzInput in(data, size);
    const uint64_t features = in.u64();
    const uint32_t frame_len = in.u32();
    uint8_t hdr[12] = {};
    std::span<const uint8_t> raw = in.bytes(10);
    std::memcpy(hdr, raw.data(), raw.size());

    nvh_offload off = nvh::parse_net_header(hdr);
    const nvh_offload parsed = off;
    if (nvh::accept_tx_header(features, frame_len, &off)) {
        // An accepted checksum request stores its two bytes inside the
        // frame (virtio 1.2, 5.1.6.2.1) and needs VIRTIO_NET_F_CSUM.
        if (off.flags & virtio::kNetHdrFNeedsCsum) {
            if (!virtio::has(features, virtio::kNetFCsum) ||
                uint32_t{off.csum_start} + off.csum_offset + 2 > frame_len) {
                __builtin_trap();
            }
        }
        // A segmented frame needs its HOST_TSO feature and a size.
        if (off.gso_type != virtio::kNetHdrGsoNone &&
            (off.gso_size == 0 ||
             ((off.gso_type & ~virtio::kNetHdrGsoEcn) == virtio::kNetHdrGsoTcpv4 &&
              !virtio::has(features, virtio::kNetFHostTso4)))) {
            __builtin_trap();
        }
    } else {
        off = parsed;
    }

    uint8_t rx[12];
    std::memset(rx, 0xa5, sizeof rx);
    nvh::build_rx_header(features, off, rx);
    const nvh_offload back = nvh::parse_net_header(rx);
    // virtio 1.2, 5.1.6.4.1: checksum fields only with GUEST_CSUM.
    if (back.flags != 0 && !virtio::has(features, virtio::kNetFGuestCsum)) {
        __builtin_trap();
    }
    // Bytes past the 10 header bytes are not the builder's.
    if (rx[10] != 0xa5 || rx[11] != 0xa5) {
        __builtin_trap();
    }

    uint8_t frame[nvh::kRarpFrameLen + 1];
    frame[nvh::kRarpFrameLen] = 0x5a;
    nvh::build_rarp(in.u64(), frame);
    if (frame[nvh::kRarpFrameLen] != 0x5a || frame[12] != 0x80 || frame[13] != 0x35) {
        __builtin_trap();
    }
    return 0;
}
