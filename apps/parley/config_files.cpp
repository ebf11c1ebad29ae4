// ssh_config's files, glob and shell for parley, as ssh's readconf.c uses them.
#include "config_files.hpp"

#include <fcntl.h>
#include <glob.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace parley::app {
namespace {

using client::ssh_config::ReadError;
using ReadResult = client::ssh_config::Files::ReadResult;

/// A file's text, bounded; nullopt when it does not exist. As ssh, a file that
/// must be checked is refused when another user owns it or others may write it.
ReadResult read_config(const std::string& path, bool check_permissions) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    return std::unexpected(ReadError{"Can't open " + path + ": " + std::strerror(errno), true});
  }
  struct stat st {};
  std::string text;
  std::string error;
  if (::fstat(fd, &st) != 0) {
    error = std::string("fstat: ") + std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    error = path + " is not a regular file";
  } else if (check_permissions &&
             ((st.st_uid != 0 && st.st_uid != ::getuid()) || (st.st_mode & 022) != 0)) {
    error = "Bad owner or permissions on " + path;
  } else {
    std::array<char, 8192> buffer{};
    for (;;) {
      const ssize_t n = ::read(fd, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) error = "read " + path + ": " + std::strerror(errno);
      if (n <= 0) break;
      text.append(buffer.data(), static_cast<std::size_t>(n));
      if (text.size() > client::ssh_config::max_file_size) break;  // the core refuses it
    }
  }
  ::close(fd);
  if (!error.empty()) return std::unexpected(ReadError{error});
  return text;
}

std::expected<std::vector<std::string>, std::string> glob_paths(const std::string& pattern) {
  glob_t g{};
  const int r = ::glob(pattern.c_str(), 0, nullptr, &g);
  std::vector<std::string> out;
  if (r == 0)
    for (std::size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  ::globfree(&g);
  if (r != 0 && r != GLOB_NOMATCH) return std::unexpected("glob(3) failed");
  return out;
}

/// $SHELL -c command (else /bin/sh), as ssh's execute_in_shell(): its exit status.
std::expected<int, std::string> run_in_shell(const std::string& command) {
  const char* shell = std::getenv("SHELL");
  if (shell == nullptr || *shell == '\0') shell = "/bin/sh";
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  const std::string dash_c = "-c";
  std::array<char*, 4> argv{const_cast<char*>(shell), const_cast<char*>(dash_c.c_str()),
                            const_cast<char*>(command.c_str()), nullptr};
  pid_t pid = 0;
  const int r = ::posix_spawn(&pid, shell, &actions, nullptr, argv.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  if (r != 0) return std::unexpected(std::string("cannot run ") + shell + ": " + std::strerror(r));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return std::unexpected(std::string("waitpid: ") + std::strerror(errno));
  if (!WIFEXITED(status)) return std::unexpected("command exited abnormally");
  return WEXITSTATUS(status);
}

}  // namespace

ConfigEnvironment system_config_environment() {
  ConfigEnvironment env;
  env.files.read = read_config;
  env.files.glob = glob_paths;
  env.shell = run_in_shell;
  const passwd* pw = ::getpwuid(::getuid());
  if (const char* h = std::getenv("HOME"); h && *h)
    env.home = h;
  else
    env.home = pw && pw->pw_dir ? pw->pw_dir : "/";
  if (pw && pw->pw_name)
    env.local_user = pw->pw_name;
  else if (const char* u = std::getenv("USER"))
    env.local_user = u;
  else
    env.local_user = "root";
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) == 0) env.local_host = name.data();
  env.uid = std::to_string(::getuid());
  return env;
}

}  // namespace parley::app
