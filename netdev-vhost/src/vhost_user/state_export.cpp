// SPDX-License-Identifier: Apache-2.0
// state_export.cpp: MessageHandler::write_state, the connection's state as
// the requests a frontend would send to build it (state_record.h).
#include "vhost_user/message_handler.h"

namespace nvh {

using vhost_user::Request;

Status MessageHandler::write_state(vhost_user::StateWriter& w) const {
    // The dirty log is not handed over: a frontend that shared one is
    // migrating, or about to (QEMU sends SET_LOG_BASE before it sets
    // VHOST_F_LOG_ALL), and a successor without the log would not record
    // its writes.  Such a connection closes and reconnects instead.
    if (log_) {
        return Error{EBUSY, "a dirty log is shared (a migration)"};
    }
    // Protocol features first: with them, SET_FEATURES leaves the rings'
    // enable state to SET_VRING_ENABLE (vhost-user.rst, "Ring states").
    if (protocol_features_set_) {
        w.u64(Request::kSetProtocolFeatures, protocol_features_);
    }
    if (features_set_) {
        w.u64(Request::kSetFeatures, features_);
    }
    if (mtu_ != 0) {
        w.u64(Request::kNetSetMtu, mtu_);
    }
    if (memory_) {
        if (Status s = w.mem_table(*memory_); !s) {
            return s;
        }
    }
    for (uint32_t i = 0; i < vring_count(); i++) {
        const Virtqueue& vq = queues_[i];
        const RingSetup& setup = setup_[i];
        if (vq.size() == 0 && !setup.addresses_set && !setup.kick_received) {
            // Never configured; enabled or not all the same.
            if (protocol_features_negotiated()) {
                w.vring_state(Request::kSetVringEnable, i, vq.enabled() ? 1 : 0);
            }
            continue;
        }
        if (vq.size() != 0) {
            w.vring_state(Request::kSetVringNum, i, vq.size());
        }
        // Where a started ring stands now: nothing is in flight between
        // bursts, so this is where the next process resumes (for a packed
        // ring both positions and wrap counters).
        w.vring_state(Request::kSetVringBase, i, vq.base());
        if (setup.addresses_set) {
            w.vring_addr(i, vq.addresses());
        }
        if (Status s = w.vring_fd(Request::kSetVringCall, i, vq.guest_call().fd()); !s) {
            return s;
        }
        if (vq.err_fd() >= 0) {
            if (Status s = w.vring_fd(Request::kSetVringErr, i, vq.err_fd()); !s) {
                return s;
            }
        }
        if (protocol_features_negotiated()) {
            w.vring_state(Request::kSetVringEnable, i, vq.enabled() ? 1 : 0);
        }
        // Last: SET_VRING_KICK starts the ring (vhost-user.rst, "Ring
        // states"); a ring stopped by GET_VRING_BASE stays stopped.
        if (setup.kick_received) {
            if (Status s = w.vring_fd(Request::kSetVringKick, i, vq.kick_fd()); !s) {
                return s;
            }
        }
    }
    if (protocol_negotiated(vhost_user::kProtocolFStatus)) {
        w.u64(Request::kSetStatus, status_);
    }
    w.finish();
    return Status::Ok();
}

}  // namespace nvh
