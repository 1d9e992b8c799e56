// SPDX-License-Identifier: Apache-2.0
// log.cpp: see log.h.
#include "base/log.h"

#include <atomic>
#include <cstdarg>
#include <cstdio>

namespace nvh {
namespace {

std::atomic<nvh_log_fn*> g_log_handler{nullptr};
// The innermost DeviceLogScope of this thread, or nullptr.
thread_local const DeviceLog* t_device_log = nullptr;

const char* level_name(nvh_log_level level) {
    switch (level) {
    case NVH_LOG_ERR: return "ERR";
    case NVH_LOG_WARN: return "WARN";
    case NVH_LOG_INFO: return "INFO";
    case NVH_LOG_DBG: return "DBG";
    }
    return "?";
}

}  // namespace

void set_log_handler(nvh_log_fn* handler) {
    g_log_handler.store(handler, std::memory_order_release);
}

void log_message(nvh_log_level level, const char* format, ...) {
    char line[512];
    va_list args;
    va_start(args, format);
    std::vsnprintf(line, sizeof line, format, args);
    va_end(args);

    if (t_device_log && t_device_log->fn) {
        t_device_log->fn(t_device_log->aux, level, line);
        return;
    }
    nvh_log_fn* handler = g_log_handler.load(std::memory_order_acquire);
    if (handler) {
        handler(level, line);
    } else {
        std::fprintf(stderr, "netdev-vhost|%s|%s\n", level_name(level), line);
    }
}

DeviceLogScope::DeviceLogScope(const DeviceLog& log) : outer_(t_device_log) {
    t_device_log = &log;
}

DeviceLogScope::~DeviceLogScope() { t_device_log = outer_; }

}  // namespace nvh
