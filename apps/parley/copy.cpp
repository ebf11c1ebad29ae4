// `parley cp [-r] [-p] [-q] [-P port] [-F file] [-J jump] [-i key] [-o opt] [-v] SOURCE... DEST`:
// scp's command line over SFTP. The connection is parley's own (ssh_config, jump
// hosts, the secrets file, host keys) running the "sftp" subsystem, whose channel
// is bridged to a socketpair; the copies run on a thread of their own on the other
// end (SftpFiles), so the connection's loop never waits for a disk.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <thread>

#include "client_run.hpp"
#include "config_files.hpp"
#include "sftp_files.hpp"

namespace parley::app {
namespace {

namespace fs = std::filesystem;

/// A command-line path: local, or [user@]host:path as scp reads it (a colon
/// before any slash; "[v6 address]:path"; a leading colon is part of a local name).
struct Place {
  bool remote = false;
  std::string user, host, path;
};

Place place_of(const std::string& arg) {
  Place p;
  std::size_t colon = std::string::npos;
  if (arg.starts_with('[')) {
    const auto close = arg.find("]:");
    if (close == std::string::npos) return {false, "", "", arg};
    p.host = arg.substr(1, close - 1);
    colon = close + 1;
  } else {
    colon = arg.find(':');
    const auto slash = arg.find('/');
    if (colon == std::string::npos || colon == 0 || (slash != std::string::npos && slash < colon))
      return {false, "", "", arg};
    p.host = arg.substr(0, colon);
  }
  if (const auto at = p.host.rfind('@'); at != std::string::npos) {
    p.user = p.host.substr(0, at);
    p.host = p.host.substr(at + 1);
  }
  p.remote = true;
  p.path = arg.substr(colon + 1);
  // The server's sessions start in the home directory: "~/x" is "x", "~" and "" are ".".
  if (p.path.starts_with("~/")) p.path = p.path.substr(2);
  if (p.path.empty() || p.path == "~") p.path = ".";
  return p;
}

std::string join(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir == ".") return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

std::string base_name(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// A name a server listed: one component, nothing that climbs out of the target.
bool safe_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos;
}

struct Plan {
  bool recursive = false, preserve = false, progress = false;
  bool upload = false;
  std::vector<std::string> sources;  // paths on the side they come from
  std::string dest;
};

/// scp's progress line, redrawn at most every 200 ms and once at the end.
class Meter {
 public:
  Meter(bool on, std::string name) : on_(on), name_(std::move(name)), start_(std::chrono::steady_clock::now()) {}
  void update(std::uint64_t done, std::optional<std::uint64_t> total, bool last = false) {
    if (!on_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!last && now - shown_ < std::chrono::milliseconds(200)) return;
    shown_ = now;
    const double seconds = std::max(1e-3, std::chrono::duration<double>(now - start_).count());
    const int percent = total && *total > 0 ? static_cast<int>(done * 100 / *total) : 100;
    std::fprintf(stdout, "\r%-40.40s %3d%% %8.1f MiB %7.1f MiB/s", name_.c_str(), percent,
                 static_cast<double>(done) / 1048576.0, static_cast<double>(done) / 1048576.0 / seconds);
    if (last) std::fputc('\n', stdout);
    std::fflush(stdout);
  }

 private:
  bool on_;
  std::string name_;
  std::chrono::steady_clock::time_point start_, shown_{};
};

class Copier {
 public:
  Copier(SftpFiles& files, const Plan& plan) : f_(files), plan_(plan) {}

  /// 0 when every file was copied; 1 after any error (each said on stderr).
  int run() {
    if (auto s = f_.start(); !s) return error("SFTP session: " + s.error()), 1;
    bool dest_dir = false;
    if (plan_.upload) {
      auto a = f_.stat(plan_.dest);
      dest_dir = a && a->is_directory();
    } else {
      std::error_code ec;  // (every filesystem call here says why, never throws)
      dest_dir = fs::is_directory(plan_.dest, ec);
    }
    if (plan_.sources.size() > 1 && !dest_dir) return error(plan_.dest + ": Not a directory"), 1;
    for (const auto& src : plan_.sources) {
      if (!f_.broken().empty()) break;
      const std::string target = dest_dir ? join(plan_.dest, base_name(src)) : plan_.dest;
      plan_.upload ? upload(src, target) : download(src, target);
    }
    return failed_ ? 1 : 0;
  }

