#include "shared/key_class.hpp"

namespace remora {
namespace {

constexpr std::uint64_t kFnvOffset = 14695981039346656037ull;
constexpr std::uint64_t kFnvPrime = 1099511628211ull;

std::uint32_t slot_of(std::uint64_t hash) { return static_cast<std::uint32_t>(hash % KeyClass::kSlots); }

// Calls on_cut(hash of key[0, i)) for every cut length i of key, shortest first.
template <class F>
void for_each_cut(std::string_view key, F&& on_cut) {
  std::uint64_t h = kFnvOffset;
  std::size_t segment = 0;  // length of the prefix ending at the last ':' seen
  on_cut(h);
  for (std::size_t i = 0; i < key.size(); ++i) {
    h = (h ^ static_cast<unsigned char>(key[i])) * kFnvPrime;
    const std::size_t len = i + 1;
    if (key[i] == ':') segment = len;
    if (len - segment <= KeyClass::kCutWindow) on_cut(h);
  }
}

}  // namespace

std::size_t KeyClass::watch_slot(std::string_view prefix) {
  std::uint64_t last = 0;
  for_each_cut(prefix, [&](std::uint64_t h) { last = h; });
  return slot_of(last);
}

void KeyClass::add_ring_slots(std::string_view key, Slots& slots) {
  for_each_cut(key, [&](std::uint64_t h) { slots.push_back(slot_of(h)); });
}

}  // namespace remora
