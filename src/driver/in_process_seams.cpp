// The default channel seams: session programs started and forwarding sockets
// opened by the connection's own process (parleyd not running as root, or an
// application server), as before privilege separation.
#include <signal.h>
#include <sys/wait.h>

#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <utility>

#include "context.hpp"
#include "parley/driver/channel_seams.hpp"
#include "parley/driver/services.hpp"
#include "parley/login/records.hpp"

namespace parley::driver {
namespace {

using asio::ip::tcp;
using Descriptor = asio::posix::stream_descriptor;

/// A program this process started: signalled by pid until it is reaped.
class ChildProcess final : public SessionProcess {
 public:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  bool signal(int number) override {
    if (reaped_) return false;
    return ::kill(-pid_, number) == 0 || ::kill(pid_, number) == 0;
  }
  void reaped() { reaped_ = true; }

 private:
  pid_t pid_;
  bool reaped_ = false;
};

class InProcessStarter final : public SessionStarter {
 public:
  InProcessStarter(ConnectionContext& context, const ProcessOptions& options)
      : executor_(context.impl().executor), peer_(context.peer()), local_(context.local()), options_(options) {}

  void start(SessionStartRequest request, OnStarted on_started, OnExit on_exit) override {
    // Another account's credentials are taken on in the child (we are root).
    auto account = options_.run_as ? options_.run_as(request.user) : login::current_account();
    if (!account) return on_started(std::unexpected("session refused: " + account.error()));
    login::SessionRequest r{request.kind,   std::move(request.command), std::move(request.pty),
                            std::move(request.env), request.user,       std::move(*account),
                            static_cast<bool>(options_.run_as), options_.shell, options_.sftp_server,
                            options_.path,  {peer_.address, peer_.port}, {local_.address, local_.port},
                            options_.login_records};
    auto started = login::start_session(r);
    if (!started) return on_started(std::unexpected(std::move(started.error())));
    if (!started->note.empty() && options_.log) options_.log(started->note);
    auto process = std::make_shared<ChildProcess>(started->pid);
    watch_exit(*started, process, std::move(on_exit));
    SessionStreams streams{std::move(started->master), std::move(started->stdin_w), std::move(started->stdout_r),
                           std::move(started->stderr_r)};
    on_started(Started{std::move(streams), std::move(process)});
  }

 private:
  /// Waits for the pidfd to become readable, reaps the program, ends its login
  /// record and reports its exit.
  void watch_exit(login::StartedSession& started, std::shared_ptr<ChildProcess> process, OnExit on_exit) {
    auto pidfd = std::make_shared<Descriptor>(executor_, started.pidfd.release());
    pidfd->async_wait(Descriptor::wait_read, [pidfd, pid = started.pid, record = std::move(started.record),
                                              process = std::move(process),
                                              on_exit = std::move(on_exit)](std::error_code) {
      int st = 0;
      if (::waitpid(pid, &st, WNOHANG) != pid) {
        // Cancelled before exit (the io_context is going away): reap it if we can.
        if (::waitpid(pid, &st, WNOHANG) != pid) return;
      }
      process->reaped();
      if (record) login::record_logout(*record);
      on_exit(login::ProgramExit::from_wait_status(st));
    });
  }

  asio::any_io_executor executor_;
  PeerInfo peer_, local_;
  ProcessOptions options_;
};

class InProcessOpener final : public ForwardOpener {
 public:
  explicit InProcessOpener(ConnectionContext& context) : executor_(context.impl().executor) {}

  void connect(const std::string& host, std::uint32_t port, OnConnected done) override {
    auto resolver = std::make_shared<tcp::resolver>(executor_);
    auto socket = std::make_shared<tcp::socket>(executor_);
    resolver->async_resolve(
        host, std::to_string(port),
        [resolver, socket, done = std::move(done)](std::error_code ec, tcp::resolver::results_type results) {
          if (ec) return done(std::unexpected(ec.message()));
          asio::async_connect(*socket, results, [socket, done](std::error_code cec, const tcp::endpoint&) {
            if (cec) return done(std::unexpected(cec.message()));
            std::error_code rec;
            const int fd = socket->release(rec);
            if (rec) return done(std::unexpected(rec.message()));
            done(UniqueFd(fd));
          });
        });
  }

  std::expected<UniqueFd, std::string> listen(const std::string& bind_address, std::uint32_t port) override {
    std::string address = bind_address;
    if (address.empty() || address == "*") address = "0.0.0.0";
    if (address == "localhost") address = "127.0.0.1";
    std::error_code ec;
    const auto ip = asio::ip::make_address(address, ec);
    if (ec) return std::unexpected("cannot listen on '" + address + "': not an IP address");
    tcp::acceptor acceptor(executor_);
    const tcp::endpoint endpoint(ip, static_cast<std::uint16_t>(port));
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    int fd = -1;
    if (!ec) fd = acceptor.release(ec);
    if (ec) return std::unexpected("cannot listen on " + address + ":" + std::to_string(port) + ": " + ec.message());
    return UniqueFd(fd);
  }

 private:
  asio::any_io_executor executor_;
};

}  // namespace

std::shared_ptr<SessionStarter> in_process_session_starter(ConnectionContext& context,
                                                           const ProcessOptions& options) {
  return std::make_shared<InProcessStarter>(context, options);
}

std::shared_ptr<ForwardOpener> in_process_forward_opener(ConnectionContext& context) {
  return std::make_shared<InProcessOpener>(context);
}

}  // namespace parley::driver
