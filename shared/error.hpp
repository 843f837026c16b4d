// remora::Error: the one exception type the shared library throws. Its code says what kind of
// failure it is (callers branch on it; the CLI maps it to an exit code) and its message is a
// complete sentence naming the thing at fault, fit to print as the single line a user sees.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace remora {

enum class Errc {
  not_found,         // no such workspace, namespace or key
  already_exists,    // a namespace name in use
  invalid_argument,  // a bad key, name, or option
  conflict,          // merge refused: keys changed in the parent
  compacted,         // a watch from a revision the change log no longer holds
  corrupt,           // a record that does not decode
  busy,              // a lock held by another live process
  io,                // LMDB or the operating system failed
};

std::string_view name_of(Errc code);

// The exit code the command-line tools give for an error of this kind:
// 1 absent or refused (not_found, already_exists, conflict, compacted); 2 bad input
// (invalid_argument); 3 could not run (busy, io, corrupt).
int exit_code_for(Errc code);

class Error : public std::runtime_error {
 public:
  Error(Errc code, const std::string& message) : std::runtime_error(message), code_(code) {}
  Errc code() const { return code_; }

 private:
  Errc code_;
};

}  // namespace remora