 private:
  void error(const std::string& what) {
    std::cerr << "parley: " << what << "\n";
    failed_ = true;
  }

  void upload(const std::string& local, const std::string& remote) {
    struct stat st{};
    if (::stat(local.c_str(), &st) != 0) return error(local + ": " + std::strerror(errno));
    if (S_ISDIR(st.st_mode)) {
      if (!plan_.recursive) return error(local + ": is a directory (use -r)");
      auto a = f_.stat(remote);
      if (!(a && a->is_directory()))
        if (auto m = f_.mkdir(remote, st.st_mode | 0700); !m) return error(m.error());
      std::error_code ec;
      for (fs::directory_iterator it(local, ec), end; !ec && it != end; it.increment(ec)) {
        if (!f_.broken().empty()) return;
        upload(it->path().string(), join(remote, it->path().filename().string()));
      }
      if (ec) error(local + ": " + ec.message());
      if (plan_.preserve) {  // as scp -p: the directory's mode and times too, once filled
        client::SftpAttrs keep;
        keep.permissions = st.st_mode & 07777;
        keep.atime = static_cast<std::uint32_t>(st.st_atime);
        keep.mtime = static_cast<std::uint32_t>(st.st_mtime);
        if (auto r = f_.setstat(remote, keep); !r) error(r.error());
      }
      return;
    }
    if (!S_ISREG(st.st_mode)) return error(local + ": not a regular file");
    Meter meter(plan_.progress, base_name(local));
    std::uint64_t last = 0;
    bool shown = false;
    auto r = f_.upload(local, remote, plan_.preserve, [&](std::uint64_t d, auto t) {
      last = d;
      shown = true;
      meter.update(d, t);
    });
    if (r || shown) meter.update(r ? static_cast<std::uint64_t>(st.st_size) : last, static_cast<std::uint64_t>(st.st_size), true);
    if (!r) error(r.error());
  }

  void download(const std::string& remote, const std::string& local) {
    auto a = f_.stat(remote);
    if (!a) return error(a.error());
    if (a->is_directory()) {
      if (!plan_.recursive) return error(remote + ": is a directory (use -r)");
      std::error_code ec;
      if (!fs::is_directory(local, ec) && !fs::create_directory(local, ec))
        return error(local + ": " + (ec ? ec.message() : std::string("cannot create the directory")));
      auto names = f_.list(remote);
      if (!names) return error(names.error());
      for (const auto& n : *names) {
        if (!f_.broken().empty()) return;
        if (!safe_name(n.filename)) {
          error(remote + ": the server listed a name that is not a plain file name; skipped");
          continue;
        }
        download(join(remote, n.filename), join(local, n.filename));
      }
      if (plan_.preserve) keep_mode_and_times(local, *a);
      return;
    }
    if (!a->is_regular()) return error(remote + ": not a regular file");
    Meter meter(plan_.progress, base_name(remote));
    std::uint64_t last = 0;
    auto r = f_.download(remote, local, plan_.preserve, [&](std::uint64_t d, auto t) {
      last = d;
      meter.update(d, t);
    });
    if (r || last > 0) meter.update(last, a->size, true);
    if (!r) error(r.error());
  }

  void keep_mode_and_times(const std::string& local, const client::SftpAttrs& a) {
    if (a.permissions && ::chmod(local.c_str(), *a.permissions & 07777) != 0)
      error(local + ": " + std::strerror(errno));
    if (a.atime && a.mtime) {
      const timeval times[2] = {{static_cast<time_t>(*a.atime), 0}, {static_cast<time_t>(*a.mtime), 0}};
      if (::utimes(local.c_str(), times) != 0) error(local + ": " + std::strerror(errno));
    }
  }

