// The steps of an authentication chain (OpenSSH's AuthenticationMethods), as
// values: the server core walks them, parleyd builds them from its settings.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace parley::userauth {

/// The methods a chain can name (RFC 4252 §7, §8; RFC 4256).
enum class ChainMethod { publickey, password, keyboard_interactive };

/// The method's name on the wire: "publickey", "password", "keyboard-interactive".
std::string_view wire_name(ChainMethod method);

/// One step of a chain. A keyboard-interactive step may name the provider that
/// must answer it ("keyboard-interactive:NAME" in OpenSSH's syntax); the
/// client's submethods are only a hint and never choose it (RFC 4256 §3.1).
struct ChainStep {
  ChainMethod method = ChainMethod::publickey;
  std::string provider;  // keyboard-interactive only; empty: the default provider

  friend bool operator==(const ChainStep&, const ChainStep&) = default;
};

/// Steps that must all be completed, in order.
using Chain = std::vector<ChainStep>;

/// OpenSSH's spelling: "password", "keyboard-interactive:totp".
std::string to_string(const ChainStep& step);

}  // namespace parley::userauth
