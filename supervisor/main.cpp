// remora: the supervisor command line.
#include <CLI/CLI.hpp>
#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"remora: run graphs of code agents in sandboxed workers over an LMDB workspace"};
  app.set_version_flag("--version", "remora 0.1.0");
  app.require_subcommand(0);
  CLI11_PARSE(app, argc, argv);
  std::cout << app.help();
  return 0;
}
