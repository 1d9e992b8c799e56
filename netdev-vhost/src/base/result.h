// SPDX-License-Identifier: Apache-2.0
// result.h: errors as values for the netdev-vhost core (no exceptions).
#pragma once

#include <cstdint>
#include <utility>
#include <variant>

namespace nvh {

// Why an operation failed.  `what` is a static string naming the rule that
// was broken (for logs and tests); it never points into frontend data.
struct Error {
    int errno_value;      // Closest errno, for the C ABI.
    const char* what;
};

// Either a T or an Error.  A small stand-in for std::expected (C++23).
template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}                // NOLINT
    Result(Error error) : v_(error) {}                       // NOLINT

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    const T& value() const& { return std::get<0>(v_); }
    const Error& error() const { return std::get<1>(v_); }

    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

private:
    std::variant<T, Error> v_;
};

// Result of an operation that yields nothing on success.
class [[nodiscard]] Status {
public:
    Status() = default;
    Status(Error error) : failed_(true), error_(error) {}    // NOLINT
    static Status Ok() { return {}; }

    bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    const Error& error() const { return error_; }

private:
    bool failed_ = false;
    Error error_{0, ""};
};

}  // namespace nvh
