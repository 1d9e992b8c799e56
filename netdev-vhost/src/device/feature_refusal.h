// SPDX-License-Identifier: Apache-2.0
// feature_refusal.h: recognises a frontend that will not use this backend
// because it lacks a feature the guest already negotiated.
//
// A frontend that reconnects a running guest (QEMU after the backend
// restarted, or after the port moved to this backend from another one)
// reads the offered features (GET_FEATURES) and compares them with what the
// guest acked; if any is missing it gives up without SET_FEATURES and closes
// the connection (QEMU's vhost_net_init: "vhost lacks feature mask ... for
// backend"), and does so again at every connection.  Nothing in the
// protocol says why, so the device infers it from the pattern: several
// connections in a row that read the features and ended before setting
// them.  One such connection is normal (a frontend may quit before its
// guest's driver starts); kThreshold in a row is not.
#pragma once

#include <cstdint>

#include "vhost_user/vhost_user_message.h"

namespace nvh {

class FeatureRefusalWatch {
public:
    static constexpr uint32_t kThreshold = 3;

    // Every request of the current connection.
    void on_request(uint32_t request) {
        if (request == static_cast<uint32_t>(vhost_user::Request::kGetFeatures)) {
            features_read_ = true;
        } else if (request == static_cast<uint32_t>(vhost_user::Request::kSetFeatures)) {
            features_set_ = true;
            in_a_row_ = 0;
        }
    }

    // The connection ended.  Returns true when this one makes kThreshold in
    // a row (to be logged once).
    bool on_disconnect() {
        bool refused = features_read_ && !features_set_;
        features_read_ = features_set_ = false;
        if (!refused) {
            in_a_row_ = 0;
            return false;
        }
        return ++in_a_row_ == kThreshold;
    }

    // Whether the frontend currently looks like refusing the features.
    bool refusing() const { return in_a_row_ >= kThreshold; }
    uint32_t in_a_row() const { return in_a_row_; }

private:
    bool features_read_ = false;
    bool features_set_ = false;
    uint32_t in_a_row_ = 0;
};

}  // namespace nvh
