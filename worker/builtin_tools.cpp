#include "worker/builtin_tools.hpp"

#include <algorithm>
#include <iterator>

namespace remora::worker {

FunctionTool::FunctionTool(std::string name, std::string description, std::string_view parameters, Fn fn)
    : spec_{std::move(name), std::move(description), nlohmann::json::parse(parameters)}, fn_(std::move(fn)) {}

Tools builtin_tools() {
  Tools all;
  auto take = [&](Tools group) { std::ranges::move(group, std::back_inserter(all)); };
  take(file_tools());
  take(search_tools());
  take(agent_tools());
  std::ranges::sort(all, {}, [](const auto& t) { return t->spec().name; });
  return all;
}

}  // namespace remora::worker
