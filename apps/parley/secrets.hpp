// The secrets file (issue 16): a password and a TOTP secret per host, so each hop
// of a jump chain answers with its own. Named by $PARLEY_SECRETS_FILE (a path, not
// a secret: the hops' parley processes inherit it and look up their own host).
//
//     # mode 0600, owned by the user: refused otherwise
//     Host bastion bastion.example.org
//       Password correct horse battery staple
//       TOTP otpauth://totp/bastion?secret=JBSWY3DPEHPK3PXP
//     Host *.internal !db.internal
//       Password another one
//
// `Host` takes ssh_config's patterns (`*`, `?`, `!`), matched against the host as
// given to parley (ssh's %n); as in ssh_config the first value found counts, and
// lines before the first `Host` apply to every host. `Password` and `TOTP` take
// the rest of the line (TOTP: an otpauth:// URI or a base32 secret, as $PARLEY_TOTP).
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "parley/crypto/secret.hpp"

namespace parley::app {

struct HostSecrets {
  std::optional<crypto::SecretBytes> password;
  std::optional<crypto::SecretBytes> totp;
};

/// The secrets for `host` in the file at `path`; an error (naming the file and,
/// for a bad line, the line) if it cannot be read, is not 0600 and the user's, or
/// does not parse. Nothing secret is in an error.
std::expected<HostSecrets, std::string> read_secrets(const std::string& path, std::string_view host);

/// As read_secrets(), from the text of a file already checked (for tests).
std::expected<HostSecrets, std::string> parse_secrets(std::string_view text, std::string_view host,
                                                      const std::string& name);

}  // namespace parley::app
