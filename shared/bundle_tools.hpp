// Bundle tools: the files of a bundle's tools/ directory, read into the bundle (and so into the
// workspace) for its command tools to run. Bundles are untrusted, and the supervisor reading them
// runs as root, so nothing is read through a link: tools/ and each file in it are opened with
// O_NOFOLLOW beneath the bundle's directory, and a symbolic link, FIFO, device or socket there is
// refused, named, rather than followed or opened. Subdirectories are not read. Each file may hold
// at most kMaxToolFileBytes, all of them together kMaxToolBytes; a larger file is refused from its
// size, before a byte of it is read. Files must be UTF-8 text.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace remora {

inline constexpr std::size_t kMaxToolFileBytes = 1 << 20;  // 1 MiB
inline constexpr std::size_t kMaxToolBytes = 8 << 20;      // 8 MiB

// The files of bundle_dir/tools/ by name (none when there is no tools/). Each problem is added to
// `problems` as "tools/NAME: what is wrong"; the files with a problem are left out.
std::map<std::string, std::string> read_bundle_tools(const std::filesystem::path& bundle_dir,
                                                     std::vector<std::string>& problems);

}  // namespace remora
