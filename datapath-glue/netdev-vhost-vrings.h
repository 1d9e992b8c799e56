// SPDX-License-Identifier: Apache-2.0
/*
 * Which vrings of a device the status and "vhostuserclient/show" list.
 *
 * nvh_device_info.n_vrings counts the vrings that are started, and those
 * need not be the first n_vrings ones (a frontend may set up queue pair 2
 * and not 1), so the listing goes by each vring's size instead: every vring
 * the frontend gave a size (VHOST_USER_SET_VRING_NUM) is listed.
 *
 * Plain C on nvh.h alone (no OVS header), so unit tests can check it.
 */

#ifndef NETDEV_VHOST_VRINGS_H
#define NETDEV_VHOST_VRINGS_H 1

#include <stdint.h>

#include "netdev-vhost/nvh.h"

/* The first vring at or after 'v' with a size, or NVH_MAX_VRINGS if none:
 *
 *     for (uint32_t v = netdev_vhost_next_vring(&info, 0);
 *          v < NVH_MAX_VRINGS; v = netdev_vhost_next_vring(&info, v + 1))
 */
static inline uint32_t
netdev_vhost_next_vring(const struct nvh_device_info *info, uint32_t v)
{
    while (v < NVH_MAX_VRINGS && !info->vring_size[v]) {
        v++;
    }
    return v;
}

#endif /* netdev-vhost-vrings.h */
