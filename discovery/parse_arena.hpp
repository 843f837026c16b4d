// ParseArena: a bump allocator for what tree-sitter allocates while one file is parsed and
// queried, dropped whole afterwards. Tree-sitter allocates and frees a small block per syntax node,
// which cost glibc's malloc (and its consolidation of freed blocks) a fifth of discovery's time.
#pragma once

#include <cstddef>

namespace remora {

class ParseArena {
 public:
  // Reserves `capacity` bytes of address space; pages are touched only as a parse needs them.
  // Past the capacity (a huge file), allocations go to malloc as usual.
  explicit ParseArena(std::size_t capacity = std::size_t{64} << 20);
  ~ParseArena();
  ParseArena(const ParseArena&) = delete;
  ParseArena& operator=(const ParseArena&) = delete;

  // While a Scope is open, tree-sitter's allocations on this thread come from the arena; when it
  // closes the arena is emptied, so every tree-sitter object made inside must be deleted inside
  // (a syntax tree parsed from scratch inside may instead be dropped with the arena when
  // holds_everything(): its nodes are all there). Elsewhere, and on other threads, allocations go
  // to malloc. A parser is always deleted: its grammar's scanner allocates with malloc itself.
  class Scope {
   public:
    explicit Scope(ParseArena& arena);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    ParseArena* previous_;
  };

  // Hands tree-sitter the allocator that does this (ts_set_allocator); idempotent. Safe at any
  // time: outside a Scope it is malloc, so blocks allocated before it are freed as before.
  static void install();

  void* allocate(std::size_t size);
  void* reallocate(void* p, std::size_t size);
  void release(void* p);
  bool holds(const void* p) const { return p >= base_ && p < base_ + capacity_; }
  // Whether every allocation through the arena since the Scope opened came from it (none went to
  // malloc for want of room): then a syntax tree parsed from scratch inside lies wholly in it.
  bool holds_everything() const { return !spilled_; }

 private:
  char* base_ = nullptr;
  std::size_t capacity_;
  std::size_t top_ = 0;  // bytes in use from base_
  bool spilled_ = false;  // an allocation in this Scope went to malloc
};

}  // namespace remora
