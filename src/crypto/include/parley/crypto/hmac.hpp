// HMAC-SHA1, kept for one job only: OpenSSH's hashed known_hosts host names.
#pragma once

#include "parley/wire/bytes.hpp"

namespace parley::crypto {

/// HMAC-SHA1 (RFC 2104) of `data` under `key`; returns the 20-byte tag.
///
/// Needed ONLY for OpenSSH's hashed known_hosts entries (sshd(8) "SSH_KNOWN_HOSTS
/// FILE FORMAT", HashKnownHosts in ssh_config(5)), whose host field is
/// "|1|" base64(salt) "|" base64(HMAC-SHA1(salt, hostname)): the format fixes
/// SHA-1 and the 20-byte salt. parley negotiates no SHA-1 algorithm on the wire;
/// do not use this for anything else (packet MACs are in packet_cipher.hpp).
/// Thread-safe.
Bytes hmac_sha1(BytesView key, BytesView data);

}  // namespace parley::crypto
