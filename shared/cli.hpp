// Start-up shared by remora's programs: logs go to stderr (stdout is for output) at warn level
// unless asked for more, and command-line errors exit with 2 (bad input), not CLI11's own codes.
#pragma once

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

namespace remora::cli {

// Whether NO_COLOR (https://no-color.org) asks for no colour anywhere.
inline bool no_colour_asked() {
  const char* no_colour = std::getenv("NO_COLOR");
  return no_colour && *no_colour;
}

// Whether stdout takes ANSI colours: a terminal, and NO_COLOR not set.
inline bool colour_stdout() { return ::isatty(STDOUT_FILENO) && !no_colour_asked(); }

inline void init_logging(const std::string& program, spdlog::level::level_enum level = spdlog::level::warn) {
  // Coloured on a terminal unless NO_COLOR is set.
  spdlog::set_default_logger(
      spdlog::stderr_color_mt(program, no_colour_asked() ? spdlog::color_mode::never : spdlog::color_mode::automatic));
  spdlog::set_level(level);
}

// Parses the command line. Returns the code to exit with at once (0 after --help or --version,
// 2 for a usage error, which CLI11 has printed), or nullopt to go on.
inline std::optional<int> parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::ParseError& e) {
    // `remora bogus`: CLI11 would say only that a subcommand is required.
    if (app.get_require_subcommand_min() > 0 && app.get_subcommands().empty() && !app.remaining().empty()) {
      std::string names;
      for (const auto* sub : app.get_subcommands({})) names += (names.empty() ? "" : ", ") + sub->get_name();
      std::cerr << std::filesystem::path(argv[0]).filename().string() << ": unknown command '" << app.remaining().front() << "' (commands: " << names
                << ")\n";
      return 2;
    }
    return app.exit(e) == 0 ? 0 : 2;
  }
}

}  // namespace remora::cli
