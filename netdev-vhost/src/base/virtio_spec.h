// SPDX-License-Identifier: Apache-2.0
// virtio_spec.h: constants and ring layouts from the virtio 1.2 spec and
// the vhost protocol that the core implements.  Layout structs describe guest
// memory: read them field by field, once, into local copies.
#pragma once

#include <cstdint>

namespace nvh::virtio {

// ---- Feature bits (virtio 1.2, 6 "Reserved Feature Bits", 5.1.3) ---------
inline constexpr unsigned kNetFCsum = 0;            // VIRTIO_NET_F_CSUM
inline constexpr unsigned kNetFGuestCsum = 1;       // VIRTIO_NET_F_GUEST_CSUM
inline constexpr unsigned kNetFMtu = 3;             // VIRTIO_NET_F_MTU
inline constexpr unsigned kNetFMac = 5;             // VIRTIO_NET_F_MAC
inline constexpr unsigned kNetFGuestTso4 = 7;
inline constexpr unsigned kNetFGuestTso6 = 8;
inline constexpr unsigned kNetFGuestEcn = 9;
inline constexpr unsigned kNetFGuestUfo = 10;
inline constexpr unsigned kNetFHostTso4 = 11;
inline constexpr unsigned kNetFHostTso6 = 12;
inline constexpr unsigned kNetFHostEcn = 13;
inline constexpr unsigned kNetFHostUfo = 14;
inline constexpr unsigned kNetFHostUso = 56;     // VIRTIO_NET_F_HOST_USO
inline constexpr unsigned kNetFMrgRxbuf = 15;       // VIRTIO_NET_F_MRG_RXBUF
inline constexpr unsigned kNetFStatus = 16;
inline constexpr unsigned kNetFCtrlVq = 17;
inline constexpr unsigned kNetFCtrlRx = 18;
inline constexpr unsigned kNetFCtrlVlan = 19;
inline constexpr unsigned kNetFGuestAnnounce = 21;
inline constexpr unsigned kNetFMq = 22;
inline constexpr unsigned kFNotifyOnEmpty = 24;     // VIRTIO_F_NOTIFY_ON_EMPTY
inline constexpr unsigned kFAnyLayout = 27;         // VIRTIO_F_ANY_LAYOUT
inline constexpr unsigned kFIndirectDesc = 28;      // VIRTIO_F_INDIRECT_DESC
inline constexpr unsigned kFEventIdx = 29;          // VIRTIO_F_EVENT_IDX
inline constexpr unsigned kFProtocolFeatures = 30;  // VHOST_USER_F_PROTOCOL_FEATURES
inline constexpr unsigned kFLogAll = 26;            // VHOST_F_LOG_ALL
inline constexpr unsigned kFVersion1 = 32;          // VIRTIO_F_VERSION_1
inline constexpr unsigned kFAccessPlatform = 33;    // VIRTIO_F_ACCESS_PLATFORM
inline constexpr unsigned kFRingPacked = 34;        // VIRTIO_F_RING_PACKED
inline constexpr unsigned kFInOrder = 35;           // VIRTIO_F_IN_ORDER

constexpr uint64_t bit(unsigned b) { return uint64_t{1} << b; }
constexpr bool has(uint64_t features, unsigned b) { return (features & bit(b)) != 0; }

// ---- Split virtqueue (virtio 1.2, 2.7) -----------------------------------
inline constexpr uint16_t kDescFNext = 1;       // VIRTQ_DESC_F_NEXT
inline constexpr uint16_t kDescFWrite = 2;      // VIRTQ_DESC_F_WRITE
inline constexpr uint16_t kDescFIndirect = 4;   // VIRTQ_DESC_F_INDIRECT

inline constexpr uint16_t kAvailFNoInterrupt = 1;   // VIRTQ_AVAIL_F_NO_INTERRUPT
inline constexpr uint16_t kUsedFNoNotify = 1;       // VIRTQ_USED_F_NO_NOTIFY

struct SplitDesc {          // struct virtq_desc, 16 bytes
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
static_assert(sizeof(SplitDesc) == 16);

struct SplitUsedElem {      // struct virtq_used_elem, 8 bytes
    uint32_t id;
    uint32_t len;
};
static_assert(sizeof(SplitUsedElem) == 8);

// Byte sizes of the three parts of a split ring of `num` entries
// (virtio 1.2, 2.7, "Queue Size"), including used_event/avail_event.
constexpr uint64_t split_desc_bytes(uint32_t num) { return uint64_t{16} * num; }
constexpr uint64_t split_avail_bytes(uint32_t num) { return 4 + uint64_t{2} * num + 2; }
constexpr uint64_t split_used_bytes(uint32_t num) { return 4 + uint64_t{8} * num + 2; }

// ---- Packed virtqueue (virtio 1.2, 2.8) ----------------------------------
inline constexpr uint16_t kPackedDescFAvail = 1 << 7;
inline constexpr uint16_t kPackedDescFUsed = 1 << 15;

struct PackedDesc {         // struct pvirtq_desc, 16 bytes
    uint64_t addr;
    uint32_t len;
    uint16_t id;
    uint16_t flags;
};
static_assert(sizeof(PackedDesc) == 16);

// ---- virtio-net header (virtio 1.2, 5.1.6) -------------------------------
inline constexpr uint8_t kNetHdrFNeedsCsum = 1;
inline constexpr uint8_t kNetHdrFDataValid = 2;
inline constexpr uint8_t kNetHdrGsoNone = 0;
inline constexpr uint8_t kNetHdrGsoTcpv4 = 1;
inline constexpr uint8_t kNetHdrGsoUdp = 3;
inline constexpr uint8_t kNetHdrGsoTcpv6 = 4;
inline constexpr uint8_t kNetHdrGsoEcn = 0x80;

struct NetHdr {             // struct virtio_net_hdr (legacy, without MRG_RXBUF)
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
};
static_assert(sizeof(NetHdr) == 10);

struct NetHdrMrgRxbuf {     // with num_buffers: VERSION_1 or MRG_RXBUF
    NetHdr hdr;
    uint16_t num_buffers;
};
static_assert(sizeof(NetHdrMrgRxbuf) == 12);

// The header is 12 bytes when VERSION_1 or MRG_RXBUF is negotiated, else 10
// (virtio 1.2, 5.1.6 and 5.1.6.1 legacy note).
constexpr uint32_t net_header_len(uint64_t features) {
    return (has(features, kFVersion1) || has(features, kNetFMrgRxbuf)) ? 12 : 10;
}

}  // namespace nvh::virtio
