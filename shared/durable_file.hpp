// File operations that survive a crash of the process or of the machine at any moment: each
// either happened and is on disk, or did not happen. Errors are Error(io) naming the path.
#pragma once

#include <filesystem>
#include <functional>
#include <string_view>

namespace remora {

// fsync of a file or a directory (a directory's fsync makes renames and creations in it durable).
void sync_path(const std::filesystem::path& path);

// Replaces file with text: written to <file>.tmp, synced, renamed over file, directory synced.
void write_file_durably(const std::filesystem::path& file, std::string_view text);

// Creates file (refused if it exists), lets fill write it through its descriptor, and syncs it.
// With direct, writes bypass the page cache (O_DIRECT, where the file system has it): fill must
// then write page-aligned buffers, as LMDB's copy does.
void create_file_synced(const std::filesystem::path& file, const std::function<void(int fd)>& fill, bool direct);

// Copies from to a new file `to` (refused if it exists) and syncs it; the caller renames it into place.
void copy_file_synced(const std::filesystem::path& from, const std::filesystem::path& to);

// rename(2) and a sync of the directories involved.
void rename_durably(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace remora
