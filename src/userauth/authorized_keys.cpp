#include "parley/userauth/authorized_keys.hpp"

#include <string>

#include "parley/wire/lines.hpp"
#include "parley/wire/text.hpp"

namespace parley::userauth {
namespace {

bool is_key_type(std::string_view token) {
  return token == "ssh-ed25519" || token == "ecdsa-sha2-nistp256" || token == "ssh-rsa";
}

}  // namespace

AuthorizedKeys parse_authorized_keys(std::string_view text, std::string_view source) {
  AuthorizedKeys out;
  const std::string prefix = source.empty() ? std::string() : std::string(source) + ":";
  for (const wire::Line& numbered : wire::split_lines(text)) {
    std::string_view line = numbered.text;
    const std::string where = prefix + std::to_string(numbered.number);
    const std::size_t start = line.find_first_not_of(" \t");
    if (start == std::string_view::npos || line[start] == '#') continue;
    line = line.substr(start);
    const std::string_view first = line.substr(0, line.find_first_of(" \t"));
    if (!is_key_type(first)) {
      out.problems.push_back(where + ": key options or an unsupported key type; line not used");
      continue;
    }
    auto key = crypto::PublicKey::from_openssh(line);
    if (!key) {
      out.problems.push_back(where + ": " + std::string(crypto::to_string(key.error())));
      continue;
    }
    out.keys.push_back(std::move(*key));
  }
  return out;
}

}  // namespace parley::userauth
