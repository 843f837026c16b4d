// Project paths: the one place that decides which paths a model may name. A project path is
// relative to the project root, '/'-separated, normalized ("src/./a//b.py" is "src/a/b.py"), and
// stays inside the project: absolute paths, '..' that climbs out, NUL bytes and paths too long
// for a workspace key are refused with an Error(invalid_argument) whose text tells the model
// what to send instead.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace remora::worker {

// A file path: never empty, never the root itself. `what` names the argument in messages.
std::string project_path(std::string_view given, std::string_view what = "path");

// A directory path: "" (also ".", "./" or "/"-less empty) is the project root.
std::string project_dir(std::string_view given, std::string_view what = "path");

// Whether a FileEntry mode is a symbolic link (its content is then the link's target).
bool is_symlink(std::uint32_t mode);

// The project path a symlink at link_path points to. Refused when the target is absolute or
// climbs out of the project, since following it would read or write outside the project.
std::string symlink_target(std::string_view link_path, std::string_view target);

}  // namespace remora::worker
