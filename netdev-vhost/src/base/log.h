// SPDX-License-Identifier: Apache-2.0
// log.h: the core's log sink.  A line logged while a DeviceLogScope is open
// on the thread goes to that device's handler (nvh_device_config.log); any
// other line to the handler installed with nvh_set_log_handler, or to stderr
// when none is installed.
#pragma once

#include "netdev-vhost/nvh.h"

namespace nvh {

// Installs `handler` (nullptr restores the stderr default).  Thread-safe.
void set_log_handler(nvh_log_fn* handler);

// Formats one line (no trailing newline needed) and hands it to the handler.
// Lines longer than 511 bytes are truncated.  Thread-safe; callable from the
// control thread; never called on the data path.
void log_message(nvh_log_level level, const char* format, ...)
    __attribute__((format(printf, 2, 3)));

// A device's own log handler (nvh_device_config.log and .aux); fn may be
// nullptr (its lines go to the process-wide handler).
struct DeviceLog {
    nvh_device_log_fn* fn = nullptr;
    void* aux = nullptr;
};

// While it lives, the lines logged on this thread are about one device and
// go to its handler, so the host can keep each device's lines apart (and
// rate-limit them per device: a frontend can make its device log at will).
// Opened by the device's callbacks on the control thread.  Scopes nest: the
// innermost one wins, the outer one is restored when it closes.
class DeviceLogScope {
public:
    explicit DeviceLogScope(const DeviceLog& log);
    ~DeviceLogScope();
    DeviceLogScope(const DeviceLogScope&) = delete;
    DeviceLogScope& operator=(const DeviceLogScope&) = delete;

private:
    const DeviceLog* outer_;
};

}  // namespace nvh
