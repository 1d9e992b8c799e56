// SPDX-License-Identifier: Apache-2.0
// failure.h: how the in-tree frontend reports a misuse by its caller (a
// buffer larger than the pool's, guest memory that ran out, an address in
// no region): through a handler.  The unit tests install one that records
// a GoogleTest failure (tests/unit/frontend_failures.cpp), the tools one
// that prints and exits.  The call that failed then returns its error value
// (-1, nullopt, false, GuestMemoryFixture::kNoAddress) and writes nothing,
// so the test goes on to its own assertions instead of crashing.
#pragma once

namespace nvh::test {

using FailureHandler = void (*)(const char* where, const char* what);

// nullptr restores the default handler, which prints to stderr.
void set_failure_handler(FailureHandler handler);
// Calls the handler with the component and what went wrong.
void report_failure(const char* where, const char* what);

}  // namespace nvh::test
