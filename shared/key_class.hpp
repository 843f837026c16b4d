// KeyClass: maps keys and watched prefixes onto the doorbell's slots, so that a commit wakes only
// the watchers of what it touched.
//
// A key's *cuts* are the prefixes it is rung under: the empty prefix, every prefix ending in ':'
// and every prefix reaching at most kCutWindow bytes past the last ':' before its end. Whether a
// length is a cut depends only on the bytes before it, so every key under a prefix P has all of
// P's cuts; a watcher of P waits on the slot of P's longest cut, which every such key rings.
// Different cuts may share a slot (a hash into kSlots): that costs a spurious wake-up, never a
// lost one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace remora {

struct KeyClass {
  // Many slots, so that a commit (which rings a slot per cut of each key) seldom rings another
  // watcher's slot by collision: with 128 agents, ~0.25 spurious wake-ups a commit.
  static constexpr std::size_t kSlots = 8192;
  static constexpr std::size_t kCutWindow = 24;
  using Slots = std::vector<std::uint32_t>;  // may repeat; Doorbell::ring rings each once

  // The slot a watcher of `prefix` waits on.
  static std::size_t watch_slot(std::string_view prefix);
  // Appends to `slots` every slot a commit touching `key` must ring.
  static void add_ring_slots(std::string_view key, Slots& slots);
};

}  // namespace remora
