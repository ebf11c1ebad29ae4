// SSH message numbers (RFC 4250 §4.1, RFC 8308, RFC 5656).
#pragma once

#include <cstdint>

namespace parley::transport::msg {

inline constexpr std::uint8_t disconnect = 1;
inline constexpr std::uint8_t ignore = 2;
inline constexpr std::uint8_t unimplemented = 3;
inline constexpr std::uint8_t debug = 4;
inline constexpr std::uint8_t service_request = 5;
inline constexpr std::uint8_t service_accept = 6;
inline constexpr std::uint8_t ext_info = 7;  // RFC 8308
inline constexpr std::uint8_t kexinit = 20;
inline constexpr std::uint8_t newkeys = 21;
inline constexpr std::uint8_t kex_ecdh_init = 30;  // also KEXDH_INIT
inline constexpr std::uint8_t kex_ecdh_reply = 31;  // also KEXDH_REPLY

inline constexpr std::uint8_t userauth_request = 50;
inline constexpr std::uint8_t userauth_failure = 51;
inline constexpr std::uint8_t userauth_success = 52;
inline constexpr std::uint8_t userauth_banner = 53;

}  // namespace parley::transport::msg
