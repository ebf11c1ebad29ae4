#include "parley/transport/ident.hpp"

namespace parley::transport {
namespace {
// RFC 4253 §4.2: the maximum length of the line is 255 characters, CR LF included.
constexpr std::size_t max_line = 255;
}  // namespace

std::expected<std::size_t, TransportError> IdentReader::feed(BytesView data) {
  std::size_t used = 0;
  while (used < data.size() && !version_) {
    const char c = static_cast<char>(data[used++]);
    if (c == '\n') {
      if (auto r = finish_line(); !r) return std::unexpected(r.error());
      continue;
    }
    line_.push_back(c);
    if (line_.size() > max_line - 1) return std::unexpected(TransportError::ident_line_too_long);
  }
  return used;
}

std::expected<void, TransportError> IdentReader::finish_line() {
  std::string line = std::move(line_);
  line_.clear();
  if (!line.empty() && line.back() == '\r') line.pop_back();  // OpenSSH also accepts bare LF
  if (line.rfind("SSH-", 0) != 0) {
    if (!accept_preversion_) return std::unexpected(TransportError::preversion_line_from_client);
    if (++lines_ > max_lines_) return std::unexpected(TransportError::too_many_preversion_lines);
    return {};
  }
  if (line.find('\0') != std::string::npos) return std::unexpected(TransportError::ident_malformed);
  // "SSH-protoversion-softwareversion [SP comments]"; 1.99 means 2.0-compatible.
  const bool v2 = line.rfind("SSH-2.0-", 0) == 0 || line.rfind("SSH-1.99-", 0) == 0;
  if (!v2) return std::unexpected(TransportError::protocol_version_not_supported);
  if (software_version(line).empty()) return std::unexpected(TransportError::ident_malformed);
  version_ = std::move(line);
  return {};
}

std::string_view software_version(std::string_view ident) {
  std::size_t dash = ident.find('-', 4);
  if (dash == std::string_view::npos) return {};
  std::string_view rest = ident.substr(dash + 1);
  return rest.substr(0, rest.find(' '));
}

}  // namespace parley::transport
