// SPDX-License-Identifier: Apache-2.0
// path_watcher.cpp: see path_watcher.h.
#include "device/path_watcher.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "base/log.h"

namespace nvh {
namespace {

// A frontend binds its socket (IN_CREATE), a manager may rename one into
// place (IN_MOVED_TO) or fix its owner and mode after (IN_ATTRIB).
constexpr uint32_t kWatchMask = IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_ONLYDIR;

}  // namespace

PathWatcher::~PathWatcher() {
    if (inotify_) {
        control_.unwatch(inotify_.get());
    }
}

bool PathWatcher::open() {
    if (inotify_) {
        return true;
    }
    inotify_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!inotify_) {
        log_message(NVH_LOG_WARN, "inotify unavailable (%s): ports poll for "
                    "their frontend's socket instead", std::strerror(errno));
        return false;
    }
    if (!control_.watch(inotify_.get(), this)) {
        inotify_.reset();
        return false;
    }
    return true;
}

bool PathWatcher::add(const std::string& path, PathListener* listener) {
    const std::string_view whole(path);
    const size_t slash = whole.rfind('/');
    const std::string_view dir_view = slash == std::string_view::npos ? std::string_view(".")
                                      : slash == 0                    ? std::string_view("/")
                                                                      : whole.substr(0, slash);
    const std::string dir(dir_view);
    const std::string name(slash == std::string_view::npos ? whole : whole.substr(slash + 1));
    if (name.empty() || !open()) {
        remove(listener);
        return false;
    }
    // The same directory gives back the same watch (and the same mask).
    int wd = ::inotify_add_watch(inotify_.get(), dir.c_str(), kWatchMask);
    auto same = std::find_if(entries_.begin(), entries_.end(),
                             [listener](const Entry& e) { return e.listener == listener; });
    if (same != entries_.end() && same->wd == wd && same->name == name) {
        return true;
    }
    remove(listener);
    if (wd < 0) {
        return false;
    }
    entries_.push_back({wd, name, listener});
    return true;
}

void PathWatcher::remove(PathListener* listener) {
    auto gone = std::find_if(entries_.begin(), entries_.end(),
                             [listener](const Entry& e) { return e.listener == listener; });
    if (gone == entries_.end()) {
        return;
    }
    int wd = gone->wd;
    entries_.erase(gone);
    bool shared = std::any_of(entries_.begin(), entries_.end(),
                              [wd](const Entry& e) { return e.wd == wd; });
    if (!shared) {
        ::inotify_rm_watch(inotify_.get(), wd);
    }
}

void PathWatcher::on_fd_event(uint32_t) {
    alignas(inotify_event) char buffer[4096];
    std::vector<PathListener*> changed;
    for (;;) {
        ssize_t n = ::read(inotify_.get(), buffer, sizeof buffer);
        if (n <= 0) {
            break;   // EAGAIN: drained.
        }
        for (ssize_t at = 0; at < n;) {
            const auto* event = reinterpret_cast<const inotify_event*>(buffer + at);
            at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
            const bool overflow = (event->mask & IN_Q_OVERFLOW) != 0;
            const bool watch_gone = (event->mask & IN_IGNORED) != 0;
            for (const Entry& e : entries_) {
                // An overflow may have hidden any event; a watch whose
                // directory went away must be set up again by its owners.
                bool hit = overflow || (e.wd == event->wd &&
                                        (watch_gone || (event->len > 0 &&
                                                        e.name == event->name)));
                if (hit) {
                    changed.push_back(e.listener);
                }
            }
            if (watch_gone) {
                std::erase_if(entries_, [event](const Entry& e) { return e.wd == event->wd; });
            }
        }
    }
    std::sort(changed.begin(), changed.end());
    changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
    // A listener may add or remove itself: call from the copy, and only
    // listeners still registered or whose watch just went away.
    for (PathListener* listener : changed) {
        listener->on_path_changed();
    }
}

}  // namespace nvh
