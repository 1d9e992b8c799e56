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

/* Finds the L3 and L4 headers as DPDK's vhost library does before it
 * applies a transmit header: one optional VLAN tag, IPv4 (with options) or
 * IPv6 (without extension headers), then a TCP, UDP or SCTP header that
 * must be entirely inside the frame.  Sets l2_len, l3_len and
 * DP_PACKET_OL_TX_IPV4/IPV6.  Returns the L4 protocol, or -1. */
static int
netdev_vhost_parse_headers(struct dp_packet *packet)
{
    struct rte_mbuf *m = &packet->mbuf;
    const uint8_t *data = dp_packet_data(packet);
    uint32_t len = dp_packet_size(packet);
    uint32_t l2_len = sizeof(struct eth_header), l3_len, l4_min;
    ovs_be16 ethertype;
    uint8_t proto;

    if (len < l2_len) {
        return -1;
    }
    ethertype = ((const struct eth_header *) data)->eth_type;
    if (ethertype == htons(ETH_TYPE_VLAN)) {
        const struct vlan_header *vlan = (const void *) (data + l2_len);

        if (len < l2_len + sizeof(struct vlan_header)) {
            return -1;
        }
        ethertype = vlan->vlan_next_type;
        l2_len += sizeof(struct vlan_header);
    }

    if (ethertype == htons(ETH_TYPE_IP)) {
        const struct ip_header *ip = (const void *) (data + l2_len);

        if (len < l2_len + IP_HEADER_LEN) {
            return -1;
        }
        l3_len = IP_IHL(ip->ip_ihl_ver) * 4;
        if (len < l2_len + l3_len) {
            return -1;
        }
        dp_packet_hwol_set_tx_ipv4(packet);
        proto = ip->ip_proto;
    } else if (ethertype == htons(ETH_TYPE_IPV6)) {
        const struct ovs_16aligned_ip6_hdr *ip6;

        ip6 = (const void *) (data + l2_len);
        l3_len = IPV6_HEADER_LEN;
        if (len < l2_len + l3_len) {
            return -1;
        }
        dp_packet_hwol_set_tx_ipv6(packet);
        proto = ip6->ip6_ctlun.ip6_un1.ip6_un1_nxt;
    } else {
        return -1;
    }

    switch (proto) {
    case IPPROTO_TCP:
        l4_min = TCP_HEADER_LEN;
        break;
    case IPPROTO_UDP:
        l4_min = UDP_HEADER_LEN;
        break;
    case IPPROTO_SCTP:
        l4_min = SCTP_HEADER_LEN;
        break;
    default:
        return -1;
    }
    if (len < l2_len + l3_len + l4_min) {
        return -1;
    }
    m->l2_len = l2_len;
    m->l3_len = l3_len;
    return proto;
}

void
netdev_vhost_offload_rx(struct dp_packet *packet,
                        const struct nvh_offload *off)
{
    struct rte_mbuf *m = &packet->mbuf;
    int proto;

    if (off->flags == 0 && off->gso_type == VIRTIO_NET_HDR_GSO_NONE) {
        return;
    }
    proto = netdev_vhost_parse_headers(packet);
    if (proto < 0) {
        goto error;
    }

    if (off->flags == VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        if (off->csum_start != m->l2_len + m->l3_len) {
            goto error;
        }
        switch (off->csum_offset) {
        case TCP_CSUM_OFFSET:
            if (proto != IPPROTO_TCP) {
                goto error;
            }
            dp_packet_hwol_set_csum_tcp(packet);
            break;
        case UDP_CSUM_OFFSET:
            if (proto != IPPROTO_UDP) {
                goto error;
            }
            dp_packet_hwol_set_csum_udp(packet);
            break;
        case SCTP_CSUM_OFFSET:
            if (proto != IPPROTO_SCTP) {
                goto error;
            }
            dp_packet_hwol_set_csum_sctp(packet);
            break;
        default:
            goto error;
        }
    }

    if (off->gso_type != VIRTIO_NET_HDR_GSO_NONE) {
        switch (off->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
        case VIRTIO_NET_HDR_GSO_TCPV4:
        case VIRTIO_NET_HDR_GSO_TCPV6: {
            const struct tcp_header *th;
            uint32_t tcp_len;

            if (proto != IPPROTO_TCP) {
                goto error;
            }
            th = (const void *) ((const uint8_t *) dp_packet_data(packet)
                                 + m->l2_len + m->l3_len);
            tcp_len = TCP_OFFSET(th->tcp_ctl) * 4;
            if (dp_packet_size(packet) < m->l2_len + m->l3_len + tcp_len) {
                goto error;
            }
            dp_packet_hwol_set_tcp_seg(packet);
            m->tso_segsz = off->gso_size;
            m->l4_len = tcp_len;
            break;
        }
        default:
            /* UDP fragmentation is never negotiated (the core refuses it). */
            goto error;
        }
    }
    return;

error:
    m->l2_len = 0;
    m->l3_len = 0;
    *dp_packet_ol_flags_ptr(packet) = 0;
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
        off->gso_size = mtu - l3_len - l4_len;
        off->hdr_len = l2_len + l3_len + l4_len;
    }
    return true;
}
