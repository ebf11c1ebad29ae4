#include "sftp_files.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <deque>

#include "parley/userauth/server_text.hpp"
#include "parley/wire/unique_fd.hpp"

namespace parley::app {
namespace {

using client::SftpAttrs;
using client::SftpCode;
using client::SftpResponse;
using client::SftpStatus;

std::string sys_error(const std::string& path) { return path + ": " + std::strerror(errno); }

}  // namespace

std::string describe(const SftpStatus& status) {
  const auto code = static_cast<SftpCode>(status.code);
  if (code == SftpCode::no_such_file || code == SftpCode::permission_denied || status.message.empty())
    return std::string(client::to_string(code));
  return userauth::sanitize_server_text(status.message, 256, false);
}

SftpFiles::SftpFiles(int fd) : fd_(fd) {}

std::expected<void, std::string> SftpFiles::fail(std::string why) {
  if (broken_.empty()) broken_ = why;
  return std::unexpected(std::move(why));
}

std::expected<void, std::string> SftpFiles::flush() {
  Bytes out;
  sftp_.take_output(out);
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::write(fd_, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("connection closed");
    done += static_cast<std::size_t>(n);
  }
  return {};
}

std::expected<void, std::string> SftpFiles::read_more() {
  std::array<std::uint8_t, 256 * 1024> buffer;
  ssize_t n;
  do {
    n = ::read(fd_, buffer.data(), buffer.size());
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return fail("connection closed");
  if (auto r = sftp_.receive(BytesView(buffer.data(), static_cast<std::size_t>(n))); !r)
    return fail(std::string(client::to_string(r.error())));
  return {};
}

std::expected<SftpResponse, std::string> SftpFiles::wait(std::uint32_t id) {
  if (!broken_.empty()) return std::unexpected(broken_);
  if (auto f = flush(); !f) return std::unexpected(f.error());
  for (;;) {
    if (auto it = kept_.find(id); it != kept_.end()) {
      SftpResponse r = std::move(it->second);
      kept_.erase(it);
      return r;
    }
    bool any = false;
    while (auto r = sftp_.poll()) {
      any = true;
      kept_.emplace(r->id, std::move(*r));
    }
    if (any) continue;
    if (auto m = read_more(); !m) return std::unexpected(m.error());
  }
}

std::expected<void, std::string> SftpFiles::exchange(const std::function<bool(SftpResponse&)>& take) {
  if (auto f = flush(); !f) return f;
  if (auto m = read_more(); !m) return m;
  while (auto r = sftp_.poll())
    if (!take(*r)) kept_.emplace(r->id, std::move(*r));
  return {};
}

std::expected<void, std::string> SftpFiles::start() {
  if (auto f = flush(); !f) return f;
  while (!sftp_.version()) {
    if (auto m = read_more(); !m) return m;
  }
  while (sftp_.poll()) {
  }
  return {};
}

std::expected<void, std::string> SftpFiles::ok(std::uint32_t id, const std::string& path) {
  auto r = wait(id);
  if (!r) return std::unexpected(r.error());
  const auto* s = std::get_if<SftpStatus>(&r->body);
  if (s == nullptr) return fail(path + ": unexpected answer");
  if (s->code != static_cast<std::uint32_t>(SftpCode::ok)) return std::unexpected(path + ": " + describe(*s));
  return {};
}

std::expected<SftpAttrs, std::string> SftpFiles::stat(const std::string& path) {
  auto r = wait(sftp_.stat(path));
  if (!r) return std::unexpected(r.error());
  if (const auto* a = std::get_if<SftpAttrs>(&r->body)) return *a;
  if (const auto* s = std::get_if<SftpStatus>(&r->body)) return std::unexpected(path + ": " + describe(*s));
  return std::unexpected(path + ": unexpected answer");
}

std::expected<void, std::string> SftpFiles::mkdir(const std::string& path, std::uint32_t mode) {
  SftpAttrs a;
  a.permissions = mode & 07777;
  return ok(sftp_.mkdir(path, a), path);
}

std::expected<void, std::string> SftpFiles::setstat(const std::string& path, const SftpAttrs& attrs) {
  return ok(sftp_.setstat(path, attrs), path);
}

std::expected<std::string, std::string> SftpFiles::open(const std::string& path, std::uint32_t pflags,
                                                         const SftpAttrs& attrs) {
  auto r = wait(sftp_.open(path, pflags, attrs));
  if (!r) return std::unexpected(r.error());
  if (const auto* h = std::get_if<client::SftpHandle>(&r->body)) return h->handle;
  if (const auto* s = std::get_if<SftpStatus>(&r->body)) return std::unexpected(path + ": " + describe(*s));
  return std::unexpected(path + ": unexpected answer");
}

std::expected<std::vector<client::SftpName>, std::string> SftpFiles::list(const std::string& path) {
  auto r = wait(sftp_.opendir(path));
  if (!r) return std::unexpected(r.error());
  const auto* h = std::get_if<client::SftpHandle>(&r->body);
  if (h == nullptr) {
    const auto* s = std::get_if<SftpStatus>(&r->body);
    return std::unexpected(path + ": " + (s ? describe(*s) : std::string("unexpected answer")));
  }
  const std::string handle = h->handle;
  std::vector<client::SftpName> out;
  for (;;) {
    auto names = wait(sftp_.readdir(handle));
    if (!names) return std::unexpected(names.error());
    if (const auto* s = std::get_if<SftpStatus>(&names->body)) {
      if (s->code != static_cast<std::uint32_t>(SftpCode::eof)) return std::unexpected(path + ": " + describe(*s));
      break;
    }
    for (auto& n : std::get<client::SftpNames>(names->body).names)
      if (n.filename != "." && n.filename != "..") out.push_back(std::move(n));
    if (out.size() > 1000000) return std::unexpected(path + ": too many entries");
  }
  (void)ok(sftp_.close(handle), path);
  return out;
}

std::expected<void, std::string> SftpFiles::download(const std::string& remote, const std::string& local,
                                                     bool preserve, const ProgressFn& progress) {
  auto handle = open(remote, client::SftpOpen::read, {});
  if (!handle) return std::unexpected(handle.error());
  auto attrs = wait(sftp_.fstat(*handle));
  if (!attrs) return std::unexpected(attrs.error());
  const auto* a = std::get_if<SftpAttrs>(&attrs->body);
  const std::optional<std::uint64_t> size = a ? a->size : std::nullopt;
  const mode_t mode = a && a->permissions ? (*a->permissions & 0777) : 0666;
  UniqueFd out(::open(local.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode | 0200));
  if (out.get() < 0) {
    const std::string why = sys_error(local);
    (void)ok(sftp_.close(*handle), remote);
    return std::unexpected(why);
  }
  struct Piece {
    std::uint64_t offset;
    std::uint32_t length;
  };
  std::map<std::uint32_t, Piece> in_flight;
  std::deque<Piece> again;  // the rest of short reads
  std::uint64_t next = 0, done = 0;
  bool eof = false;
  std::string error;
  for (;;) {
    // Within the size the server gave, as many reads as allowed; past it, one at a
    // time, to find the end (a file that grew is read on).
    while (!eof && error.empty() && in_flight.size() < max_in_flight &&
           (!again.empty() || !size || next < *size || in_flight.empty())) {
      Piece p = again.empty() ? Piece{next, read_chunk} : again.front();
      if (again.empty()) next += read_chunk; else again.pop_front();
      in_flight.emplace(sftp_.read(*handle, p.offset, p.length), p);
    }
    if (in_flight.empty()) break;
    auto round = exchange([&](SftpResponse& r) {
      const auto it = in_flight.find(r.id);
      if (it == in_flight.end()) return false;
      const Piece p = it->second;
      in_flight.erase(it);
      if (const auto* d = std::get_if<client::SftpData>(&r.body)) {
        if (d->data.empty()) {
          eof = true;
          return true;
        }
        if (::pwrite(out.get(), d->data.data(), d->data.size(), static_cast<off_t>(p.offset)) !=
            static_cast<ssize_t>(d->data.size()))
          error = sys_error(local);
        if (d->data.size() < p.length)
          again.push_back({p.offset + d->data.size(), static_cast<std::uint32_t>(p.length - d->data.size())});
        done += d->data.size();
        if (progress) progress(done, size);
      } else if (const auto* s = std::get_if<SftpStatus>(&r.body)) {
        eof = true;
        if (s->code != static_cast<std::uint32_t>(SftpCode::eof)) error = remote + ": " + describe(*s);
      }
      return true;
    });
    if (!round) return round;
  }
  (void)ok(sftp_.close(*handle), remote);
  if (!error.empty()) return std::unexpected(error);
  if (preserve && a) {
    if (a->permissions) ::fchmod(out.get(), *a->permissions & 07777);
    if (a->atime && a->mtime) {
      const timeval times[2] = {{static_cast<time_t>(*a->atime), 0}, {static_cast<time_t>(*a->mtime), 0}};
      ::futimes(out.get(), times);
    }
  }
  return {};
}

std::expected<void, std::string> SftpFiles::upload(const std::string& local, const std::string& remote, bool preserve,
                                                   const ProgressFn& progress) {
  UniqueFd in(::open(local.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st{};
  if (in.get() < 0 || ::fstat(in.get(), &st) != 0) return std::unexpected(sys_error(local));
  if (!S_ISREG(st.st_mode)) return std::unexpected(local + ": not a regular file");
  SftpAttrs create;
  create.permissions = st.st_mode & 0777;
  auto handle = open(remote, client::SftpOpen::write | client::SftpOpen::create | client::SftpOpen::truncate, create);
  if (!handle) return std::unexpected(handle.error());
  std::map<std::uint32_t, std::uint32_t> in_flight;  // id → length
  std::array<std::uint8_t, chunk> buffer;
  std::uint64_t offset = 0, done = 0;
  bool end = false;
  std::string error;
  for (;;) {
    while (!end && error.empty() && in_flight.size() < max_in_flight) {
      const ssize_t n = ::pread(in.get(), buffer.data(), buffer.size(), static_cast<off_t>(offset));
      if (n < 0) error = sys_error(local);
      if (n <= 0) {
        end = true;
        break;
      }
      in_flight.emplace(sftp_.write(*handle, offset, BytesView(buffer.data(), static_cast<std::size_t>(n))),
                        static_cast<std::uint32_t>(n));
      offset += static_cast<std::uint64_t>(n);
    }
    if (in_flight.empty()) break;
    auto round = exchange([&](SftpResponse& r) {
      const auto it = in_flight.find(r.id);
      if (it == in_flight.end()) return false;
      done += it->second;
      in_flight.erase(it);
      const auto* s = std::get_if<SftpStatus>(&r.body);
      if (!s || s->code != static_cast<std::uint32_t>(SftpCode::ok)) {
        if (error.empty()) error = remote + ": " + (s ? describe(*s) : std::string("unexpected answer"));
        end = true;
      }
      if (progress) progress(done, static_cast<std::uint64_t>(st.st_size));
      return true;
    });
    if (!round) return round;
  }
  if (preserve && error.empty()) {
    SftpAttrs keep;
    keep.permissions = st.st_mode & 07777;
    keep.atime = static_cast<std::uint32_t>(st.st_atime);
    keep.mtime = static_cast<std::uint32_t>(st.st_mtime);
    if (auto r = ok(sftp_.fsetstat(*handle, keep), remote); !r) error = r.error();
  }
  if (auto closed = ok(sftp_.close(*handle), remote); !closed && error.empty()) error = closed.error();
  if (!error.empty()) return std::unexpected(error);
  return {};
}

}  // namespace parley::app
