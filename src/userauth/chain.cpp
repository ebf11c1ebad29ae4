#include "parley/userauth/chain.hpp"

namespace parley::userauth {

std::string_view wire_name(ChainMethod method) {
  switch (method) {
    case ChainMethod::publickey: return "publickey";
    case ChainMethod::password: return "password";
    case ChainMethod::keyboard_interactive: return "keyboard-interactive";
  }
  return "unknown";
}

std::string to_string(const ChainStep& step) {
  std::string out(wire_name(step.method));
  if (!step.provider.empty()) out.append(":").append(step.provider);
  return out;
}

}  // namespace parley::userauth
