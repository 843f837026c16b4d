#include "supervisor/model_gateway.hpp"

#include <spdlog/spdlog.h>

#include "shared/error.hpp"
#include "supervisor/openai_provider.hpp"

namespace remora {

ModelGateway::ModelGateway(std::map<std::string, Bundle> bundles, ScriptedProvider::VarsFn vars, DoneFn done,
                           unsigned threads)
    : bundles_(bundles), done_(std::move(done)), scripted_(std::make_unique<ScriptedProvider>(bundles, std::move(vars))) {
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { loop(); });
}

ModelGateway::~ModelGateway() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  {
    std::lock_guard lk(providers_mu_);
    for (auto& [endpoint, p] : providers_) p->stop();  // calls in flight end now
  }
  for (auto& t : threads_) t.join();
}

bool ModelGateway::submit(ModelCall call) {
  {
    std::lock_guard lk(mu_);
    if (!active_.insert(call.request_id).second) return false;
  }
  if (immediate(call)) {
    serve(std::move(call));
    return true;
  }
  {
    std::lock_guard lk(mu_);
    queue_.push_back(std::move(call));
  }
  cv_.notify_one();
  return true;
}

bool ModelGateway::immediate(const ModelCall& call) {
  auto it = bundles_.find(call.settings.value("bundle", ""));
  if (it == bundles_.end()) return true;
  try {
    return provider_for(it->second).immediate();
  } catch (const std::exception&) {
    return true;
  }
}

ModelProvider& ModelGateway::provider_for(const Bundle& bundle) {
  const auto& m = bundle.model;
  if (m.provider == "scripted") return *scripted_;
  if (m.provider != "openai") throw Error(Errc::invalid_argument, "provider '" + m.provider + "' is not available");
  // One provider per server and key, so that its concurrency limit holds across agents.
  const std::string endpoint = m.base_url + "\n" + m.api_key_env;
  std::lock_guard lk(providers_mu_);
  auto it = providers_.find(endpoint);
  if (it == providers_.end())
    it = providers_.emplace(endpoint, std::make_unique<OpenAiProvider>(OpenAiConfig::from_settings(m))).first;
  return *it->second;
}

void ModelGateway::loop() {
  for (;;) {
    ModelCall call;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;  // queued calls stay unanswered: served again when the run resumes
      call = std::move(queue_.front());
      queue_.pop_front();
    }
    serve(std::move(call));
  }
}

void ModelGateway::serve(ModelCall call) {
  ModelReply reply;
  try {
    auto it = bundles_.find(call.settings.value("bundle", ""));
    if (it == bundles_.end()) throw Error(Errc::invalid_argument, "no bundle '" + call.settings.value("bundle", "") + "' in the graph");
    call.reply_limits = it->second.model.json_limits();
    reply = provider_for(it->second).complete(call);
  } catch (const std::exception& e) {
    reply = ModelReply{};
    reply.error = e.what();
  }
  if (!reply.ok) spdlog::warn("model request {} failed: {}", call.request_id, reply.error);
  done_(call, std::move(reply));
  std::lock_guard lk(mu_);
  active_.erase(call.request_id);
}

}  // namespace remora
