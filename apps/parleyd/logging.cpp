// The journal is written with libsystemd's sd_journal_send (spdlog's systemd
// sink for ordinary lines); everything else goes to stderr as before.
#include "logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "parley/userauth/server_text.hpp"

namespace parleyd {

namespace {

std::atomic<bool> to_journal{false};

/// systemd's own test (sd_journal_stream_fd(3), JOURNAL_STREAM in systemd.exec(5)):
/// stderr is the journal when its device and inode are the ones the variable names.
bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(2, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

}  // namespace

void setup_logging(const std::string& level) {
  std::shared_ptr<spdlog::logger> logger;
  if (stderr_is_journal()) {
    logger = spdlog::systemd_logger_mt("parleyd", "parleyd");
    to_journal = true;
  } else {
    logger = spdlog::stderr_color_mt("parleyd");
  }
  spdlog::set_default_logger(std::move(logger));
  spdlog::set_level(spdlog::level::from_str(level));
}

void use_stderr_logging() {
  if (!to_journal) return;
  const auto level = spdlog::get_level();
  spdlog::drop("parleyd");
  spdlog::set_default_logger(spdlog::stderr_color_mt("parleyd"));
  spdlog::set_level(level);
  to_journal = false;
}

bool logging_to_journal() { return to_journal; }

void log_audit(const parley::userauth::AuditRecord& record, std::string_view peer) {
  const std::string line = parley::userauth::audit_line(record, peer);
  if (!to_journal) {
    spdlog::info("{}", line);
    return;
  }
  if (!spdlog::should_log(spdlog::level::info)) return;
  // The user name as the audit line prints it (made printable), not as the client sent it.
  const auto user = parley::userauth::printable_for_log(record.user, 64);
  const auto method = parley::userauth::printable_for_log(record.method, 64);  // as the client named it
  const std::string error = record.error ? std::string(parley::userauth::to_string(*record.error)) : "";
  ::sd_journal_send("MESSAGE=%s", line.c_str(), "PRIORITY=%d", LOG_INFO, "SYSLOG_IDENTIFIER=parleyd",
                    "PARLEY_EVENT=auth", "PARLEY_USER=%s", user.c_str(), "PARLEY_METHOD=%s", method.c_str(),
                    "PARLEY_PROVIDER=%s", record.provider.c_str(), "PARLEY_ROUND=%zu", record.round,
                    "PARLEY_PROMPTS=%zu", record.prompts, "PARLEY_OUTCOME=%s", record.outcome.c_str(),
                    "PARLEY_ERROR=%s", error.c_str(), "PARLEY_PEER=%.*s", static_cast<int>(peer.size()),
                    peer.data(), nullptr);
}

}  // namespace parleyd
