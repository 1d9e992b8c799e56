// SPDX-License-Identifier: Apache-2.0
// net_header.h: the virtio-net header's offload fields (virtio 1.2, 5.1.6):
// parsed and checked on transmit (guest -> host), built on receive
// (host -> guest), for checksum offload and TCP segmentation offload.
#pragma once

#include <cstdint>

#include "netdev-vhost/nvh.h"
#include "base/virtio_spec.h"

namespace nvh {

// Offload features, exactly as dpdkvhostuserclient offers them (DPDK 22.11's
// vhost library as OVS 3.1 configures it in
// netdev_dpdk_vhost_client_reconfigure), so that a guest's negotiated set is
// the same on both port types: QEMU refuses to resume a migrated guest whose
// features the new backend does not offer.
//
// Receive offloads (the device may hand the guest partially checksummed or
// segmented frames) are always offered; the device sends such frames only
// when the caller marks them, which OVS does only with userspace TSO, and
// never ECN or UFO ones.
inline constexpr uint64_t kGuestOffloadFeatures =
    virtio::bit(virtio::kNetFGuestCsum) | virtio::bit(virtio::kNetFGuestTso4) |
    virtio::bit(virtio::kNetFGuestTso6) | virtio::bit(virtio::kNetFGuestEcn) |
    virtio::bit(virtio::kNetFGuestUfo);
// Transmit offloads with userspace-tso-enable (nvh_device_config.offloads):
// checksum and TCP segmentation; OVS disables HOST_ECN and HOST_UFO.
inline constexpr uint64_t kHostOffloadFeatures =
    virtio::bit(virtio::kNetFCsum) | virtio::bit(virtio::kNetFHostTso4) |
    virtio::bit(virtio::kNetFHostTso6);
// Without userspace TSO the built-in dpdkvhostuserclient port offers, of the
// transmit offloads, HOST_ECN alone: OVS disables VIRTIO_NET_F_CSUM, and
// DPDK's vhost library, asked for linear buffers without external ones,
// withdraws HOST_TSO4, HOST_TSO6 and HOST_UFO.  The same set is offered here,
// so that a guest can move between the two backends either way (a frontend
// refuses a backend that offers less than the guest acked).  HOST_ECN cannot
// be used without CSUM and TSO (virtio 1.2, 5.1.3.1): a segmented frame needs
// NEEDS_CSUM, which needs CSUM (accept_tx_header drops anything else).
inline constexpr uint64_t kUnusableHostOffloadFeatures = virtio::bit(virtio::kNetFHostEcn);
inline constexpr uint64_t kOffloadFeatures = kGuestOffloadFeatures | kHostOffloadFeatures;

// Whether a transmitq header may carry anything for the device.  Without
// VIRTIO_NET_F_CSUM the driver MUST set flags to zero, and without a HOST_*
// segmentation feature gso_type to GSO_NONE (virtio 1.2, 5.1.6.2.1); the
// other fields mean something only with those, and num_buffers nothing on
// transmit.  So without all of them the device need not read the header
// (nor does DPDK's vhost library): the frame is taken as it is, and the
// header's cache line is never touched.
constexpr bool tx_header_used(uint64_t features) {
    return (features & (virtio::bit(virtio::kNetFCsum) | virtio::bit(virtio::kNetFHostTso4) |
                        virtio::bit(virtio::kNetFHostTso6) | virtio::bit(virtio::kNetFHostEcn) |
                        virtio::bit(virtio::kNetFHostUfo) |
                        virtio::bit(virtio::kNetFHostUso))) != 0;
}

// Reads the offload fields of a header (its first 10 bytes, little endian:
// virtio 1.2, 5.1.6, VERSION_1 headers are little endian).
nvh_offload parse_net_header(const uint8_t* hdr);

// Checks a transmitq header against the negotiated `features` and the
// frame's length (virtio 1.2, 5.1.6.2.1 / 5.1.6.2.2) and normalises it:
// fields the device must not use are zeroed, flag bits it does not know are
// dropped.  Returns false if the packet must be dropped.
bool accept_tx_header(uint64_t features, uint32_t frame_len, nvh_offload* off);

// Writes the offload fields of a receiveq header (its first 10 bytes) from
// `off`, keeping only what the guest negotiated (virtio 1.2, 5.1.6.4.1):
// checksum fields need GUEST_CSUM, TCPv4/TCPv6 segmentation GUEST_TSO4/6 and
// a partial checksum.  Everything else is written as zero.
void build_rx_header(uint64_t features, const nvh_offload& off, uint8_t* hdr);

}  // namespace nvh
