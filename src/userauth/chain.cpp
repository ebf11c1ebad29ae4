#include "parley/userauth/chain.hpp"

#include "parley/wire/enum_names.hpp"

namespace parley::userauth {

std::string_view wire_name(ChainMethod method) {
  constexpr std::array<std::string_view, 3> names{"publickey", "password", "keyboard-interactive"};
  static_assert(names.size() ==
                wire::enum_count(ChainMethod::publickey, ChainMethod::keyboard_interactive));
  return wire::enum_name(method, names);
}

std::string to_string(const ChainStep& step) {
  std::string out(wire_name(step.method));
  if (!step.provider.empty()) out.append(":").append(step.provider);
  return out;
}

}  // namespace parley::userauth
