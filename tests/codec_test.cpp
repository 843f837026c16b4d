// The record schema: round trips, and clear errors (naming the key) for bytes that are not a
// record of the expected type and version.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
#include "shared/error.hpp"
#include "shared/record_json.hpp"

namespace remora::proto {
namespace {

TEST(Codec, EveryRecordRoundTrips) {
  Question q;
  q.id = "q1";
  q.agent_id = "a";
  q.question = "Which style?";
  q.options = {"google", "numpy"};
  q.default_answer = "google";
  EXPECT_EQ(decode<Question>(encode(q), "k"), q);
  FileEntry f;
  f.content.data = std::string("\x00\xff\x01 binary", 10);
  f.mode = 0755;
  EXPECT_EQ(decode<FileEntry>(encode(f), "k"), f);
  ChangeSet cs;
  cs.changes = {{3, ChangeOp::put, "file:x"}, {0, ChangeOp::ns_drop, ""}};
  EXPECT_EQ(decode<ChangeSet>(encode(cs), "k"), cs);
  AgentResult r;
  r.changed_files = {"a.py"};
  r.turns = 3;
  EXPECT_EQ(decode<AgentResult>(encode(r), "k"), r);
}

// A ModelRequest as version 1 wrote it: the whole conversation in messages_json.
struct ModelRequestV1 {
  static constexpr RecordType kType = RecordType::model_request;
  static constexpr std::uint16_t kVersion = 1;
  std::string id, agent_id;
  std::uint32_t turn = 0;
  std::string messages_json, tools_json, settings_json;
  std::int64_t created_at_ms = 0;
  template <class A> void serialize(A& ar) {
    ar(id, agent_id, turn, messages_json, tools_json, settings_json, created_at_ms);
  }
};

TEST(Codec, AnOlderVersionOfARecordIsReadWithItsOwnFields) {
  ModelRequestV1 old{"a.t3", "a", 3, R"([{"role":"user","content":"hi"}])", "[]", "{}", 17};
  const auto v1 = decode<ModelRequest>(encode(old), "outbox:model:a.t3");
  EXPECT_EQ(v1.id, "a.t3");
  EXPECT_EQ(v1.turn, 3u);
  EXPECT_EQ(v1.messages_json, old.messages_json);
  EXPECT_EQ(v1.created_at_ms, 17);
  EXPECT_EQ(v1.messages, 0u);  // not in version 1
  ModelRequest now;
  now.id = "a.t4";
  now.messages = 8;
  const auto bytes = encode(now);
  EXPECT_EQ(static_cast<unsigned char>(bytes[2]), 2u);  // written as version 2
  EXPECT_EQ(decode<ModelRequest>(bytes, "k"), now);
  EXPECT_LT(bytes.size(), encode(old).size());  // it names the messages; it does not carry them
}

TEST(Codec, TruncatedForeignWrongTypeAndNewerRecordsNameTheKey) {
  Question q;
  q.question = "a fairly long question so that truncation cuts a string";
  auto bytes = encode(q);
  auto expect_error = [](auto fn, const std::string& needle) {
    try {
      fn();
      ADD_FAILURE() << "no error";
    } catch (const CodecError& e) {
      EXPECT_NE(std::string(e.what()).find("outbox:question:7"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const std::string key = "outbox:question:7";
  for (std::size_t n : {std::size_t{0}, std::size_t{3}, std::size_t{5}, bytes.size() / 2, bytes.size() - 1}) {
    expect_error([&] { decode<Question>(bytes.substr(0, n), key); }, n < 4 ? "not a remora record" : "truncated");
  }
  expect_error([&] { decode<Question>("plain text value", key); }, "not a remora record");
  expect_error([&] { decode<Response>(bytes, key); }, "expected response");
  auto newer = bytes;
  newer[2] = 9;
  expect_error([&] { decode<Question>(newer, key); }, "schema version 9");
  auto unknown = bytes;
  unknown[1] = 99;
  expect_error([&] { decode<Question>(unknown, key); }, "unknown type tag");
  expect_error([&] { decode<Question>(bytes + "xx", key); }, "trailing bytes");
}

// Found by the record fuzz target: a length tag of 2^40 in 16 bytes made the decoder allocate 1 TiB.
TEST(Codec, ALengthLargerThanTheBytesLeftIsRefusedBeforeAnyAllocation) {
  JsonValue v;
  v.json = "abc";
  auto bytes = encode(v);
  // The body: the writer's endianness byte, then the string's 8-byte length (little-endian).
  ASSERT_GE(bytes.size(), kFrameHeader + 9);
  const std::uint64_t huge = std::uint64_t{1} << 40;
  std::memcpy(bytes.data() + kFrameHeader + 1, &huge, sizeof huge);
  try {
    (void)decode<JsonValue>(bytes, "w/agent/x");
    ADD_FAILURE() << "no error";
  } catch (const CodecError& e) {
    EXPECT_NE(std::string(e.what()).find("w/agent/x"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("a length of 1099511627776"), std::string::npos) << e.what();
  }
}

TEST(Codec, JsonViewsUseTheSameSchema) {
  FileEntry f;
  f.content.data = "print('hi')\n";
  auto j = record_to_json(encode(f), "file:a.py");
  EXPECT_EQ(j["type"], "file_entry");
  EXPECT_EQ(j["record"]["content"]["text"], "print('hi')\n");
  f.content.data = std::string("\xff\xfe", 2);
  EXPECT_EQ(record_to_json(encode(f), "file:b")["record"]["content"]["base64"], "//4=");
  auto built = record_from_json("question", {{"question", "Proceed?"}, {"options", {"yes", "no"}}});
  auto q = decode<Question>(built, "k");
  EXPECT_EQ(q.question, "Proceed?");
  EXPECT_EQ(q.options.size(), 2u);
  EXPECT_EQ(q.status, "pending");  // defaults kept
  EXPECT_EQ(q.default_answer, std::nullopt);
  auto with_default = record_from_json("question", {{"question", "Q"}, {"default_answer", "yes"}});
  EXPECT_EQ(decode<Question>(with_default, "k").default_answer, "yes");
  EXPECT_EQ(record_to_json(with_default, "k")["record"]["default_answer"], "yes");
  EXPECT_TRUE(record_to_json(built, "k")["record"]["default_answer"].is_null());
  auto fb = record_from_json("file_entry", {{"content", {{"base64", "//4="}}}});
  EXPECT_EQ(decode<FileEntry>(fb, "k").content.data, std::string("\xff\xfe", 2));
  EXPECT_THROW(record_from_json("nonsense", nlohmann::json::object()), Error);
  EXPECT_THROW(record_from_json("question", {{"options", "not-a-list"}}), Error);
}

TEST(KeySpace, KeysAndTheirRecordTypes) {
  EXPECT_EQ(keys::question("q1"), "outbox:question:q1");
  EXPECT_EQ(keys::heartbeat("lint-1"), "agent:lint-1:heartbeat");
  EXPECT_TRUE(keys::is_agent_key(keys::heartbeat("lint-1"), "lint-1", "heartbeat"));
  EXPECT_TRUE(keys::is_agent_key(keys::agent_step("a"), "a", "step"));
  for (std::string_view other : {"agent:lint-1:heartbeats", "agent:lint-12:heartbeat", "agent:lint-1;heartbeat",
                                 "agent:lint:1:heartbeat", "agentx:lint-1:heartbeat"})
    EXPECT_FALSE(keys::is_agent_key(other, "lint-1", "heartbeat")) << other;
  EXPECT_EQ(keys::event(42, 1), "event:00000000000000000042:0001");
  EXPECT_EQ(keys::expected_type(keys::file("src/a.py")), RecordType::file_entry);
  EXPECT_EQ(keys::expected_type(keys::agent_inbox("a", "m1")), RecordType::message);
  EXPECT_EQ(keys::expected_type(keys::result("a")), RecordType::agent_result);
  EXPECT_EQ(keys::expected_type("misc"), std::nullopt);
  EXPECT_LT(keys::event(9, 0), keys::event(10, 0));
}

}  // namespace
}  // namespace remora::proto
