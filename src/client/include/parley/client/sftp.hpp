// The client side of SFTP version 3 (draft-ietf-secsh-filexfer-02, as OpenSSH's
// sftp-server speaks it), without I/O: requests become bytes for the "sftp"
// subsystem's channel, the server's bytes become typed responses. Many requests
// may be outstanding (pipelined reads and writes); each response is matched to
// its request by id, and checked against what that request allows.
//
//   SftpClient sftp;                      // INIT is queued at once
//   send(sftp.take_output());             // ... and every call's bytes after
//   auto r = sftp.receive(bytes);         // an error: the server broke the protocol
//   while (auto response = sftp.poll()) { // VERSION first, then one per request
//     if (auto* h = std::get_if<SftpHandle>(&response->body)) ...
//   }
//   auto id = sftp.open("/etc/motd", SftpOpen::read, {});
//
// The server is not trusted: packets are bounded (max_packet), a response must
// answer an outstanding request of a kind it may answer, DATA may not be longer
// than what was asked, names and handles are bounded, and no response may come
// before VERSION. A violation is an SftpError and the client stops (every later
// receive() fails too): the caller closes the channel.
#pragma once

#include <cstdint>
#include <deque>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "parley/wire/bytes.hpp"

namespace parley::client {

/// File attributes (ATTRS); each member set only when the server sent it / we send it.
/// uid/gid and atime/mtime travel in pairs: one of a pair alone is not sent.
struct SftpAttrs {
  std::optional<std::uint64_t> size;
  std::optional<std::uint32_t> uid, gid;
  std::optional<std::uint32_t> permissions;  // st_mode: type and permission bits
  std::optional<std::uint32_t> atime, mtime;
  bool is_directory() const { return permissions && (*permissions & 0170000) == 0040000; }
  bool is_regular() const { return permissions && (*permissions & 0170000) == 0100000; }
  friend bool operator==(const SftpAttrs&, const SftpAttrs&) = default;
};

/// SSH_FXP_OPEN's pflags.
struct SftpOpen {
  static constexpr std::uint32_t read = 0x01, write = 0x02, append = 0x04, create = 0x08, truncate = 0x10,
                                 exclusive = 0x20;
};

/// SSH_FX_* status codes.
enum class SftpCode : std::uint32_t {
  ok = 0,
  eof = 1,
  no_such_file = 2,
  permission_denied = 3,
  failure = 4,
  bad_message = 5,
  no_connection = 6,
  connection_lost = 7,
  op_unsupported = 8,
};
std::string_view to_string(SftpCode c);

// ---- responses ---------------------------------------------------------------

struct SftpVersion {
  std::uint32_t version = 0;
  std::vector<std::pair<std::string, std::string>> extensions;
};
/// STATUS: the code, then (optional as a pair in older servers) message and language tag.
struct SftpStatus {
  std::uint32_t code = 0;   // an SftpCode, or a number the draft does not name
  std::string message;      // the server's words: show them through sanitize_server_text
};
struct SftpHandle {
  std::string handle;
};
struct SftpData {
  Bytes data;
};
struct SftpName {
  std::string filename;
  std::string longname;
  SftpAttrs attrs;
};
struct SftpNames {
  std::vector<SftpName> names;
};

struct SftpResponse {
  std::uint32_t id = 0;  // the request's id (0 for VERSION)
  std::variant<SftpVersion, SftpStatus, SftpHandle, SftpData, SftpNames, SftpAttrs> body;
};

/// What the server did wrong. Every one ends the SFTP session.
enum class SftpError : std::uint8_t {
  packet_too_long,      // a length over max_packet (or under 5)
  malformed,            // a field missing, too long, or trailing bytes
  unexpected_version,   // VERSION twice, or under 3
  before_version,       // a response before VERSION
  unknown_id,           // a response to no outstanding request
  wrong_response,       // a response of a kind its request cannot get
  data_too_long,        // DATA longer than the READ asked for
  too_many_names,       // NAME with more entries than max_names
  unknown_type,         // a packet type the client never gets
};
std::string_view to_string(SftpError e);

struct SftpLimits {
  /// Largest packet taken from the server (OpenSSH's sftp-server sends at most 256 KiB).
  std::uint32_t max_packet = 256 * 1024 + 1024;
  std::uint32_t max_names = 100000;
  std::size_t max_handle = 256;
  std::size_t max_path = 64 * 1024;  // a file name (or long name) in NAME
};

class SftpClient {
 public:
  explicit SftpClient(SftpLimits limits = {});

  /// Bytes from the server (any split). An error: the protocol is broken; the
  /// client takes nothing more.
  std::expected<void, SftpError> receive(BytesView data);
  /// The next response, in the order they arrived.
  std::optional<SftpResponse> poll();
  /// Appends to `out` the requests' bytes queued since the last call (INIT
  /// first). Request ids start at 1 and count up.
  void take_output(Bytes& out);
  bool has_output() const { return !output_.empty(); }
  /// The server's version, once VERSION came.
  std::optional<std::uint32_t> version() const { return version_; }
  /// Requests sent and not yet answered.
  std::size_t outstanding() const { return pending_.size(); }

  // Each request returns its id; its response carries it. Paths and handles go
  // as bytes (SFTP v3 paths are the server's own encoding).
  std::uint32_t open(std::string_view path, std::uint32_t pflags, const SftpAttrs& attrs);
  std::uint32_t close(std::string_view handle);
  std::uint32_t read(std::string_view handle, std::uint64_t offset, std::uint32_t length);
  std::uint32_t write(std::string_view handle, std::uint64_t offset, BytesView data);
  std::uint32_t stat(std::string_view path);
  std::uint32_t lstat(std::string_view path);
  std::uint32_t fstat(std::string_view handle);
  std::uint32_t setstat(std::string_view path, const SftpAttrs& attrs);
  std::uint32_t fsetstat(std::string_view handle, const SftpAttrs& attrs);
  std::uint32_t opendir(std::string_view path);
  std::uint32_t readdir(std::string_view handle);
  std::uint32_t mkdir(std::string_view path, const SftpAttrs& attrs);
  std::uint32_t realpath(std::string_view path);
  std::uint32_t remove(std::string_view path);

 private:
  /// What a request may be answered with.
  enum class Expect : std::uint8_t { status, handle, data, names, attrs };
  struct Pending {
    Expect expect;
    std::uint32_t max_data = 0;  // READ: the length asked for
  };
  std::uint32_t request(std::uint8_t type, Expect expect, const Bytes& body, std::uint32_t max_data = 0);
  std::expected<void, SftpError> packet(BytesView payload);
  std::expected<SftpResponse, SftpError> parse(std::uint8_t type, BytesView rest);

  SftpLimits limits_;
  Bytes input_;
  std::size_t input_used_ = 0;
  Bytes output_;
  std::deque<SftpResponse> responses_;
  std::map<std::uint32_t, Pending> pending_;
  std::uint32_t next_id_ = 1;
  std::optional<std::uint32_t> version_;
  std::optional<SftpError> failed_;
};

/// ATTRS on the wire (flags, then the fields they name), for tests and fuzzing.
Bytes encode(const SftpAttrs& attrs);

}  // namespace parley::client
