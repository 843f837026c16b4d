// The soak of crash recovery, behind the ctest label `soak` (excluded by `ctest -LE soak`): the
// fault injection of resume_test.cpp, a graph of 30 agents killed and resumed 20 times and
// compared with an uninterrupted run, over 15 graphs of seeds following the printed one: 300
// kills of the supervisor. Run it with `ctest --test-dir build -L soak --output-on-failure`, or
// `build/tests/remora_soak_tests`; REMORA_RESUME_SEED=N starts again from seed N.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "resume_scenario.hpp"

namespace remora {
namespace {

TEST(ResumeSoak, HundredsOfKills) {
  const unsigned first = test::resume_seed();
  constexpr unsigned kRounds = 15;
  unsigned passed = 0;
  for (unsigned round = 0; round < kRounds && !HasFailure(); ++round) {
    SCOPED_TRACE(fmt::format("round {}", round));
    test::fault_injection(30, 20, first + round);  // asserts the round's outcome
    if (!HasFailure()) ++passed;
  }
  EXPECT_EQ(passed, kRounds) << "the soak stops at its first failing round";
}

}  // namespace
}  // namespace remora
