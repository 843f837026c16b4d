// The soak of review's crash recovery, behind the ctest label `soak`: hundreds of seeded kills of
// the real `remora accept`, of the recovery of an interrupted accept, and of `remora undo`, each at
// a fault point (shared/fault_point.hpp) chosen by a seeded generator. After each, every file is
// old or new, the next command recovers (old after an interrupted accept, old after an
// interrupted undo), the undo log is consistent and the next accept and undo work.
// REMORA_REVIEW_SEED=N repeats a run.
#include <cstdlib>
#include <random>

#include "review_fixture.hpp"

namespace remora {
namespace {

TEST_F(ReviewCrash, SoakHundredsOfSeededKillsOfAcceptAndUndo) {
  const char* env = std::getenv("REMORA_REVIEW_SEED");
  const unsigned seed = env ? static_cast<unsigned>(std::strtoul(env, nullptr, 10)) : std::random_device{}();
  std::cout << "seed " << seed << " (REMORA_REVIEW_SEED=" << seed << " repeats it)\n";
  std::mt19937 rng(seed);
  constexpr int kRounds = 120;  // three kills a round, two in one of two rounds' rollbacks
  int kills = 0, rounds = 0;
  for (; rounds < kRounds && !HasFailure(); ++rounds) {
    const int files = 1 + static_cast<int>(rng() % 7);
    auto pick = [&](int n) { return std::to_string(1 + rng() % static_cast<unsigned>(n)); };
    const std::string accept_fault =
        rng() % 3 == 0 ? "accept:files_written" : "accept:file_written:" + pick(files);
    const std::string rollback_fault = rng() % 2 ? "review:file_put_back:" + pick(files) : "";
    const std::string undo_fault = rng() % 3 == 0 ? "undo:files_restored" : "review:file_put_back:" + pick(files);
    fault_round("s" + std::to_string(rounds), files, accept_fault, rollback_fault, undo_fault);
    kills += 2 + (rollback_fault.empty() ? 0 : 1);
  }
  std::cout << rounds << " rounds, " << kills << " kills (some rollbacks end before their fault point)\n";
  EXPECT_EQ(rounds, kRounds);
}

}  // namespace
}  // namespace remora
