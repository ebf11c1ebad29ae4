#include "parley/auth/authorized_keys.hpp"

#include <fstream>
#include <sstream>

namespace parley::auth {
namespace {

bool is_key_type(std::string_view token) {
  return token == "ssh-ed25519" || token == "ecdsa-sha2-nistp256" || token == "ssh-rsa";
}

}  // namespace

AuthorizedKeys parse_authorized_keys(std::string_view text) {
  AuthorizedKeys out;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::size_t start = line.find_first_not_of(" \t");
    if (start == std::string_view::npos || line[start] == '#') continue;
    line = line.substr(start);
    const std::string_view first = line.substr(0, line.find_first_of(" \t"));
    if (!is_key_type(first)) {
      out.problems.push_back(std::to_string(line_no) +
                             ": key options or an unsupported key type; line not used");
      continue;
    }
    auto key = crypto::PublicKey::from_openssh(line);
    if (!key) {
      out.problems.push_back(std::to_string(line_no) + ": " +
                             std::string(crypto::to_string(key.error())));
      continue;
    }
    out.keys.push_back(std::move(*key));
  }
  return out;
}

AuthorizedKeys load_authorized_keys(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return AuthorizedKeys{{}, {path.string() + ": cannot be read"}};
  std::stringstream ss;
  ss << in.rdbuf();
  AuthorizedKeys keys = parse_authorized_keys(ss.str());
  for (auto& p : keys.problems) p = path.string() + ":" + p;
  return keys;
}

}  // namespace parley::auth
