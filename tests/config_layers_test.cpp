// The model server's layered configuration (supervisor/config_layers.hpp): each layer overrides
// the one below, bundles' own values give way to it, `remora config` names each source and never
// a key, a bad file is refused naming its line, and an openai bundle runs against a real chat
// server configured only through remora.yaml and a flag.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "chat_server.hpp"
#include "shared/error.hpp"
#include "supervisor/config_layers.hpp"
#include "test_support.hpp"

namespace remora {
namespace {

using nlohmann::json;
using test::shell;
using test::TempDir;
using test::write_text;

const std::string kRemora = REMORA_BIN;

std::string model_yaml(const std::string& url, const std::string& model, const std::string& key_env) {
  return "model:\n  base_url: " + url + "\n  model: " + model + "\n  api_key_env: " + key_env + "\n";
}

TEST(ConfigLayers, EachLayerOverridesTheOneBelow) {
  TempDir d;
  write_text(d / "user.yaml", model_yaml("http://user/v1", "user-model", "USER_KEY"));
  write_text(d / "remora.yaml", "model:\n  base_url: http://project/v1\n  model: project-model\n");
  std::map<std::string, std::string> env{{"REMORA_MODEL", "env-model"}, {"REMORA_MODEL_URL", ""}};
  ConfigLayerInputs in;
  in.user_file = d / "user.yaml";
  in.project_file = d / "remora.yaml";
  in.env = [&](const std::string& n) -> std::optional<std::string> {
    auto it = env.find(n);
    return it == env.end() ? std::nullopt : std::optional(it->second);
  };
  in.flags.base_url = "http://flag/v1";
  auto c = ModelServerConfig::load(in);
  EXPECT_EQ(c.base_url.value, "http://flag/v1");
  EXPECT_EQ(c.base_url.layer, "flag");
  EXPECT_EQ(c.model.value, "env-model");  // an empty REMORA_MODEL_URL is unset
  EXPECT_EQ(c.model.source, "REMORA_MODEL");
  EXPECT_EQ(c.api_key_env.value, "USER_KEY");
  EXPECT_EQ(c.api_key_env.layer, "user");
  in.flags = {};
  env.clear();
  c = ModelServerConfig::load(in);
  EXPECT_EQ(c.base_url.value, "http://project/v1");
  EXPECT_EQ(c.base_url.source, (d / "remora.yaml").string());
  EXPECT_EQ(c.model.layer, "project");
  in.project_file.reset();
  c = ModelServerConfig::load(in);
  EXPECT_EQ(c.base_url.layer, "user");
  in.user_file.reset();
  c = ModelServerConfig::load(in);
  EXPECT_EQ(c.base_url.layer, "default");
  EXPECT_EQ(c.base_url.value, ModelSettings{}.base_url);
}

TEST(ConfigLayers, ABundlesValuesAreDefaultsTheLayersOverride) {
  Bundle openai, scripted;
  openai.model.provider = "openai";
  openai.model.base_url = "http://bundle/v1";
  openai.model.model = "bundle-model";
  scripted.model.base_url = "http://scripted/v1";
  std::map<std::string, Bundle> bundles{{"o", openai}, {"s", scripted}};
  ModelServerConfig c;
  c.base_url = {"http://layer/v1", "flag", "--model-url"};
  c.apply(bundles);
  EXPECT_EQ(bundles.at("o").model.base_url, "http://layer/v1");
  EXPECT_EQ(bundles.at("o").model.model, "bundle-model");  // no layer gave a model
  EXPECT_EQ(bundles.at("s").model.base_url, "http://scripted/v1");
}

TEST(ConfigLayers, ABadFileIsRefusedNamingItsLine) {
  TempDir d;
  write_text(d / "remora.yaml", "model:\n  base_url: ftp://x\n  modle: m\n");
  auto r = shell("cd " + d.path().string() + " && XDG_CONFIG_HOME=" + d.path().string() + " " + kRemora + " config");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("remora.yaml: line 2: model.base_url: 'ftp://x' is not an http:// or https:// URL"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("remora.yaml: line 3: model.modle: unknown field"), std::string::npos) << r.out;
  auto missing = shell(kRemora + " config --config " + (d / "nope.yaml").string());
  EXPECT_EQ(missing.code, 2) << missing.out;
}

TEST(ConfigLayers, ConfigPrintsEachSourceAndTheKeyOnlyAsSetOrUnset) {
  TempDir d;
  write_text(d / "xdg" / "remora" / "config.yaml", model_yaml("http://user/v1", "user-model", "CFG_TEST_KEY"));
  write_text(d / "remora.yaml", "model:\n  base_url: http://project/v1\n");
  const std::string pre = "cd " + d.path().string() + " && env -u REMORA_MODEL_URL -u REMORA_API_KEY_ENV XDG_CONFIG_HOME=" +
                          (d / "xdg").string() + " REMORA_MODEL=env-model ";
  auto text = shell(pre + "CFG_TEST_KEY=sk-very-secret-1234 " + kRemora + " config --api-key-env CFG_TEST_KEY");
  ASSERT_EQ(text.code, 0) << text.out;
  EXPECT_NE(text.out.find("(project: remora.yaml)"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("(env: REMORA_MODEL)"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("(flag: --api-key-env)"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("api_key      set"), std::string::npos) << text.out;
  EXPECT_EQ(text.out.find("sk-very-secret"), std::string::npos) << text.out;
  auto j = json::parse(shell(pre + "env -u CFG_TEST_KEY " + kRemora + " config --json").out);
  EXPECT_EQ(j.at("base_url").at("layer"), "project");
  EXPECT_EQ(j.at("model").at("source"), "REMORA_MODEL");
  EXPECT_EQ(j.at("api_key_env").at("layer"), "user");
  EXPECT_EQ(j.at("api_key_env").at("source"), (d / "xdg" / "remora" / "config.yaml").string());
  EXPECT_EQ(j.at("api_key"), "unset");
}

TEST(ConfigLayers, AnOpenAiBundleRunsOnTheServerOfRemoraYamlAndAFlag) {
  test::ChatServer server([](const json&, int) {
    return test::ChatAction::tool_calls({test::tool_call("c1", "submit_result", {{"summary", "done"}})});
  });
  TempDir d;
  write_text(d / "bundles" / "asker" / "bundle.yaml",
             "name: asker\nkind: agent\nsystem_prompt: s\nuser_prompt: \"agent {agent}\"\n"
             "model: {provider: openai, model: bundle-model, base_url: \"http://127.0.0.1:9/v1\", retries: 0}\n"
             "tools: [submit_result]\n");
  write_text(d / "graph.yaml", "name: g\nagents:\n  - {id: a, bundle: asker}\n");
  write_text(d / "remora.yaml", "model:\n  base_url: " + server.base_url() + "\n");
  auto r = shell("cd " + d.path().string() + " && env -u REMORA_MODEL_URL -u REMORA_MODEL -u REMORA_API_KEY_ENV XDG_CONFIG_HOME=" +
                 d.path().string() + " " + kRemora + " -w ws run graph.yaml --json --model flag-model");
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_GE(server.request_count(), 1u);
  for (const auto& req : server.requests()) EXPECT_EQ(req.body.at("model"), "flag-model");
  // Stored with the run: the bundle record holds the server it ran on.
  auto events = shell(kRemora + " -w " + (d / "ws").string() + " status --json");
  EXPECT_EQ(events.code, 0) << events.out;
}

}  // namespace
}  // namespace remora
