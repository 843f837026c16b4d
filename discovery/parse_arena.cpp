#include "discovery/parse_arena.hpp"

#include <sys/mman.h>
#include <tree_sitter/api.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace remora {

namespace {

// Each block is preceded by its size; 16 bytes keep the block aligned as malloc's are.
constexpr std::size_t kHeader = 16;
constexpr std::size_t round_up(std::size_t n) { return (n + 15) & ~std::size_t{15}; }

thread_local ParseArena* t_active = nullptr;  // the arena of the open Scope on this thread

void* ts_arena_malloc(std::size_t size) {
  if (t_active)
    if (void* p = t_active->allocate(size)) return p;
  return std::malloc(size);
}

void* ts_arena_calloc(std::size_t count, std::size_t size) {
  if (t_active && size != 0 && count <= SIZE_MAX / size)
    if (void* p = t_active->allocate(count * size)) return std::memset(p, 0, count * size);
  return std::calloc(count, size);
}

void* ts_arena_realloc(void* p, std::size_t size) {
  if (t_active && p && t_active->holds(p)) return t_active->reallocate(p, size);
  if (!p) return ts_arena_malloc(size);
  return std::realloc(p, size);
}

void ts_arena_free(void* p) {
  if (t_active && p && t_active->holds(p))
    t_active->release(p);
  else
    std::free(p);
}

std::size_t size_of(const void* p) {
  std::size_t size;
  std::memcpy(&size, static_cast<const char*>(p) - kHeader, sizeof size);
  return size;
}

}  // namespace

ParseArena::ParseArena(std::size_t capacity) : capacity_(capacity) {
  void* p = ::mmap(nullptr, capacity_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    capacity_ = 0;  // every allocation goes to malloc
  else
    base_ = static_cast<char*>(p);
}

ParseArena::~ParseArena() {
  if (base_) ::munmap(base_, capacity_);
}

ParseArena::Scope::Scope(ParseArena& arena) : previous_(t_active) {
  t_active = &arena;
  arena.spilled_ = false;
}

ParseArena::Scope::~Scope() {
  t_active->top_ = 0;
  t_active = previous_;
}

void ParseArena::install() {
  static std::once_flag once;
  std::call_once(once, [] { ts_set_allocator(ts_arena_malloc, ts_arena_calloc, ts_arena_realloc, ts_arena_free); });
}

void* ParseArena::allocate(std::size_t size) {
  const std::size_t need = kHeader + round_up(size);
  if (size > capacity_ || need > capacity_ - top_) {
    spilled_ = true;
    return nullptr;
  }
  char* p = base_ + top_ + kHeader;
  std::memcpy(p - kHeader, &size, sizeof size);
  top_ += need;
  return p;
}

void* ParseArena::reallocate(void* p, std::size_t size) {
  const std::size_t old = size_of(p);
  char* block = static_cast<char*>(p);
  // The last block grows (or shrinks) where it is.
  if (block + round_up(old) == base_ + top_ && size <= capacity_ &&
      round_up(size) <= capacity_ - static_cast<std::size_t>(block - base_)) {
    top_ = static_cast<std::size_t>(block - base_) + round_up(size);
    std::memcpy(block - kHeader, &size, sizeof size);
    return p;
  }
  void* q = allocate(size);
  if (!q) q = std::malloc(size);
  if (q) std::memcpy(q, p, old < size ? old : size);
  return q;
}

void ParseArena::release(void* p) {
  // The last block is given back; the others wait for the Scope to close.
  char* block = static_cast<char*>(p);
  if (block + round_up(size_of(p)) == base_ + top_) top_ = static_cast<std::size_t>(block - base_) - kHeader;
}

}  // namespace remora
