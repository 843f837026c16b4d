// remora-worker: runs one agent; talks to the world only through the workspace.
#include <CLI/CLI.hpp>
#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"remora-worker: runs one agent of a graph (started by the remora supervisor)"};
  app.set_version_flag("--version", "remora-worker 0.1.0");
  CLI11_PARSE(app, argc, argv);
  std::cout << app.help();
  return 0;
}
