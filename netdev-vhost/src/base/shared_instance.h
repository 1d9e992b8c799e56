// SPDX-License-Identifier: Apache-2.0
// shared_instance.h: one process-wide instance of T (a thread the core owns:
// the control thread, the notifier), created and started by the first
// acquire() and stopped and destroyed by the last release().
#pragma once

#include <memory>
#include <mutex>
#include <utility>

#include "base/result.h"

namespace nvh {

template <typename T>
class SharedInstance {
public:
    // The instance, made by create() (a Result<std::unique_ptr<T>>, called
    // under the lock, only when there is none) and T::start()ed.  Every
    // successful acquire() is paired with one release().
    template <typename Create>
    Result<T*> acquire(Create&& create) {
        std::lock_guard<std::mutex> guard(mutex_);
        if (!instance_) {
            Result<std::unique_ptr<T>> created = create();
            if (!created) {
                return created.error();
            }
            std::unique_ptr<T> made = std::move(created).value();
            Status started = made->start();
            if (!started) {
                return started.error();
            }
            instance_ = made.release();
        }
        users_++;
        return instance_;
    }

    // Destroys the instance (T's destructor stops and joins its thread)
    // when the last user releases it, outside the lock.
    void release() {
        T* stopping = nullptr;
        {
            std::lock_guard<std::mutex> guard(mutex_);
            if (users_ == 0 || --users_ > 0) {
                return;
            }
            stopping = std::exchange(instance_, nullptr);
        }
        delete stopping;
    }

private:
    std::mutex mutex_;
    T* instance_ = nullptr;   // Guarded by mutex_.
    unsigned users_ = 0;      // Guarded by mutex_.
};

}  // namespace nvh
