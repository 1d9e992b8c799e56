// SPDX-License-Identifier: Apache-2.0
// handover.cpp: a device's side of a planned restart (nvh.h, "Planned
// restart").  The exiting process stops the device between two bursts and
// writes its connection as a state record (vhost_user/state_record.h); the
// next process takes the record from the keeper (device/keeper_link.h) and
// replays it through the same decoder and handler as a frontend's
// requests, then reads the socket where the old process stopped.  The
// frontend sees nothing: its socket stays open, its rings resume at the
// positions the old process left them.
#include <fcntl.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include "device/device.h"
#include "device/keeper_link.h"

namespace nvh {

using vhost_user::StateHeader;
using vhost_user::StateReader;
using vhost_user::StateRecord;
using vhost_user::StateWriter;

Status Device::hand_over(StateRecord* record) {
    Status result = Error{ENOTCONN, "not connected"};
    control_->run_sync([this, record, &result] {
        DeviceLogScope scope(log_);
        if (detached_ || !session_.connected()) {
            return;
        }
        // A request read in part, or waiting whole in the socket, would
        // reach the keeper, which cannot answer it.
        int unread = 0;
        if (!session_.idle() || ioctl(session_.fd(), FIONREAD, &unread) != 0 || unread > 0) {
            result = Error{EBUSY, "a frontend's request is being received"};
            return;
        }
        if (memory_faulted_.load(std::memory_order_acquire)) {
            result = Error{EFAULT, "guest memory faulted"};
            return;
        }
        // Stop the data path: a burst that starts from now on returns 0,
        // and taking each queue's lock waits for the burst running on it,
        // so the positions written below are final (nothing is in flight
        // between bursts: every burst returns all it takes).
        driver_ok_.store(false, std::memory_order_seq_cst);
        for (uint32_t i = 0; i < handler_.vring_count(); i++) {
            queues_[i].access_lock().lock();
            queues_[i].access_lock().unlock();
        }
        StateHeader header{};
        header.offered_features = offered_features_;
        header.max_queue_pairs = max_queue_pairs_;
        header.n_connects = n_connects_;
        {
            std::lock_guard<std::mutex> guard(info_mutex_);
            header.connected_ms = static_cast<uint64_t>(
                std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - connected_at_)
                    .count());
        }
        header.written_at_ms = vhost_user::boottime_ms();
        record->fds.clear();
        int socket_copy = fcntl(session_.fd(), F_DUPFD_CLOEXEC, 0);
        Status written = socket_copy >= 0 ? Status::Ok()
                                          : Status(Error{errno, "cannot duplicate the socket"});
        if (written) {
            record->fds.emplace_back(socket_copy);
            StateWriter writer(record, header);
            written = handler_.write_state(writer);
        }
        if (!written) {
            record->fds.clear();
            driver_ok_.store(handler_.driver_ok(), std::memory_order_relaxed);
            result = written;
            return;
        }
        // The connection is the record's now: nothing here reads the
        // socket, kicks or timers any more, and destroying the device only
        // closes this process's copies of the fds.
        detached_ = true;
        control_->cancel_timer(this);
        control_->paths().remove(this);
        kicks_.unwatch_all();
        control_->unwatch(session_.fd());
        log_message(NVH_LOG_INFO, "%s: connection handed over for a restart (%zu fds)",
                    socket_path_.c_str(), record->fds.size());
        result = Status::Ok();
    });
    return result;
}

bool Device::resume_from_keeper(const std::string& keeper_socket) {
    StateRecord record;
    std::string why;
    if (!keeper::take_from_keeper(keeper_socket.c_str(), socket_path_, &record, &why)) {
        log_message(NVH_LOG_DBG, "%s: nothing to resume: %s", socket_path_.c_str(),
                    why.c_str());
        return false;
    }
    if (record.fds.empty()) {
        return false;
    }
    Status resumed = replay(record);
    if (!resumed) {
        // The frontend sees this connection close and reconnects, as after
        // any disconnect; the device connects again at once, once the
        // record's fds (the old socket among them) are closed.
        log_message(NVH_LOG_WARN, "%s: cannot resume the connection handed over "
                    "by the previous process: %s; reconnecting",
                    socket_path_.c_str(), resumed.error().what);
        if (connected_) {
            disconnect("handed-over connection refused", NVH_LOG_INFO);
        }
        record = StateRecord{};
        fast_retries_ = kFastRetries;
        try_connect();
    }
    return true;
}

Status Device::replay(StateRecord& record) {
    Result<StateReader> opened = StateReader::open(&record);
    if (!opened) {
        return opened.error();
    }
    StateReader& reader = opened.value();
    const StateHeader& header = reader.header();
    // A frontend negotiated from the features the old process offered and
    // sized its queues by its queue pairs: both must be this device's.
    if (header.offered_features != offered_features_) {
        return Error{EPROTO, "the previous process offered other features"};
    }
    if (header.max_queue_pairs != max_queue_pairs_) {
        return Error{EPROTO, "the previous process had another number of queue pairs"};
    }
    if (Status adopted = session_.adopt(std::move(record.fds[0])); !adopted) {
        return adopted;
    }
    if (Status watched = control_->watch(session_.fd(), this); !watched) {
        session_.close();
        return watched;
    }
    connected_ = true;
    kicks_.clear();
    replaying_ = true;
    Status applied = Status::Ok();
    for (;;) {
        vhost_user::Header h{};
        std::span<const uint8_t> payload;
        std::span<UniqueFd> fds;
        bool more = false;
        applied = reader.next(&h, &payload, &fds, &more);
        if (!applied || !more) {
            break;
        }
        applied = on_message(h, payload, fds);
        if (!applied) {
            break;
        }
    }
    replaying_ = false;
    if (!applied) {
        return applied;
    }
    n_connects_ = header.n_connects;
    n_resumes_++;
    const uint64_t now = vhost_user::boottime_ms();
    const uint64_t age = header.connected_ms +
                         (now > header.written_at_ms ? now - header.written_at_ms : 0);
    {
        std::lock_guard<std::mutex> guard(info_mutex_);
        connected_at_ = std::chrono::steady_clock::now() - std::chrono::milliseconds(age);
    }
    log_message(NVH_LOG_INFO, "%s: resumed the connection handed over by the "
                "previous process (connected %llu ms ago)", socket_path_.c_str(),
                static_cast<unsigned long long>(age));
    control_->arm_timer(this, kMemoryFaultCheckInterval);
    publish();
    return Status::Ok();
}

}  // namespace nvh
