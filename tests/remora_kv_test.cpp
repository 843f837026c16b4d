// remora-kv as a user runs it: real output, one-line errors, exit codes.
#include <gtest/gtest.h>


#include "test_support.hpp"

namespace {

remora::test::Shell kv(const std::string& ws, const std::string& args) {
  return remora::test::shell(std::string(REMORA_KV) + " -w " + ws + " " + args);
}

TEST(RemoraKv, EditsInspectsAndReportsErrors) {
  remora::test::TempDir dir;
  auto ws = (dir / "ws").string();
  auto missing = kv(ws, "ls");
  EXPECT_EQ(missing.code, 1);
  EXPECT_EQ(missing.out, "remora-kv: no workspace at " + ws + "\n");
  EXPECT_EQ(kv(ws, "init").code, 0);
  EXPECT_EQ(kv(ws, "put greeting hello").out, "revision 1\n");
  EXPECT_EQ(kv(ws, "ns create agent").code, 0);
  EXPECT_EQ(kv(ws, "put --ns agent greeting '{\"x\":1}'").code, 0);
  EXPECT_EQ(kv(ws, "put --ns agent outbox:question:q1 --type question '{\"question\":\"Style?\"}'").code, 0);
  auto ls = kv(ws, "ls --ns agent");
  EXPECT_EQ(ls.out, "greeting\trev 3\tagent\tjson_value\noutbox:question:q1\trev 4\tagent\tquestion\n");
  EXPECT_EQ(kv(ws, "diff agent").out, "M greeting\nA outbox:question:q1\n");
  auto get = kv(ws, "get --ns agent outbox:question:q1");
  EXPECT_NE(get.out.find("\"question\": \"Style?\""), std::string::npos) << get.out;
  EXPECT_EQ(kv(ws, "put greeting changed").code, 0);
  auto conflict = kv(ws, "merge agent");
  EXPECT_EQ(conflict.code, 1);
  EXPECT_NE(conflict.out.find("greeting"), std::string::npos);
  EXPECT_EQ(std::count(conflict.out.begin(), conflict.out.end(), '\n'), 1);  // one line
  EXPECT_EQ(kv(ws, "merge agent --strategy sideways").code, 2);
  EXPECT_EQ(kv(ws, "merge agent --strategy theirs").code, 0);
  EXPECT_EQ(kv(ws, "get nope").code, 1);
  EXPECT_EQ(kv(ws, "ns drop ghost").out, "remora-kv: unknown namespace 'ghost'\n");
  auto watch = kv(ws, "watch --from 1 --count 2");
  EXPECT_EQ(watch.out, "1\tbase\tput\tgreeting\n2\tagent\tns_create\t\n");
  // A foreign value: dump shows the error for that key and exits non-zero; the rest still prints.
  auto dump = kv(ws, "dump --ns agent");
  EXPECT_EQ(dump.code, 0) << dump.out;
  EXPECT_NE(dump.out.find("\"type\":\"question\""), std::string::npos);
}

}  // namespace
