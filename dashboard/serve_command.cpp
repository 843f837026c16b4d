#include "dashboard/serve_command.hpp"

#include <signal.h>

#include <charconv>
#include <iostream>

#include "dashboard/dashboard_server.hpp"
#include "shared/checkpoint.hpp"

namespace remora {

namespace {

bool loopback(const std::string& host) { return host.rfind("127.", 0) == 0 || host == "::1"; }

// HOST:PORT or [V6]:PORT into the server's options; a host that is not loopback only with
// allow_remote, and then with a warning.
ServeOptions serve_options(const std::string& dir, const ServeFlags& flags) {
  ServeOptions o;
  o.workspace_dir = dir;
  const auto colon = flags.listen.rfind(':');
  if (colon == std::string::npos) throw Error(Errc::invalid_argument, "--listen takes HOST:PORT, not '" + flags.listen + "'");
  o.host = flags.listen.substr(0, colon);
  if (o.host.size() > 2 && o.host.front() == '[' && o.host.back() == ']') o.host = o.host.substr(1, o.host.size() - 2);
  if (o.host == "localhost") o.host = "127.0.0.1";
  const auto port = std::string_view(flags.listen).substr(colon + 1);
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), o.port);
  if (ec != std::errc() || end != port.data() + port.size() || o.port < 0 || o.port > 65535)
    throw Error(Errc::invalid_argument, "--listen: '" + std::string(port) + "' is not a port (0-65535)");
  if (!loopback(o.host)) {
    if (!flags.allow_remote)
      throw Error(Errc::invalid_argument, "--listen " + flags.listen +
                                              " is not a loopback address: other machines could reach the dashboard; "
                                              "say --allow-remote to mean it");
    std::cerr << "remora: warning: the dashboard listens on " << flags.listen
              << ", beyond this machine, over plain HTTP: anyone who sees its link (or its traffic) can "
                 "answer, accept and cancel\n";
  }
  return o;
}

}  // namespace

int cmd_serve(const std::string& dir, const ServeFlags& flags) {
  auto options = serve_options(dir, flags);
  auto open = [dir] {
    Checkpoints::recover_restore(dir);
    WorkspaceOptions wo;
    wo.dir = dir;
    wo.create = false;
    return Workspace::open(wo);
  };
  // SIGINT and SIGTERM stop the server (a thread waits for them; they are blocked elsewhere).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  DashboardServer server(open, options);
  std::cout << "remora: dashboard of workspace " << dir << " at " << server.url() << std::endl;
  std::thread signals([&] {
    int sig = 0;
    sigwait(&set, &sig);
    server.stop();
  });
  signals.detach();  // it ends with the process
  server.serve();
  return 0;
}

BackgroundDashboard::BackgroundDashboard(Workspace& ws, const std::string& dir, const ServeFlags& flags)
    : server_(std::make_unique<DashboardServer>(ws, serve_options(dir, flags))) {
  std::cerr << "remora: dashboard at " << server_->url() << std::endl;
  thread_ = std::thread([this] { server_->serve(); });
}

BackgroundDashboard::~BackgroundDashboard() {
  server_->stop();
  thread_.join();
}

}  // namespace remora
