// SPDX-License-Identifier: Apache-2.0
// path_watcher.h: tells waiting devices the moment their frontend's socket
// file appears, so a port reconnects within milliseconds of QEMU (or any
// frontend) starting to listen instead of at its next poll.
//
// One inotify instance for the whole process (instances are a scarce
// per-user resource; watches are not), one watch per directory, shared by
// every device whose socket lives there.  Control thread only.
#pragma once

#include <string>
#include <vector>

#include "device/control_thread.h"
#include "base/unique_fd.h"

namespace nvh {

class PathListener {
public:
    // The watched name was created, moved in or had its attributes (owner,
    // mode) changed: a connect attempt may now succeed.
    virtual void on_path_changed() = 0;

protected:
    ~PathListener() = default;
};

class PathWatcher final : private ControlClient {
public:
    explicit PathWatcher(ControlThread& control) : control_(control) {}
    ~PathWatcher();
    PathWatcher(const PathWatcher&) = delete;
    PathWatcher& operator=(const PathWatcher&) = delete;

    // Watches the directory of `path` for its last component on behalf of
    // `listener` (at most one path per listener; a second add replaces the
    // first).  Returns false if it cannot (no directory, no inotify): the
    // caller then keeps polling.
    bool add(const std::string& path, PathListener* listener);
    void remove(PathListener* listener);

private:
    struct Entry {
        int wd;
        std::string name;
        PathListener* listener;
    };

    void on_fd_event(uint32_t epoll_events) override;
    void on_timer() override {}
    bool open();

    ControlThread& control_;
    UniqueFd inotify_;
    std::vector<Entry> entries_;
};

}  // namespace nvh