  SftpFiles& f_;
  const Plan& plan_;
  bool failed_ = false;
};

struct CopyLine {
  bool recursive = false, preserve = false, quiet = false;
  int verbose = 0;
  std::optional<std::string> port, config, jump;
  std::vector<std::string> options, identities, paths;
};

}  // namespace

int copy_main(int argc, char** argv) {
  CLI::App app{"parley cp: copy files to or from a host over SFTP, as scp", "parley cp"};
  CopyLine a;
  app.add_flag("-r", a.recursive, "Copy directories and what they hold");
  app.add_flag("-p", a.preserve, "Keep modes and modification times");
  app.add_flag("-q", a.quiet, "No progress meter");
  app.add_flag("-v", a.verbose, "More log output (repeatable); never secrets");
  app.add_option("-P", a.port, "Port on the server (as scp; parley's -p)");
  app.add_option("-F", a.config, "Configuration file, as parley -F");
  app.add_option("-J", a.jump, "Jump hosts, as parley -J");
  app.add_option("-i", a.identities, "Private key file (repeatable)")->allow_extra_args(false);
  app.add_option("-o", a.options, "Option=value, as parley -o")->allow_extra_args(false);
  app.add_option("paths", a.paths, "SOURCE... DESTINATION ([user@]host:path for the remote side)")->required()->expected(2, -1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  Plan plan;
  plan.recursive = a.recursive;
  plan.preserve = a.preserve;
  plan.progress = !a.quiet && ::isatty(1) != 0;
  const Place dest = place_of(a.paths.back());
  std::optional<Place> remote = dest.remote ? std::optional(dest) : std::nullopt;
  for (std::size_t i = 0; i + 1 < a.paths.size(); ++i) {
    const Place p = place_of(a.paths[i]);
    if (p.remote == dest.remote || (p.remote && remote && (p.host != remote->host || p.user != remote->user))) {
      std::cerr << "parley cp: copies go between this machine and one host: local to host:path, or host:path to local\n";
      return 1;
    }
    if (p.remote) remote = p;
    plan.sources.push_back(p.path);
  }
  plan.upload = dest.remote;
  plan.dest = dest.path;
  // The connection as parley would make it, running the sftp subsystem.
  std::vector<std::string> args{"parley", "-T", "-o", "SessionType=subsystem", "-o", "ClearAllForwardings=yes"};
  for (const auto& o : a.options) args.insert(args.end(), {"-o", o});
  for (const auto& i : a.identities) args.insert(args.end(), {"-i", i});
  if (a.config) args.insert(args.end(), {"-F", *a.config});
  if (a.jump) args.insert(args.end(), {"-J", *a.jump});
  if (a.port) args.insert(args.end(), {"-p", *a.port});
  if (!remote->user.empty()) args.insert(args.end(), {"-l", remote->user});
  if (a.verbose > 0) args.push_back("-" + std::string(static_cast<std::size_t>(std::min(a.verbose, 3)), 'v'));
  args.insert(args.end(), {remote->host, "sftp"});
  std::vector<const char*> argv_out;
  for (const auto& s : args) argv_out.push_back(s.c_str());
  auto options = parse_client_options(static_cast<int>(argv_out.size()), argv_out.data(), system_config_environment());
  if (!options) {
    if (!options.error().message.empty()) std::cerr << "parley: " << options.error().message << "\n";
    return options.error().exit_code;
  }
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
    std::perror("parley cp: socketpair");
    return 1;
  }
  ::signal(SIGPIPE, SIG_IGN);  // a side that went away is an error value, not a signal
  int copied = 1;
  std::thread copies([&] {
    SftpFiles files(ends[1]);
    copied = Copier(files, plan).run();
    ::shutdown(ends[1], SHUT_WR);  // the subsystem's input ends: sftp-server exits
  });
  // An 8 MiB window: the server may send what 32 reads of 255 KiB ask for before
  // waiting for us (2 MiB, a session's window, would hold 8), as a long path needs.
  const connection::ChannelLimits limits{8u << 20, 32 * 1024, 16};
  const int session = run_client(*options, [&](driver::ClientSessionOptions& s) {
    s.stdin_fd = ends[0];
    s.stdout_fd = ends[0];
    s.on_session_start = nullptr;
  }, limits);
  ::shutdown(ends[0], SHUT_RDWR);  // copies still waiting on the server stop now
  copies.join();
  ::close(ends[0]);
  ::close(ends[1]);
  return copied != 0 ? copied : session == 0 ? 0 : 1;
}

}  // namespace parley::app
