// RFC 4648 base32, the encoding of TOTP secrets (otpauth URIs, users.oath,
// google-authenticator files). Secrets are decoded straight into SecretBytes.
#pragma once

#include <expected>
#include <string>

#include "parley/crypto/secret.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::otp {

/// Upper-case base32 without padding, as authenticator apps and google-authenticator write it.
std::string base32_encode(BytesView data);

/// Decodes base32 in either case; blanks are skipped and trailing '=' padding is
/// accepted. The error says what is wrong (a bad character and its position,
/// text after padding, an impossible length, nothing at all).
std::expected<crypto::SecretBytes, std::string> base32_decode(BytesView text);

}  // namespace parley::otp
