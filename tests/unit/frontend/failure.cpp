// SPDX-License-Identifier: Apache-2.0
// failure.cpp: the frontend's failure handler (see failure.h).
#include "frontend/failure.h"

#include <atomic>
#include <cstdio>

namespace nvh::test {
namespace {

void print_failure(const char* where, const char* what) {
    std::fprintf(stderr, "%s: %s\n", where, what);
}

std::atomic<FailureHandler> g_handler{&print_failure};

}  // namespace

void set_failure_handler(FailureHandler handler) {
    g_handler.store(handler ? handler : &print_failure);
}

void report_failure(const char* where, const char* what) { g_handler.load()(where, what); }

}  // namespace nvh::test
