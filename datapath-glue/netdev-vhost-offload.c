/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Offload translation of the "vhostuserclient" ports: see
 * netdev-vhost-offload.h.
 */

#include <config.h>

#include "netdev-vhost-offload.h"

#include <netinet/in.h>
#include <stddef.h>
#include <string.h>

#include <rte_mbuf.h>

#include "csum.h"
#include "dp-packet.h"
#include "netdev-provider.h"
#include "packets.h"
#include "userspace-tso.h"

/* The smallest segment size a guest's TSO frame may ask for (Linux's
 * TCP_MIN_SND_MSS). */
#define NETDEV_VHOST_MIN_GSO_SIZE 48

/* virtio 1.2, 5.1.6: header values. */
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_ECN 0x80

/* Offsets of the checksum in the L4 headers. */
#define TCP_CSUM_OFFSET 16
#define UDP_CSUM_OFFSET 6
#define SCTP_CSUM_OFFSET 8

void
netdev_vhost_offload_init(struct netdev *netdev)
{
    /* As netdev_dpdk_vhost_client_reconfigure() for its vhost ports. */
    if (userspace_tso_enabled()) {
        netdev->ol_flags |= NETDEV_TX_OFFLOAD_TCP_TSO;
        netdev->ol_flags |= NETDEV_TX_OFFLOAD_TCP_CKSUM;
        netdev->ol_flags |= NETDEV_TX_OFFLOAD_UDP_CKSUM;
        netdev->ol_flags |= NETDEV_TX_OFFLOAD_SCTP_CKSUM;
        netdev->ol_flags |= NETDEV_TX_OFFLOAD_IPV4_CKSUM;
    }
}

/* Returns the length of the Ethernet header at 'data', with one optional
 * VLAN tag, and stores the ethertype after it in '*ethertype'.  Returns 0
 * if the 'len' bytes of the frame are too few. */
static inline uint32_t
netdev_vhost_parse_l2(const uint8_t *data, uint32_t len, ovs_be16 *ethertype)
{
    uint32_t l2_len = sizeof(struct eth_header);

    if (len < l2_len) {
        return 0;
    }
    *ethertype = ((const struct eth_header *) data)->eth_type;
    if (*ethertype == htons(ETH_TYPE_VLAN)) {
        const struct vlan_header *vlan = (const void *) (data + l2_len);

        if (len < l2_len + sizeof(struct vlan_header)) {
            return 0;
        }
        *ethertype = vlan->vlan_next_type;
        l2_len += sizeof(struct vlan_header);
    }
    return l2_len;
}

/* Parses the L3 header of type 'ethertype' at 'l2_len' in 'packet': IPv4
 * (with options) or IPv6 (without extension headers).  Stores its length
 * in '*l3_len', sets DP_PACKET_OL_TX_IPV4/IPV6 and returns the L4 protocol,
 * or -1. */
static inline int
netdev_vhost_parse_l3(struct dp_packet *packet, ovs_be16 ethertype,
                      uint32_t l2_len, uint32_t *l3_len)
{
    const uint8_t *l3 = (const uint8_t *) dp_packet_data(packet) + l2_len;
    uint32_t len = dp_packet_size(packet);

    if (ethertype == htons(ETH_TYPE_IP)) {
        const struct ip_header *ip = (const void *) l3;

        if (len < l2_len + IP_HEADER_LEN) {
            return -1;
        }
        /* RFC 791: the header is at least 5 words (IHL 5) long. */
        *l3_len = IP_IHL(ip->ip_ihl_ver) * 4;
        if (*l3_len < IP_HEADER_LEN || len < l2_len + *l3_len) {
            return -1;
        }
        dp_packet_hwol_set_tx_ipv4(packet);
        return ip->ip_proto;
    }
    if (ethertype == htons(ETH_TYPE_IPV6)) {
        const struct ovs_16aligned_ip6_hdr *ip6 = (const void *) l3;

        *l3_len = IPV6_HEADER_LEN;
        if (len < l2_len + *l3_len) {
            return -1;
        }
        dp_packet_hwol_set_tx_ipv6(packet);
        return ip6->ip6_ctlun.ip6_un1.ip6_un1_nxt;
    }
    return -1;
}

