// Transport errors, each named for what the peer (or the local policy) did,
// and the RFC 4253 §11.1 disconnect reason each maps to.
#pragma once

#include <cstdint>
#include <string_view>

namespace parley::transport {

/// RFC 4253 §11.1 reason codes.
enum class DisconnectReason : std::uint32_t {
  host_not_allowed_to_connect = 1,
  protocol_error = 2,
  key_exchange_failed = 3,
  reserved = 4,
  mac_error = 5,
  compression_error = 6,
  service_not_available = 7,
  protocol_version_not_supported = 8,
  host_key_not_verifiable = 9,
  connection_lost = 10,
  by_application = 11,
  too_many_connections = 12,
  auth_cancelled_by_user = 13,
  no_more_auth_methods_available = 14,
  illegal_user_name = 15,
};

std::string_view to_string(DisconnectReason r);

enum class TransportError : std::uint8_t {
  // Identification exchange (RFC 4253 §4.2).
  ident_line_too_long,        // a line of more than 255 bytes
  too_many_preversion_lines,  // a server sent too many lines before its version
  preversion_line_from_client,  // a client sent a line that is not "SSH-"
  ident_malformed,            // NUL in the line, or no software version
  protocol_version_not_supported,  // not SSH-2.0 / SSH-1.99
  // Binary packet protocol (RFC 4253 §6).
  packet_too_long,                  // packet_length over the 256 KiB limit
  packet_length_not_block_aligned,  // length not a multiple of the cipher block size
  bad_padding,                      // padding_length under 4 or past the packet
  mac_mismatch,                     // MAC or AEAD tag did not verify
  truncated_packet,                 // the peer closed in the middle of a packet
  empty_payload,                    // a packet without a message number
  sequence_number_wrapped,          // 2^32 packets without rekeying in strict mode
  // Messages.
  malformed_message,          // a field was truncated, malformed or followed by trailing bytes
  unexpected_message,         // a message not allowed in the current phase
  non_kex_message_during_kex,  // RFC 4253 §7.1: only transport/kex messages during key exchange
  strict_kex_violation,       // kex-strict: a non-kex message, or KEXINIT not first
  // Negotiation and key exchange.
  no_common_kex,
  no_common_host_key_alg,
  no_common_cipher,
  no_common_mac,
  no_common_compression,
  invalid_kex_value,        // a peer's ephemeral public value was invalid
  host_key_mismatch,        // the host key in the reply is not of the negotiated type
  bad_host_key_signature,   // the server's signature over the exchange hash did not verify
  host_key_rejected,        // the client's host-key check refused the key
  host_key_changed,         // a re-exchange presented a different host key
  kex_refused,              // the peer answered our KEXINIT with UNIMPLEMENTED
  kex_signer_refused,       // (server) the key exchange's delegate refused to sign it
  kex_answer_mismatch,      // (server) the delegate's answer is not for this exchange's transcript
  service_not_available,    // a service we do not offer
  // Time and closing.
  ident_timeout,       // no identification line in time
  kex_timeout,         // a key exchange did not finish in time
  peer_disconnected,   // the peer sent DISCONNECT
  connection_closed,   // the peer closed the connection (between packets)
  local_disconnect,    // we ended the connection (by_application)
};

std::string_view to_string(TransportError e);
DisconnectReason disconnect_reason(TransportError e);

}  // namespace parley::transport
