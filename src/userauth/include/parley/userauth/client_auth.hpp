// Client side of SSH user authentication (RFC 4252) with keyboard-interactive
// (RFC 4256), as a sans-I/O core, and the callback API an application answers
// prompts with (the shape of seed 000's on_user_info_request, without its limits).
//
// The core runs only after the transport has verified the server's host key (it
// starts at SERVICE_ACCEPT, which follows the first key exchange), so no secret
// is ever sent to an unverified server.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "parley/userauth/provider.hpp"
#include "parley/crypto/keys.hpp"
#include "parley/crypto/secret.hpp"
#include "parley/transport/error.hpp"
#include "parley/transport/transport.hpp"
#include "parley/wire/bytes.hpp"
#include "parley/wire/fifo.hpp"

namespace parley::userauth {

/// The server as verified by the transport: what every callback sees.
struct HostIdentity {
  std::string host;  // as the user named it
  std::uint16_t port = 22;
  std::string key_type;     // "ssh-ed25519", ...
  std::string fingerprint;  // "SHA256:...", as OpenSSH shows it
};

/// One keyboard-interactive round (SSH_MSG_USERAUTH_INFO_REQUEST). The texts are
/// the server's, checked to be UTF-8 and bounded, but not made safe for a
/// terminal: pass them through sanitize_server_text() before showing them.
struct UserInfoRequest {
  std::string name;
  std::string instruction;
  std::string language;
  std::vector<Prompt> prompts;
  std::size_t round = 1;    // 1-based round within this keyboard-interactive attempt
  std::size_t attempt = 1;  // 1-based keyboard-interactive attempt on this connection
  std::string user;
  HostIdentity host;
};

/// The password method asks for the account password (RFC 4252 §8).
struct PasswordRequest {
  std::string user;
  HostIdentity host;
  std::size_t attempt = 1;  // 1-based password attempt on this connection
};

struct Decline {};
/// One answer per prompt, in order (the core refuses any other count).
struct Answers {
  std::vector<crypto::SecretBytes> values;
};
using InfoReply = std::variant<Decline, Answers>;          // default: Decline
using PasswordReply = std::variant<Decline, crypto::SecretBytes>;
/// An external signer's answer: the SSH signature blob (string alg-name, string
/// sig), sent to the server as it is, or Decline (refused: the next key is tried).
using SignReply = std::variant<Decline, Bytes>;

// Replies come back through a ReplyTo (reply.hpp): call it once, now or later,
// from any thread; calls after the connection moved on are ignored.

/// A key whose private half is elsewhere (an ssh-agent): the core queries the
/// server with `key` and, on PK_OK, asks `sign` for a signature over `data` with
/// `alg` (rsa-sha2-512 for RSA keys, as for local keys). `data` is the RFC 4252
/// §7 signature input: never log it. Answer through the ReplyTo, now or later,
/// from any thread. A signature that does not verify with `key` counts as a
/// refusal, so a confused signer costs one key, not the connection.
struct ExternalKey {
  crypto::PublicKey key;
  std::string comment;  // for the application's logs (the agent's, arbitrary bytes)
  std::function<void(Bytes data, crypto::SignatureAlg alg, ReplyTo<SignReply> reply)> sign;
};

/// The application's side of client authentication. Unset callbacks decline.
struct ClientAuthConfig {
  std::string user;
  /// Methods in the order to try them, among those the server allows.
  std::vector<std::string> methods = {"publickey", "keyboard-interactive", "password"};
  /// Keys for publickey, each first as a query, then signed. `agent_keys` are
  /// tried first, in order, then `keys`. OpenSSH's order is the application's to
  /// build: agent keys that are also identity files (in the files' order), the
  /// other agent keys (unless IdentitiesOnly), then the files the agent lacks.
  std::vector<ExternalKey> agent_keys;
  std::vector<crypto::PrivateKey> keys;
  /// Seed 000's callbacks, asynchronous-capable: answer through the ReplyTo.
  std::function<void(const UserInfoRequest&, ReplyTo<InfoReply>)> on_user_info_request;
  std::function<void(const PasswordRequest&, ReplyTo<PasswordReply>)> on_password_request;
  /// Banner text from the server (RFC 4252 §5.4), raw: sanitize before showing.
  std::function<void(std::string_view banner)> on_banner;
  /// Limits on what a server may ask (a hostile server is refused cleanly).
  std::size_t max_prompts = 64;
  std::size_t max_text_bytes = 64 * 1024;  // name, instruction, a prompt, a banner
  std::size_t max_rounds = 32;             // rounds in one keyboard-interactive attempt
  /// Attempts of keyboard-interactive, and of password, per connection: 3, as
  /// OpenSSH's NumberOfPasswordPrompts (each failed one may count towards an
  /// account lockout on the server).
  std::size_t max_attempts = 3;
};

/// How client authentication ended.
struct ClientAuthSucceeded {};
struct ClientAuthFailed {
  /// One line for the user: "Permission denied (publickey,keyboard-interactive).",
  /// "server asked 10000 questions in one round (limit 64)", ...
  std::string reason;
  transport::DisconnectReason disconnect = transport::DisconnectReason::no_more_auth_methods_available;
};
using ClientAuthResult = std::variant<ClientAuthSucceeded, ClientAuthFailed>;

/// The client authentication core. Feed it userauth messages (50–79) after
/// SERVICE_ACCEPT for "ssh-userauth"; send what take_messages() yields.
class ClientAuth {
 public:
  ClientAuth(std::shared_ptr<const ClientAuthConfig> config, HostIdentity host);
  ~ClientAuth();
  ClientAuth(const ClientAuth&) = delete;
  ClientAuth& operator=(const ClientAuth&) = delete;

  /// Starts (the "none" request that learns the server's methods).
  void start(const Bytes& session_id);
  void handle(BytesView payload);
  /// Picks up replies of asynchronous callbacks.
  void poll();
  void set_wake(std::function<void()> wake) { wake_ = std::move(wake); }

  std::vector<Bytes> take_messages();
  /// Set once authentication has ended either way.
  const std::optional<ClientAuthResult>& result() const { return result_; }
  /// Methods the server listed in its last failure.
  const std::vector<std::string>& server_methods() const { return server_methods_; }
  /// The method that succeeded (or is being tried).
  const std::string& current_method() const { return method_; }

 private:
  struct State;
  void handle_banner(BytesView payload);
  void handle_failure(BytesView payload);
  void handle_pk_ok(BytesView payload);
  void next_method();
  void send_query();
  void send_signed();
  void ask_signer();
  void signer_replied(SignReply reply);
  void ask_password();
  void password_given(PasswordReply reply);
  void start_keyboard_interactive();
  void info_request(BytesView payload);
  void answers_given(InfoReply reply);

  std::unique_ptr<State> s_;
  std::shared_ptr<const ClientAuthConfig> config_;
  HostIdentity host_;
  std::function<void()> wake_;
  std::optional<ClientAuthResult> result_;
  std::vector<std::string> server_methods_;
  std::string method_;
  std::vector<Bytes> out_;
};

}  // namespace parley::userauth
