// ModelGateway: serves the model requests workers commit (outbox:model:<id>). Workers hold no
// network and no credentials; the supervisor hands each request to its bundle's provider on one
// of the gateway's threads (a provider that answers in place, like the scripted one, in the
// submitting thread) and reports the reply through a callback (the supervisor commits it to
// inbox:model:<id> with its events). A request id is served at most once per gateway: the
// supervisor skips ids that already have a response, so a worker restarted mid-turn never
// causes a second call.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "shared/bundle.hpp"
#include "supervisor/model_provider.hpp"
#include "supervisor/openai_provider.hpp"
#include "supervisor/scripted_provider.hpp"

namespace remora {

class ModelGateway {
 public:
  using DoneFn = std::function<void(const ModelCall& call, ModelReply reply)>;
  ModelGateway(std::map<std::string, Bundle> bundles, ScriptedProvider::VarsFn vars, DoneFn done,
               unsigned threads = 8);
  ~ModelGateway();  // stops calls in flight (their requests are served again on resume)

  // Queues call unless its request id is queued or in flight already (an immediate provider
  // answers it in this thread, calling `done` before returning). Returns whether it was taken.
  bool submit(ModelCall call);
  // Whether the call's provider answers in place (ModelProvider::immediate): calls it cannot serve
  // are answered in place too, with their error.
  bool immediate(const ModelCall& call);

 private:
  void loop();
  void serve(ModelCall call);  // calls the provider, then `done`
  ModelProvider& provider_for(const Bundle& bundle);

  std::map<std::string, Bundle> bundles_;
  DoneFn done_;
  std::unique_ptr<ScriptedProvider> scripted_;
  std::mutex providers_mu_;
  std::map<std::string, std::unique_ptr<OpenAiProvider>> providers_;  // by server and key

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ModelCall> queue_;
  std::set<std::string> active_;  // queued or in flight
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace remora
