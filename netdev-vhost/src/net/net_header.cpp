// SPDX-License-Identifier: Apache-2.0
// net_header.cpp: see net_header.h.
#include "net/net_header.h"

namespace nvh {
namespace {

using virtio::has;

constexpr uint8_t kNetHdrFRscInfo = 4;      // VIRTIO_NET_HDR_F_RSC_INFO
constexpr uint8_t kNetHdrGsoUdpL4 = 5;      // VIRTIO_NET_HDR_GSO_UDP_L4

uint16_t le16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }

void put_le16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v);
    p[1] = static_cast<uint8_t>(v >> 8);
}

// Whether `gso_type` (without the ECN bit) may be sent to a device that
// negotiated `features` (virtio 1.2, 5.1.6.2.1: each GSO type only with its
// HOST_* feature; unknown types never).
bool tx_gso_type_negotiated(uint64_t features, uint8_t gso_type) {
    switch (gso_type) {
    case virtio::kNetHdrGsoNone:
        return true;
    case virtio::kNetHdrGsoTcpv4:
        return has(features, virtio::kNetFHostTso4);
    case virtio::kNetHdrGsoTcpv6:
        return has(features, virtio::kNetFHostTso6);
    case virtio::kNetHdrGsoUdp:
        return has(features, virtio::kNetFHostUfo);
    case kNetHdrGsoUdpL4:
        return has(features, virtio::kNetFHostUso);
    default:
        return false;
    }
}

}  // namespace

nvh_offload parse_net_header(const uint8_t* hdr) {
    nvh_offload off{};
    off.flags = hdr[0];
    off.gso_type = hdr[1];
    off.hdr_len = le16(hdr + 2);
    off.gso_size = le16(hdr + 4);
    off.csum_start = le16(hdr + 6);
    off.csum_offset = le16(hdr + 8);
    return off;
}

bool accept_tx_header(uint64_t features, uint32_t frame_len, nvh_offload* off) {
    // virtio 1.2, 5.1.6.2.2: the device MUST ignore flag bits it does not
    // recognise.
    const uint8_t known = virtio::kNetHdrFNeedsCsum | virtio::kNetHdrFDataValid |
                          kNetHdrFRscInfo;
    const uint8_t flags = off->flags & known;
    // virtio 1.2, 5.1.6.2.1: the driver MUST NOT set DATA_VALID or RSC_INFO.
    if ((flags & (virtio::kNetHdrFDataValid | kNetHdrFRscInfo)) != 0) {
        return false;
    }
    const bool needs_csum = (flags & virtio::kNetHdrFNeedsCsum) != 0;
    // virtio 1.2, 5.1.6.2.1: without VIRTIO_NET_F_CSUM the driver MUST set
    // flags to zero.
    if (needs_csum && !has(features, virtio::kNetFCsum)) {
        return false;
    }
    // virtio 1.2, 5.1.6.2.1: csum_start and csum_offset name where the
    // checksum is stored, csum_offset bytes after csum_start: those two
    // bytes must be inside the frame, or the device would write past it.
    if (needs_csum &&
        uint32_t{off->csum_start} + off->csum_offset + 2 > frame_len) {
        return false;
    }
    // virtio 1.2, 5.1.6.2.1: the ECN bit only with VIRTIO_NET_F_HOST_ECN.
    if ((off->gso_type & virtio::kNetHdrGsoEcn) != 0 &&
        !has(features, virtio::kNetFHostEcn)) {
        return false;
    }
    const uint8_t gso = off->gso_type & ~virtio::kNetHdrGsoEcn;
    // virtio 1.2, 5.1.6.2.1: a GSO type only with its HOST_* feature
    // (GSO_NONE when none is negotiated).
    if (!tx_gso_type_negotiated(features, gso)) {
        return false;
    }
    if (gso != virtio::kNetHdrGsoNone) {
        // virtio 1.2, 5.1.6.2.1: with a GSO type the driver MUST also set
        // NEEDS_CSUM and MUST set gso_size to the MSS.
        if (!needs_csum || off->gso_size == 0) {
            return false;
        }
    } else {
        // Unused without GSO; hdr_len is only a hint (5.1.6.2.2).  The ECN
        // bit qualifies a segmented TCP frame only (5.1.6.2.1).
        off->gso_type = virtio::kNetHdrGsoNone;
        off->hdr_len = 0;
        off->gso_size = 0;
    }
    off->flags = flags;
    if (!needs_csum) {
        // virtio 1.2, 5.1.6.2.2: without NEEDS_CSUM the device MUST NOT use
        // csum_start and csum_offset.
        off->csum_start = 0;
        off->csum_offset = 0;
    }
    return true;
}

void build_rx_header(uint64_t features, const nvh_offload& off, uint8_t* hdr) {
    uint8_t flags = 0;
    uint8_t gso_type = virtio::kNetHdrGsoNone;
    uint16_t hdr_len = 0, gso_size = 0, csum_start = 0, csum_offset = 0;
    // virtio 1.2, 5.1.6.4.1: without VIRTIO_NET_F_GUEST_CSUM the device
    // MUST set flags to zero.
    if (has(features, virtio::kNetFGuestCsum)) {
        if ((off.flags & virtio::kNetHdrFNeedsCsum) != 0) {
            flags = virtio::kNetHdrFNeedsCsum;
            csum_start = off.csum_start;
            csum_offset = off.csum_offset;
        } else if ((off.flags & virtio::kNetHdrFDataValid) != 0) {
            flags = virtio::kNetHdrFDataValid;
        }
    }
    // virtio 1.2, 5.1.6.4.1: a GSO type only with its GUEST_* feature, and
    // then the device MUST also set NEEDS_CSUM and gso_size.  ECN and UDP
    // types are never negotiated here.
    const uint8_t gso = off.gso_type;
    const bool gso_ok =
        (gso == virtio::kNetHdrGsoTcpv4 && has(features, virtio::kNetFGuestTso4)) ||
        (gso == virtio::kNetHdrGsoTcpv6 && has(features, virtio::kNetFGuestTso6));
    if (gso_ok && flags == virtio::kNetHdrFNeedsCsum && off.gso_size != 0) {
        gso_type = gso;
        gso_size = off.gso_size;
        hdr_len = off.hdr_len;
    }
    hdr[0] = flags;
    hdr[1] = gso_type;
    put_le16(hdr + 2, hdr_len);
    put_le16(hdr + 4, gso_size);
    put_le16(hdr + 6, csum_start);
    put_le16(hdr + 8, csum_offset);
}

}  // namespace nvh
