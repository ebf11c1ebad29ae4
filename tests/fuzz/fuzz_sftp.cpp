// Fuzzes client::SftpClient as a hostile SFTP server meets it, without I/O. The
// client first sends a fixed mix of requests (ids 1..9 below), then takes the
// input after its first byte as the server's bytes, in pieces of that byte's
// size (0: all at once). Every response is checked against what the core
// promises (VERSION first and once, an outstanding id, a kind its request may
// get, DATA no longer than asked, names and handles within the limits, the
// same outstanding count as ours) and answered with a follow-up request, so ids
// keep flowing; the first SftpError ends the run.
//   1 open("/etc/motd")  HANDLE    4 read(h, 1040, 0)  DATA     7 opendir("/tmp")  HANDLE
//   2 read(h, 0, 16)     DATA      5 write(h, "hello") STATUS   8 readdir(d)       NAME
//   3 read(h, 16, 1024)  DATA      6 stat("/")         ATTRS    9 realpath(".")    NAME
// Seeds: tests/fuzz/seeds/sftp/ (a VERSION, then answers to ids 1..9).
#include <algorithm>
#include <cstdint>
#include <map>
#include <string_view>
#include <variant>

#include "parley/client/sftp.hpp"

using namespace parley;
using namespace parley::client;

namespace {

enum class Answer : std::uint8_t { status, handle, data, names, attrs };

struct Asked {
  Answer answer = Answer::status;
  std::uint32_t length = 0;  // READ: the most DATA may carry
};

/// The client and what we asked of it, to hold its responses against.
class Harness {
 public:
  explicit Harness(SftpLimits limits) : limits_(limits), sftp_(limits) {}

  SftpClient& sftp() { return sftp_; }

  void fixed_requests() {
    track(sftp_.open("/etc/motd", SftpOpen::read, {}), Answer::handle);
    read("h", 0, 16);
    read("h", 16, 1024);
    read("h", 1040, 0);
    track(sftp_.write("h", 0, as_bytes("hello")), Answer::status);
    track(sftp_.stat("/"), Answer::attrs);
    track(sftp_.opendir("/tmp"), Answer::handle);
    track(sftp_.readdir("d"), Answer::names);
    track(sftp_.realpath("."), Answer::names);
  }

  /// Checks one polled response and sends the request a client would send next.
  void handle(const SftpResponse& r) {
    if (const auto* v = std::get_if<SftpVersion>(&r.body)) {
      if (versioned_ || r.id != 0 || v->version < 3 || sftp_.version() != v->version) __builtin_trap();
      versioned_ = true;
      return;
    }
    if (!versioned_) __builtin_trap();
    const auto it = asked_.find(r.id);
    if (it == asked_.end()) __builtin_trap();  // an id that was not outstanding
    const Asked asked = it->second;
    asked_.erase(it);
    if (const auto* s = std::get_if<SftpStatus>(&r.body)) {
      // STATUS answers anything: EOF ends a read, anything else closes.
      if (asked.answer == Answer::data && s->code == static_cast<std::uint32_t>(SftpCode::eof)) {
        track(sftp_.close("h"), Answer::status);
      } else {
        track(sftp_.remove(s->message), Answer::status);
      }
    } else if (const auto* h = std::get_if<SftpHandle>(&r.body)) {
      if (asked.answer != Answer::handle || h->handle.size() > limits_.max_handle) __builtin_trap();
      read(h->handle, 0, 512);
    } else if (const auto* d = std::get_if<SftpData>(&r.body)) {
      if (asked.answer != Answer::data || d->data.size() > asked.length) __builtin_trap();
      read("h", offset_, 4096);
    } else if (const auto* n = std::get_if<SftpNames>(&r.body)) {
      if (asked.answer != Answer::names || n->names.size() > limits_.max_names) __builtin_trap();
      if (n->names.empty()) {
        track(sftp_.readdir("d"), Answer::names);
      } else {
        const SftpName& first = n->names.front();
        (void)first.attrs.is_directory();
        track(sftp_.lstat(first.filename), Answer::attrs);
      }
    } else if (const auto* a = std::get_if<SftpAttrs>(&r.body)) {
      if (asked.answer != Answer::attrs) __builtin_trap();
      // What came back goes out again through encode().
      if (encode(*a).size() < 4) __builtin_trap();
      track(sftp_.setstat("/f", *a), Answer::status);
    }
  }

  /// Our count of requests outstanding must be the client's.
  void check_outstanding() const {
    if (sftp_.outstanding() != asked_.size()) __builtin_trap();
  }

 private:
  void track(std::uint32_t id, Answer answer, std::uint32_t length = 0) {
    if (asked_.contains(id)) __builtin_trap();  // an id reused while outstanding
    asked_[id] = {answer, length};
  }
  void read(std::string_view handle, std::uint64_t offset, std::uint32_t length) {
    track(sftp_.read(handle, offset, length), Answer::data, length);
    offset_ = offset + length;
  }

  SftpLimits limits_;
  SftpClient sftp_;
  std::map<std::uint32_t, Asked> asked_;
  bool versioned_ = false;
  std::uint64_t offset_ = 0;
};

SftpLimits fuzz_limits() {
  SftpLimits limits;
  limits.max_names = 16;  // low enough for the fuzzer to reach too_many_names
  return limits;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = data[0] == 0 ? size : data[0];
  const BytesView input(data + 1, size - 1);

  Harness h(fuzz_limits());
  h.fixed_requests();
  Bytes sent;
  for (std::size_t at = 0; at < input.size(); at += piece) {
    const auto received = h.sftp().receive(input.subspan(at, std::min(piece, input.size() - at)));
    if (!received) {
      (void)to_string(received.error());
      // The client has stopped: nothing more is taken.
      if (h.sftp().receive(input.first(0))) __builtin_trap();
      return 0;
    }
    while (auto response = h.sftp().poll()) h.handle(*response);
    h.check_outstanding();
    sent.clear();
    h.sftp().take_output(sent);
  }
  return 0;
}
