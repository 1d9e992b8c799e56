// SPDX-License-Identifier: Apache-2.0
// The in-tree frontend's failure reports (frontend/failure.h) as GoogleTest
// failures of the test that made them: a misused driver or fixture fails
// its test with a message, and the run goes on.
#include <gtest/gtest.h>

#include "frontend/failure.h"

namespace nvh::test {
namespace {

void add_gtest_failure(const char* where, const char* what) {
    ADD_FAILURE() << where << ": " << what;
}

class FrontendFailures : public ::testing::Environment {
public:
    void SetUp() override { set_failure_handler(&add_gtest_failure); }
    void TearDown() override { set_failure_handler(nullptr); }
};

const ::testing::Environment* const kFrontendFailures =
    ::testing::AddGlobalTestEnvironment(new FrontendFailures);

}  // namespace
}  // namespace nvh::test