/* The length of the fixed part of a TCP, UDP or SCTP header, or 0 for any
 * other L4 protocol. */
static inline uint32_t
netdev_vhost_l4_min_len(int proto)
{
    switch (proto) {
    case IPPROTO_TCP:
        return TCP_HEADER_LEN;
    case IPPROTO_UDP:
        return UDP_HEADER_LEN;
    case IPPROTO_SCTP:
        return SCTP_HEADER_LEN;
    default:
        return 0;
    }
}

/* Finds the L3 and L4 headers as DPDK's vhost library does before it
 * applies a transmit header: one optional VLAN tag, IPv4 (with options) or
 * IPv6 (without extension headers), then a TCP, UDP or SCTP header that
 * must be entirely inside the frame.  Sets l2_len, l3_len and
 * DP_PACKET_OL_TX_IPV4/IPV6.  Returns the L4 protocol, or -1. */
static inline int
netdev_vhost_parse_headers(struct dp_packet *packet)
{
    struct rte_mbuf *m = &packet->mbuf;
    uint32_t len = dp_packet_size(packet);
    uint32_t l2_len, l3_len, l4_min;
    ovs_be16 ethertype;
    int proto;

    l2_len = netdev_vhost_parse_l2(dp_packet_data(packet), len, &ethertype);
    if (!l2_len) {
        return -1;
    }
    proto = netdev_vhost_parse_l3(packet, ethertype, l2_len, &l3_len);
    if (proto < 0) {
        return -1;
    }
    l4_min = netdev_vhost_l4_min_len(proto);
    if (!l4_min || len < l2_len + l3_len + l4_min) {
        return -1;
    }
    m->l2_len = l2_len;
    m->l3_len = l3_len;
    return proto;
}

/* Sets the L4 checksum offload that a VIRTIO_NET_HDR_F_NEEDS_CSUM header
 * asks for: the checksum must start at the L4 header and sit at the
 * checksum field of 'proto'.  Returns false if it does not. */
static inline bool
netdev_vhost_offload_rx_csum(struct dp_packet *packet,
                             const struct nvh_offload *off, int proto)
{
    const struct rte_mbuf *m = &packet->mbuf;

    if (off->csum_start != m->l2_len + m->l3_len) {
        return false;
    }
    switch (off->csum_offset) {
    case TCP_CSUM_OFFSET:
        if (proto != IPPROTO_TCP) {
            return false;
        }
        dp_packet_hwol_set_csum_tcp(packet);
        return true;
    case UDP_CSUM_OFFSET:
        if (proto != IPPROTO_UDP) {
            return false;
        }
        dp_packet_hwol_set_csum_udp(packet);
        return true;
    case SCTP_CSUM_OFFSET:
        if (proto != IPPROTO_SCTP) {
            return false;
        }
        dp_packet_hwol_set_csum_sctp(packet);
        return true;
    default:
        return false;
    }
}

/* Sets TCP segmentation for a GSO_TCPV4 or GSO_TCPV6 header (ECN or not):
 * 'proto' must be TCP, with its whole header, options included, inside the
 * packet.  Returns false otherwise; UDP fragmentation is never negotiated
 * (the core refuses it). */
static inline bool
netdev_vhost_offload_rx_gso(struct dp_packet *packet,
                            const struct nvh_offload *off, int proto)
{
    struct rte_mbuf *m = &packet->mbuf;
    uint8_t gso_type = off->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
    const struct tcp_header *th;
    uint32_t tcp_len;

    if ((gso_type != VIRTIO_NET_HDR_GSO_TCPV4
         && gso_type != VIRTIO_NET_HDR_GSO_TCPV6)
        || proto != IPPROTO_TCP) {
        return false;
    }
    th = (const void *) ((const uint8_t *) dp_packet_data(packet)
                         + m->l2_len + m->l3_len);
    /* RFC 793: the data offset is at least 5 words.  A segment size below
     * the smallest MSS Linux sends (TCP_MIN_SND_MSS, 48) only turns one
     * frame into thousands of segments. */
    tcp_len = TCP_OFFSET(th->tcp_ctl) * 4;
    if (tcp_len < TCP_HEADER_LEN
        || dp_packet_size(packet) < m->l2_len + m->l3_len + tcp_len
        || off->gso_size < NETDEV_VHOST_MIN_GSO_SIZE) {
        return false;
    }
    dp_packet_hwol_set_tcp_seg(packet);
    m->tso_segsz = off->gso_size;
    m->l4_len = tcp_len;
    return true;
}

