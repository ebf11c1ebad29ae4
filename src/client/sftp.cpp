#include "parley/client/sftp.hpp"

#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"

namespace parley::client {
namespace {

// Packet types (draft-ietf-secsh-filexfer-02 §3).
enum : std::uint8_t {
  fxp_init = 1, fxp_version = 2, fxp_open = 3, fxp_close = 4, fxp_read = 5, fxp_write = 6, fxp_lstat = 7,
  fxp_fstat = 8, fxp_setstat = 9, fxp_fsetstat = 10, fxp_opendir = 11, fxp_readdir = 12, fxp_remove = 13,
  fxp_mkdir = 14, fxp_realpath = 16, fxp_stat = 17,
  fxp_status = 101, fxp_handle = 102, fxp_data = 103, fxp_name = 104, fxp_attrs = 105,
};

// ATTRS flags (§5).
constexpr std::uint32_t attr_size = 0x1, attr_uidgid = 0x2, attr_permissions = 0x4, attr_acmodtime = 0x8,
                        attr_extended = 0x80000000;

constexpr std::uint32_t our_version = 3;

void put(wire::Writer& w, const SftpAttrs& a) {
  std::uint32_t flags = 0;
  if (a.size) flags |= attr_size;
  if (a.uid && a.gid) flags |= attr_uidgid;
  if (a.permissions) flags |= attr_permissions;
  if (a.atime && a.mtime) flags |= attr_acmodtime;
  w.uint32(flags);
  if (a.size) w.uint64(*a.size);
  if (flags & attr_uidgid) w.uint32(*a.uid).uint32(*a.gid);
  if (a.permissions) w.uint32(*a.permissions);
  if (flags & attr_acmodtime) w.uint32(*a.atime).uint32(*a.mtime);
}

/// ATTRS as the server sent them; extended pairs are read and dropped.
SftpAttrs take_attrs(wire::Reader& r) {
  SftpAttrs a;
  const std::uint32_t flags = r.uint32();
  if (flags & attr_size) a.size = r.uint64();
  if (flags & attr_uidgid) {
    a.uid = r.uint32();
    a.gid = r.uint32();
  }
  if (flags & attr_permissions) a.permissions = r.uint32();
  if (flags & attr_acmodtime) {
    a.atime = r.uint32();
    a.mtime = r.uint32();
  }
  if (flags & attr_extended) {
    const std::uint32_t count = r.uint32();
    for (std::uint32_t i = 0; i < count && r.ok(); ++i) {
      (void)r.string(64 * 1024);
      (void)r.string(64 * 1024);
    }
  }
  return a;
}

std::string text(BytesView v) { return std::string(v.begin(), v.end()); }

}  // namespace

std::string_view to_string(SftpCode c) {
  switch (c) {
    case SftpCode::ok: return "ok";
    case SftpCode::eof: return "end of file";
    case SftpCode::no_such_file: return "No such file or directory";
    case SftpCode::permission_denied: return "Permission denied";
    case SftpCode::failure: return "Failure";
    case SftpCode::bad_message: return "Bad message";
    case SftpCode::no_connection: return "No connection";
    case SftpCode::connection_lost: return "Connection lost";
    case SftpCode::op_unsupported: return "Operation unsupported";
  }
  return "unknown status";
}

std::string_view to_string(SftpError e) {
  switch (e) {
    case SftpError::packet_too_long: return "the SFTP server sent a packet of a length out of bounds";
    case SftpError::malformed: return "the SFTP server sent a malformed packet";
    case SftpError::unexpected_version: return "the SFTP server sent an unexpected VERSION";
    case SftpError::before_version: return "the SFTP server answered before its VERSION";
    case SftpError::unknown_id: return "the SFTP server answered a request that was not outstanding";
    case SftpError::wrong_response: return "the SFTP server answered a request with the wrong kind of response";
    case SftpError::data_too_long: return "the SFTP server sent more data than was asked for";
    case SftpError::too_many_names: return "the SFTP server sent too many names";
    case SftpError::unknown_type: return "the SFTP server sent a packet of an unknown type";
  }
  return "the SFTP server broke the protocol";
}

Bytes encode(const SftpAttrs& attrs) {
  Bytes out;
  wire::Writer w(out);
  put(w, attrs);
  return out;
}

SftpClient::SftpClient(SftpLimits limits) : limits_(limits) {
  wire::Writer(output_).uint32(5).byte(fxp_init).uint32(our_version);
}

void SftpClient::take_output(Bytes& out) {
  if (out.empty()) {
    out.swap(output_);
  } else {
    out.insert(out.end(), output_.begin(), output_.end());
  }
  output_.clear();
}

std::optional<SftpResponse> SftpClient::poll() {
  if (responses_.empty()) return std::nullopt;
  SftpResponse r = std::move(responses_.front());
  responses_.pop_front();
  return r;
}

std::expected<void, SftpError> SftpClient::receive(BytesView data) {
  if (failed_) return std::unexpected(*failed_);
  input_.insert(input_.end(), data.begin(), data.end());
  while (input_.size() - input_used_ >= 4) {
    const std::uint8_t* p = input_.data() + input_used_;
    const std::uint32_t length = std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
    if (length > limits_.max_packet || length < 5) {
      failed_ = SftpError::packet_too_long;
      return std::unexpected(*failed_);
    }
    if (input_.size() - input_used_ - 4 < length) break;
    auto handled = packet(BytesView(p + 4, length));
    input_used_ += 4 + std::size_t{length};
    if (!handled) {
      failed_ = handled.error();
      return handled;
    }
  }
  // Keep only the unread tail (and no buffer at all when there is none).
  if (input_used_ == input_.size()) {
    Bytes().swap(input_);
    input_used_ = 0;
  } else if (input_used_ > 64 * 1024) {
    input_.erase(input_.begin(), input_.begin() + static_cast<std::ptrdiff_t>(input_used_));
    input_used_ = 0;
  }
  return {};
}

std::expected<void, SftpError> SftpClient::packet(BytesView payload) {
  const std::uint8_t type = payload[0];
  if (type == fxp_version) {
    if (version_) return std::unexpected(SftpError::unexpected_version);
    wire::Reader r(payload.subspan(1));
    SftpVersion v;
    v.version = r.uint32();
    while (r.ok() && r.remaining() > 0) {
      std::string name = text(r.string(1024));
      std::string value = text(r.string(64 * 1024));
      v.extensions.emplace_back(std::move(name), std::move(value));
    }
    if (!r.finish()) return std::unexpected(SftpError::malformed);
    if (v.version < our_version) return std::unexpected(SftpError::unexpected_version);
    version_ = v.version;
    responses_.push_back({0, std::move(v)});
    return {};
  }
  if (type < fxp_status || type > fxp_attrs) return std::unexpected(SftpError::unknown_type);
  if (!version_) return std::unexpected(SftpError::before_version);
  if (payload.size() < 5) return std::unexpected(SftpError::malformed);
  auto response = parse(type, payload.subspan(1));
  if (!response) return std::unexpected(response.error());
  responses_.push_back(std::move(*response));
  return {};
}

std::expected<SftpResponse, SftpError> SftpClient::parse(std::uint8_t type, BytesView rest) {
  wire::Reader r(rest);
  SftpResponse out;
  out.id = r.uint32();
  const auto it = pending_.find(out.id);
  if (it == pending_.end()) return std::unexpected(SftpError::unknown_id);
  const Pending expected = it->second;
  pending_.erase(it);
  // STATUS answers any request (an error, or OK for those that get nothing else).
  const bool allowed = type == fxp_status || (type == fxp_handle && expected.expect == Expect::handle) ||
                       (type == fxp_data && expected.expect == Expect::data) ||
                       (type == fxp_name && expected.expect == Expect::names) ||
                       (type == fxp_attrs && expected.expect == Expect::attrs);
  if (!allowed) return std::unexpected(SftpError::wrong_response);
  switch (type) {
    case fxp_status: {
      SftpStatus s;
      s.code = r.uint32();
      // The message and language tag are optional in servers older than v3's text.
      if (r.remaining() > 0) {
        s.message = text(r.string(64 * 1024));
        (void)r.string(1024);
      }
      out.body = std::move(s);
      break;
    }
    case fxp_handle: out.body = SftpHandle{text(r.string(limits_.max_handle))}; break;
    case fxp_data: {
      const BytesView d = r.string(limits_.max_packet);
      if (r.ok() && d.size() > expected.max_data) return std::unexpected(SftpError::data_too_long);
      out.body = SftpData{Bytes(d.begin(), d.end())};
      break;
    }
    case fxp_name: {
      const std::uint32_t count = r.uint32();
      if (r.ok() && count > limits_.max_names) return std::unexpected(SftpError::too_many_names);
      SftpNames names;
      for (std::uint32_t i = 0; i < count && r.ok(); ++i) {
        SftpName n;
        n.filename = text(r.string(limits_.max_path));
        n.longname = text(r.string(limits_.max_path));
        n.attrs = take_attrs(r);
        names.names.push_back(std::move(n));
      }
      out.body = std::move(names);
      break;
    }
    case fxp_attrs: out.body = take_attrs(r); break;
  }
  if (!r.finish()) return std::unexpected(SftpError::malformed);
  return out;
}

std::uint32_t SftpClient::request(std::uint8_t type, Expect expect, const Bytes& body, std::uint32_t max_data) {
  const std::uint32_t id = next_id_++;
  if (next_id_ == 0) next_id_ = 1;
  wire::Writer(output_).uint32(static_cast<std::uint32_t>(5 + body.size())).byte(type).uint32(id).raw(body);
  pending_[id] = {expect, max_data};
  return id;
}

namespace {
Bytes one_string(std::string_view s) {
  Bytes b;
  wire::Writer(b).string(s);
  return b;
}

/// A path (or handle) and ATTRS: SETSTAT, FSETSTAT, MKDIR.
Bytes string_and_attrs(std::string_view s, const SftpAttrs& attrs) {
  Bytes b;
  wire::Writer w(b);
  w.string(s);
  put(w, attrs);
  return b;
}
}  // namespace

std::uint32_t SftpClient::open(std::string_view path, std::uint32_t pflags, const SftpAttrs& attrs) {
  Bytes b;
  wire::Writer w(b);
  w.string(path).uint32(pflags);
  put(w, attrs);
  return request(fxp_open, Expect::handle, b);
}

std::uint32_t SftpClient::close(std::string_view handle) { return request(fxp_close, Expect::status, one_string(handle)); }

std::uint32_t SftpClient::read(std::string_view handle, std::uint64_t offset, std::uint32_t length) {
  Bytes b;
  wire::Writer(b).string(handle).uint64(offset).uint32(length);
  return request(fxp_read, Expect::data, b, length);
}

std::uint32_t SftpClient::write(std::string_view handle, std::uint64_t offset, BytesView data) {
  // Straight into the output: the data is copied once.
  const std::uint32_t id = next_id_++;
  if (next_id_ == 0) next_id_ = 1;
  const auto length = static_cast<std::uint32_t>(1 + 4 + 4 + handle.size() + 8 + 4 + data.size());
  wire::Writer(output_).uint32(length).byte(fxp_write).uint32(id).string(handle).uint64(offset).string(data);
  pending_[id] = {Expect::status, 0};
  return id;
}

std::uint32_t SftpClient::stat(std::string_view path) { return request(fxp_stat, Expect::attrs, one_string(path)); }
std::uint32_t SftpClient::lstat(std::string_view path) { return request(fxp_lstat, Expect::attrs, one_string(path)); }
std::uint32_t SftpClient::fstat(std::string_view handle) { return request(fxp_fstat, Expect::attrs, one_string(handle)); }

std::uint32_t SftpClient::setstat(std::string_view path, const SftpAttrs& attrs) {
  return request(fxp_setstat, Expect::status, string_and_attrs(path, attrs));
}

std::uint32_t SftpClient::fsetstat(std::string_view handle, const SftpAttrs& attrs) {
  return request(fxp_fsetstat, Expect::status, string_and_attrs(handle, attrs));
}

std::uint32_t SftpClient::opendir(std::string_view path) { return request(fxp_opendir, Expect::handle, one_string(path)); }
std::uint32_t SftpClient::readdir(std::string_view handle) { return request(fxp_readdir, Expect::names, one_string(handle)); }

std::uint32_t SftpClient::mkdir(std::string_view path, const SftpAttrs& attrs) {
  return request(fxp_mkdir, Expect::status, string_and_attrs(path, attrs));
}

std::uint32_t SftpClient::realpath(std::string_view path) { return request(fxp_realpath, Expect::names, one_string(path)); }
std::uint32_t SftpClient::remove(std::string_view path) { return request(fxp_remove, Expect::status, one_string(path)); }

}  // namespace parley::client
