#include "parley/transport/error.hpp"

namespace parley::transport {

std::string_view to_string(DisconnectReason r) {
  switch (r) {
    case DisconnectReason::host_not_allowed_to_connect: return "host not allowed to connect";
    case DisconnectReason::protocol_error: return "protocol error";
    case DisconnectReason::key_exchange_failed: return "key exchange failed";
    case DisconnectReason::reserved: return "reserved";
    case DisconnectReason::mac_error: return "MAC error";
    case DisconnectReason::compression_error: return "compression error";
    case DisconnectReason::service_not_available: return "service not available";
    case DisconnectReason::protocol_version_not_supported: return "protocol version not supported";
    case DisconnectReason::host_key_not_verifiable: return "host key not verifiable";
    case DisconnectReason::connection_lost: return "connection lost";
    case DisconnectReason::by_application: return "by application";
    case DisconnectReason::too_many_connections: return "too many connections";
    case DisconnectReason::auth_cancelled_by_user: return "auth cancelled by user";
    case DisconnectReason::no_more_auth_methods_available: return "no more auth methods available";
    case DisconnectReason::illegal_user_name: return "illegal user name";
  }
  return "unknown reason";
}

std::string_view to_string(TransportError e) {
  switch (e) {
    case TransportError::ident_line_too_long: return "identification line longer than 255 bytes";
    case TransportError::too_many_preversion_lines: return "too many lines before the version line";
    case TransportError::preversion_line_from_client: return "client sent a line that is not an SSH identification";
    case TransportError::ident_malformed: return "malformed identification line";
    case TransportError::protocol_version_not_supported: return "protocol version not supported";
    case TransportError::packet_too_long: return "packet length over 256 KiB";
    case TransportError::packet_length_not_block_aligned: return "packet length not a multiple of the block size";
    case TransportError::bad_padding: return "bad padding length";
    case TransportError::mac_mismatch: return "message authentication code incorrect";
    case TransportError::truncated_packet: return "connection closed in the middle of a packet";
    case TransportError::empty_payload: return "packet without a message number";
    case TransportError::sequence_number_wrapped: return "sequence number wrapped during initial key exchange";
    case TransportError::malformed_message: return "malformed message";
    case TransportError::unexpected_message: return "unexpected message";
    case TransportError::non_kex_message_during_kex: return "non-key-exchange message during key exchange";
    case TransportError::strict_kex_violation: return "strict key exchange violation";
    case TransportError::no_common_kex: return "no matching key exchange method";
    case TransportError::no_common_host_key_alg: return "no matching host key type";
    case TransportError::no_common_cipher: return "no matching cipher";
    case TransportError::no_common_mac: return "no matching MAC";
    case TransportError::no_common_compression: return "no matching compression method";
    case TransportError::invalid_kex_value: return "invalid key exchange public value";
    case TransportError::host_key_mismatch: return "host key type does not match the negotiated algorithm";
    case TransportError::bad_host_key_signature: return "host key signature verification failed";
    case TransportError::host_key_rejected: return "host key rejected";
    case TransportError::host_key_changed: return "server host key changed during key re-exchange";
    case TransportError::kex_refused: return "peer refused key re-exchange (UNIMPLEMENTED)";
    case TransportError::kex_signer_refused: return "the host key's holder refused the key exchange";
    case TransportError::kex_answer_mismatch:
      return "the host key's holder answered for another key exchange";
    case TransportError::service_not_available: return "service not available";
    case TransportError::ident_timeout: return "timed out waiting for the identification";
    case TransportError::kex_timeout: return "key exchange timed out";
    case TransportError::peer_disconnected: return "peer disconnected";
    case TransportError::connection_closed: return "connection closed by peer";
    case TransportError::local_disconnect: return "disconnected by application";
  }
  return "unknown error";
}

DisconnectReason disconnect_reason(TransportError e) {
  using R = DisconnectReason;
  switch (e) {
    case TransportError::protocol_version_not_supported: return R::protocol_version_not_supported;
    case TransportError::mac_mismatch: return R::mac_error;
    case TransportError::no_common_kex:
    case TransportError::no_common_host_key_alg:
    case TransportError::no_common_cipher:
    case TransportError::no_common_mac:
    case TransportError::no_common_compression:
    case TransportError::invalid_kex_value:
    case TransportError::kex_timeout:
      return R::key_exchange_failed;
    case TransportError::host_key_mismatch:
    case TransportError::bad_host_key_signature:
    case TransportError::host_key_rejected:
    case TransportError::host_key_changed:
      return R::host_key_not_verifiable;
    case TransportError::kex_refused:
    case TransportError::kex_signer_refused:
    case TransportError::kex_answer_mismatch:
      return R::key_exchange_failed;
    case TransportError::service_not_available: return R::service_not_available;
    case TransportError::truncated_packet:
    case TransportError::connection_closed:
    case TransportError::ident_timeout:
      return R::connection_lost;
    case TransportError::local_disconnect: return R::by_application;
    default: return R::protocol_error;
  }
}

}  // namespace parley::transport
