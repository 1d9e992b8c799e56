// SPDX-License-Identifier: Apache-2.0
// c_api.cpp: the C ABI of nvh.h over the C++ core.
#include <cerrno>
#include <cstdio>
#include <memory>

#include "device/device.h"
#include "device/keeper_link.h"
#include "base/log.h"
#include "netdev-vhost/nvh.h"

#define NVH_EXPORT extern "C" __attribute__((visibility("default")))

// The opaque handle of nvh.h is the C++ device.
struct nvh_device {
    std::unique_ptr<nvh::Device> device;
};

NVH_EXPORT void nvh_set_log_handler(nvh_log_fn* handler) {
    nvh::set_log_handler(handler);
}

NVH_EXPORT int nvh_device_create(const struct nvh_device_config* config,
                                 struct nvh_device** devp, char* err,
                                 size_t errlen) {
    auto fail = [&](int error, const char* message) {
        if (err && errlen) {
            std::snprintf(err, errlen, "%s", message);
        }
        return error;
    };
    if (!config || !devp) {
        return fail(EINVAL, "config and devp must not be NULL");
    }
    *devp = nullptr;
    nvh::Result<std::unique_ptr<nvh::Device>> created =
        nvh::Device::create(*config);
    if (!created) {
        return fail(created.error().errno_value, created.error().what);
    }
    *devp = new nvh_device{std::move(created).value()};
    if (err && errlen) {
        err[0] = '\0';
    }
    return 0;
}

NVH_EXPORT void nvh_device_destroy(struct nvh_device* dev) {
    delete dev;   // ~Device detaches from the control thread.
}

NVH_EXPORT void nvh_device_set_max_guest_memory(struct nvh_device* dev, uint64_t bytes) {
    dev->device->set_max_guest_memory(bytes);
}

NVH_EXPORT void nvh_device_get_info(struct nvh_device* dev,
                                    struct nvh_device_info* info) {
    dev->device->get_info(info);
}

NVH_EXPORT bool nvh_device_reconnect(struct nvh_device* dev) {
    return dev->device->reconnect();
}

NVH_EXPORT bool nvh_vring_get_position(struct nvh_device* dev, uint32_t vring,
                                       struct nvh_vring_position* pos) {
    return dev->device->vring_position(vring, pos);
}

NVH_EXPORT uint32_t nvh_device_get_memory(struct nvh_device* dev,
                                          struct nvh_memory_region* regions,
                                          uint32_t n) {
    return dev->device->memory_regions(regions, n);
}

// The connections handed over so far, each under its socket path.
struct nvh_handover {
    nvh::keeper::NamedRecords records;
};

NVH_EXPORT struct nvh_handover* nvh_handover_create(void) {
    return new nvh_handover{};
}

NVH_EXPORT int nvh_device_hand_over(struct nvh_device* dev, struct nvh_handover* h,
                                    char* err, size_t errlen) {
    nvh::vhost_user::StateRecord record;
    nvh::Status handed = dev->device->hand_over(&record);
    if (!handed) {
        if (err && errlen) {
            std::snprintf(err, errlen, "%s", handed.error().what);
        }
        return handed.error().errno_value;
    }
    h->records.emplace_back(dev->device->socket_path(), std::move(record));
    return 0;
}

NVH_EXPORT int nvh_handover_finish(struct nvh_handover* h, const char* keeper_program,
                                   const char* keeper_socket, uint32_t hold_ms,
                                   char* err, size_t errlen) {
    std::unique_ptr<nvh_handover> owned(h);
    if (owned->records.empty() || !keeper_program) {
        return 0;   // Without a keeper the connections close here.
    }
    nvh::Status held = nvh::keeper::hand_to_keeper(keeper_program, keeper_socket,
                                                   hold_ms, owned->records);
    if (!held) {
        if (err && errlen) {
            std::snprintf(err, errlen, "%s", held.error().what);
        }
        return -held.error().errno_value;
    }
    return static_cast<int>(owned->records.size());
}

NVH_EXPORT void nvh_handover_release(const char* keeper_socket) {
    nvh::keeper::release_keeper(keeper_socket);
}

NVH_EXPORT uint32_t nvh_dequeue_burst(struct nvh_device* dev, uint32_t qp,
                                      struct nvh_packet* pkts, uint32_t n) {
    return dev->device->dequeue_burst(qp, pkts, n);
}

NVH_EXPORT uint32_t nvh_enqueue_burst(struct nvh_device* dev, uint32_t qp,
                                      const struct nvh_packet* pkts, uint32_t n) {
    return dev->device->enqueue_burst(qp, pkts, n);
}

NVH_EXPORT bool nvh_vring_get_stats(struct nvh_device* dev, uint32_t vring,
                                    struct nvh_vring_stats* stats) {
    return dev->device->vring_stats(vring, stats);
}
