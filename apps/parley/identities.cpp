#include "identities.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "agent_socket.hpp"
#include "parley/userauth/server_text.hpp"
#include "parley/crypto/key_file.hpp"

namespace parley::app {
namespace {

/// An identity file: its private key if parley can load it, its public key (from
/// the private key or FILE.pub, so an encrypted key held by the agent still counts).
struct IdentityFile {
  std::string path;
  std::optional<crypto::PrivateKey> private_key;
  std::optional<crypto::PublicKey> public_key;
  std::string load_error;
};

IdentityFile load_identity(const std::string& path) {
  IdentityFile f{path, std::nullopt, std::nullopt, {}};
  if (auto key = crypto::load_private_key(path)) {
    f.public_key = key->public_key();
    f.private_key = std::move(*key);
    return f;
  } else {
    f.load_error = key.error().message;
  }
  std::ifstream pub(path + ".pub");
  std::string line;
  if (pub && std::getline(pub, line))
    if (auto key = crypto::PublicKey::from_openssh(line)) f.public_key = std::move(*key);
  return f;
}

/// The files named (-i, IdentityFile), or those of ssh's defaults that exist.
std::vector<IdentityFile> load_identity_files(const ClientOptions& options) {
  std::vector<IdentityFile> files;
  for (const auto& path : options.identity_files) {
    const std::string p = path.string();
    if (!options.identity_files_named && !std::filesystem::exists(p) &&
        !std::filesystem::exists(p + ".pub"))
      continue;
    files.push_back(load_identity(p));
  }
  return files;
}

std::string describe(const crypto::PublicKey& key) {
  return key.fingerprint() + " (" + std::string(crypto::key_type_name(key.type())) + ")";
}

/// The agent at `socket` and the keys it holds; none if it cannot be reached
/// (a debug line says why).
struct Agent {
  std::shared_ptr<AgentSocket> socket;
  std::vector<client::agent::Identity> identities;
};

Agent connect_agent(const std::string& path) {
  Agent agent;
  auto connected = AgentSocket::connect(path);
  if (!connected) {
    spdlog::debug("no ssh-agent: {}", connected.error());
    return agent;
  }
  auto socket = std::make_shared<AgentSocket>(std::move(*connected));
  auto ids = socket->identities(std::chrono::seconds(10));
  if (!ids) {
    spdlog::debug("ssh-agent at {}: {}", path, ids.error());
    return agent;
  }
  agent.socket = std::move(socket);
  agent.identities = std::move(*ids);
  spdlog::debug("ssh-agent at {} holds {} key(s)", path, agent.identities.size());
  return agent;
}

/// The agent's key `id` as a key the core offers; the agent signs with it.
userauth::ExternalKey agent_key(const std::shared_ptr<AgentSocket>& agent,
                            const client::agent::Identity& id) {
  userauth::ExternalKey external{*id.key, id.comment, nullptr};
  // The agent is asked on the connection's thread, as ssh does, within 60 s.
  external.sign = [agent, blob = id.blob, fp = describe(*id.key)](
                      Bytes data, crypto::SignatureAlg alg, userauth::ReplyTo<userauth::SignReply> reply) {
    auto signature = agent->sign(blob, data, alg, std::chrono::seconds(60));
    crypto::secure_wipe(data.data(), data.size());
    if (!signature) {
      spdlog::info("ssh-agent did not sign with {}: {}", fp, signature.error());
      return reply(userauth::Decline{});
    }
    spdlog::debug("ssh-agent signed with {} using {}", fp, crypto::name(alg));
    reply(std::move(*signature));
  };
  spdlog::info("will offer {} from the agent ('{}')", describe(*id.key),
               userauth::printable_for_log(id.comment, 64));
  return external;
}

}  // namespace

void offer_keys(const ClientOptions& options, userauth::ClientAuthConfig& config) {
  const std::vector<IdentityFile> files = load_identity_files(options);
  const bool publickey =
      std::find(config.methods.begin(), config.methods.end(), "publickey") != config.methods.end();
  const Agent agent =
      publickey && !options.agent_socket.empty() ? connect_agent(options.agent_socket) : Agent{};
  const auto& ids = agent.identities;
  std::vector<bool> agent_used(ids.size(), false);
  std::vector<bool> file_in_agent(files.size(), false);
  for (std::size_t f = 0; f < files.size(); ++f) {
    if (!files[f].public_key) continue;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (!ids[i].key || *ids[i].key != *files[f].public_key) continue;
      file_in_agent[f] = true;
      if (!agent_used[i]) config.agent_keys.push_back(agent_key(agent.socket, ids[i]));
      agent_used[i] = true;
    }
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (agent_used[i]) continue;
    if (!ids[i].key) {
      spdlog::debug("ssh-agent key '{}' is of a type parley does not use: skipped",
                    userauth::printable_for_log(ids[i].comment, 64));
      continue;
    }
    if (!options.identities_only) config.agent_keys.push_back(agent_key(agent.socket, ids[i]));
  }
  for (std::size_t f = 0; f < files.size(); ++f) {
    if (file_in_agent[f]) continue;
    if (files[f].private_key) {
      spdlog::info("will offer {} from {}", describe(*files[f].public_key), files[f].path);
      config.keys.push_back(*files[f].private_key);
    } else if (options.identity_files_named) {
      std::cerr << "parley: cannot use " << files[f].path << ": " << files[f].load_error << "\n";
    }
  }
}

}  // namespace parley::app