void
netdev_vhost_offload_rx(struct dp_packet *packet,
                        const struct nvh_offload *off)
{
    bool csum = off->flags == VIRTIO_NET_HDR_F_NEEDS_CSUM;
    bool gso = off->gso_type != VIRTIO_NET_HDR_GSO_NONE;
    int proto;

    if (off->flags == 0 && !gso) {
        return;
    }
    proto = netdev_vhost_parse_headers(packet);
    if (proto < 0
        || (csum && !netdev_vhost_offload_rx_csum(packet, off, proto))
        || (gso && !netdev_vhost_offload_rx_gso(packet, off, proto))) {
        /* A header that does not match the packet clears every offload, as
         * DPDK does. */
        packet->mbuf.l2_len = 0;
        packet->mbuf.l3_len = 0;
        *dp_packet_ol_flags_ptr(packet) = 0;
    }
}

bool
netdev_vhost_offload_tx(struct dp_packet *packet, int mtu,
                        struct nvh_offload *off)
{
    uint64_t l4_mask = dp_packet_hwol_l4_mask(packet);
    bool tso = dp_packet_hwol_is_tso(packet);
    uint32_t l2_len = 0, l3_len = 0, l4_len = 0;

    memset(off, 0, sizeof *off);
    if (OVS_LIKELY(!l4_mask && !tso)) {
        return true;
    }

    /* netdev_dpdk_prep_hwol_packet(). */
    if (l4_mask) {
        if (!dp_packet_l3(packet) || !dp_packet_l4(packet)) {
            return false;
        }
        l2_len = (char *) dp_packet_l3(packet)
                 - (char *) dp_packet_eth(packet);
        l3_len = (char *) dp_packet_l4(packet) - (char *) dp_packet_l3(packet);
    }
    if (tso) {
        struct tcp_header *th = dp_packet_l4(packet);

        if (!th || !dp_packet_l3(packet)) {
            return false;
        }
        l2_len = (char *) dp_packet_l3(packet)
                 - (char *) dp_packet_eth(packet);
        l3_len = (char *) th - (char *) dp_packet_l3(packet);
        l4_len = TCP_OFFSET(th->tcp_ctl) * 4;
        dp_packet_hwol_set_csum_tcp(packet);
        l4_mask = dp_packet_hwol_l4_mask(packet);
    }

    /* DPDK 22.11 virtio_enqueue_offload(). */
    off->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    off->csum_start = l2_len + l3_len;
    if (l4_mask == DP_PACKET_OL_TX_TCP_CKSUM) {
        off->csum_offset = TCP_CSUM_OFFSET;
    } else if (l4_mask == DP_PACKET_OL_TX_UDP_CKSUM) {
        off->csum_offset = UDP_CSUM_OFFSET;
    } else if (l4_mask == DP_PACKET_OL_TX_SCTP_CKSUM) {
        off->csum_offset = SCTP_CSUM_OFFSET;
    }

    if (tso) {
        if (dp_packet_hwol_is_ipv4(packet)) {
            /* The guest verifies the IP checksum: compute it here. */
            struct ip_header *ip = dp_packet_l3(packet);

            ip->ip_csum = 0;
            ip->ip_csum = csum(ip, l3_len);
            off->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
        } else {
            off->gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
        }
        /* virtio 1.2, 5.1.6.2: gso_size is the payload of each segment,
         * what the MTU leaves after the IP and TCP headers.  An MTU that
         * leaves no payload (or more than the 16-bit field holds) has no
         * valid gso_size: the packet is dropped rather than the value
         * wrapping into a huge segment size for the guest. */
        int gso_size = mtu - (int) l3_len - (int) l4_len;

        if (gso_size <= 0 || gso_size > UINT16_MAX) {
            return false;
        }
        off->gso_size = gso_size;
        off->hdr_len = l2_len + l3_len + l4_len;
    }
    return true;
}
