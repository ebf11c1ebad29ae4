#include "auth_setup.hpp"


#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>

#include "parley/userauth/authorized_keys.hpp"
#include "parley/userauth/higher_or_lower.hpp"
#include "parley/userauth/server_text.hpp"
#include "parley/login/authorized_keys_file.hpp"
#include "parley/login/system_user.hpp"
#include "parley/login/account.hpp"
#include "parley/otp/provider.hpp"
#include "parley/otp/store.hpp"
#include "parley/pam/pam_provider.hpp"
#include "parley/passwd/password_file.hpp"

namespace parleyd {
namespace {

using parley::userauth::AttemptInfo;
using parley::userauth::ServerAuthConfig;

bool known_step(std::string_view s) {
  return s == "publickey" || s == "password" || s == "keyboard-interactive" ||
         s == "keyboard-interactive:higher-or-lower" || s == "keyboard-interactive:password" ||
         s == "keyboard-interactive:totp" || s == "keyboard-interactive:pam";
}

/// The authorized_keys path for `user`: %u and %h replaced; empty if the user has
/// no home directory and the pattern needs one.
std::string expand(std::string_view pattern, std::string_view user) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size()) {
      const char c = pattern[++i];
      if (c == 'u') {
        out += user;
      } else if (c == 'h') {
        auto found = parley::login::find_system_user(user);
        if (!found || !*found || (*found)->home.empty()) return {};
        out += (*found)->home;
      } else if (c == '%') {
        out += '%';
      } else {
        out += '%';
        out += c;
      }
    } else {
      out += pattern[i];
    }
  }
  return out;
}

/// True if `user` is a name of the password database.
bool os_account(std::string_view user) {
  auto found = parley::login::find_account(user);
  return found && found->has_value();
}

bool names_the_question(const std::vector<std::string>& chain) {
  return std::find(chain.begin(), chain.end(), "keyboard-interactive:higher-or-lower") != chain.end();
}

/// Why no user could ever log in with this configuration, or nullopt. A
/// second factor alone, or --user alone, is no way in: the server refuses to
/// start rather than fall back to anything.
std::optional<std::string> missing_way_in(const AuthSettings& s, const ServerAuthConfig& config) {
  if (!config.chains.empty()) {
    // A chain of nothing but the question has no user database: only --user names.
    const bool question_alone = std::any_of(config.chains.begin(), config.chains.end(), [](const auto& c) {
      return std::all_of(c.begin(), c.end(), [](const std::string& step) {
        return step == "keyboard-interactive:higher-or-lower";
      });
    });
    if (question_alone && s.users.empty())
      return "keyboard-interactive:higher-or-lower alone lets in only the --user accounts: name at least one";
    return std::nullopt;
  }
  if (config.password || config.authorized_keys || config.keyboard_interactive) return std::nullopt;
  std::string what = "no way to log in is configured: give --password-file, --authorized-keys, "
                     "--pam-service or --auth-methods (or run the demo with --demo)";
  if (!s.totp_users_oath.empty() || !s.totp_google_authenticator.empty())
    what += "; a TOTP store is a second factor: name it in a chain after a first factor, e.g. "
            "--auth-methods password,keyboard-interactive:totp";
  if (!s.users.empty())
    what += "; --user names accounts for --demo or keyboard-interactive:higher-or-lower and enables "
            "no login by itself";
  return what;
}

/// A user name that may be put into a path: no separators, no dot-dot.
bool safe_for_path(std::string_view user) {
  return !user.empty() && user.size() <= 64 && user != "." && user != ".." &&
         std::all_of(user.begin(), user.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
         });
}

}  // namespace

std::expected<std::vector<std::string>, std::string> parse_chain(std::string_view text) {
  std::vector<std::string> steps;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = text.find(',', start);
    const std::string_view step =
        text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (!known_step(step)) return std::unexpected("unknown authentication method '" + std::string(step) + "'");
    steps.emplace_back(step);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return steps;
}

std::expected<BuiltAuth, std::string> build_auth_config(const AuthSettings& s,
                                                        parley::crypto::Random& rng,
                                                        parley::userauth::BlockingRunner pool_submit) {
  auto config = std::make_shared<ServerAuthConfig>();
  config->banner = s.banner;
  config->limits = s.limits;

  std::shared_ptr<const parley::passwd::PasswordFile> users_file;
  if (!s.password_file.empty()) {
    auto file = parley::passwd::PasswordFile::load(s.password_file);
    if (!file) return std::unexpected(file.error().message());
    users_file = std::make_shared<const parley::passwd::PasswordFile>(std::move(*file));
    config->password = std::make_shared<const parley::userauth::PasswordVerifier>(
        [users_file](std::string_view user, const parley::crypto::SecretBytes& password) {
          return users_file->verify(user, password);
        });
    config->run_blocking = std::move(pool_submit);
  }
  if (!s.authorized_keys.empty()) {
    // Runs on the worker pool (ServerAuth hands it to run_blocking): it reads
    // the user's files, which may be slow or hostile.
    config->authorized_keys = [pattern = s.authorized_keys](std::string_view user) {
      if (!safe_for_path(user)) return std::vector<parley::crypto::PublicKey>{};
      const std::string path = expand(pattern, user);
      if (path.empty()) return std::vector<parley::crypto::PublicKey>{};
      // StrictModes: the file belongs to root or the user, whose home bounds the
      // directory walk; a name that is not an OS account (a virtual user) owns
      // nothing, so its file must belong to root or to this server's account.
      parley::login::KeyFileOwner owner{::geteuid(), {}};
      if (auto found = parley::login::find_system_user(user); found && *found) {
        owner.uid = (*found)->uid;
        owner.home = (*found)->home;
      }
      auto text = parley::login::read_authorized_keys_file(path, owner);
      auto keys = text ? parley::userauth::parse_authorized_keys(*text, path)
                       : parley::userauth::AuthorizedKeys{{}, {text.error()}};
      for (const auto& p : keys.problems) spdlog::warn("authorized_keys {}", p);
      return keys.keys;
    };
  }
  config->named_providers["higher-or-lower"] = [&rng](const AttemptInfo&) {
    return std::make_unique<parley::userauth::HigherOrLower>(rng);
  };
  if (!s.totp_users_oath.empty() || !s.totp_google_authenticator.empty()) {
    auto totp = std::make_shared<parley::otp::TotpProviderConfig>();
    totp->store = !s.totp_users_oath.empty()
                      ? std::shared_ptr<parley::otp::TotpStore>(
                            parley::otp::users_oath_store(s.totp_users_oath, rng))
                      : std::shared_ptr<parley::otp::TotpStore>(
                            parley::otp::google_authenticator_store(s.totp_google_authenticator, rng));
    totp->run = pool_submit;
    totp->limiter = std::make_shared<parley::otp::RateLimiter>(s.totp_max_failures, s.totp_failure_period);
    totp->policy.window = s.totp_window;
    totp->on_result = [](std::string_view user, std::string_view peer, std::string_view what) {
      // The user name and peer are the client's words: printable only.
      spdlog::info("totp for {} from {}: {}", parley::userauth::printable_for_log(user),
                   parley::userauth::printable_for_log(peer), what);
    };
    spdlog::info("totp secrets: {}", totp->store->describe());
    std::shared_ptr<const parley::otp::TotpProviderConfig> shared = totp;
    config->named_providers["totp"] = [shared](const AttemptInfo& attempt) {
      if (!attempt.run_blocking) return std::make_unique<parley::otp::TotpProvider>(shared);
      // The store runs on the attempt's runner: bounded per connection, and
      // dropped before it runs if the attempt is aborted.
      auto own = std::make_shared<parley::otp::TotpProviderConfig>(*shared);
      own->run = attempt.run_blocking;
      return std::make_unique<parley::otp::TotpProvider>(std::move(own));
    };
  }
  const bool pam_named = std::any_of(s.methods.begin(), s.methods.end(), [](const std::string& m) {
    return m.find("keyboard-interactive:pam") != std::string::npos;
  });
  std::string pam_service_name;
  if (pam_named || !s.pam_service.empty()) {
    parley::pam::PamConfig pam;
    pam.service = s.pam_service.empty() ? "parley" : s.pam_service;
    pam.max_conversations = s.pam_max_conversations;
    pam.on_result = [](std::string_view user, std::string_view peer, std::string_view what) {
      spdlog::info("pam for {} from {}: {}", parley::userauth::printable_for_log(user),
                   parley::userauth::printable_for_log(peer), what);
    };
    pam_service_name = pam.service;
    auto service = parley::pam::make_pam_service(std::move(pam));
    config->named_providers["pam"] = [service](const AttemptInfo&) {
      return parley::pam::make_pam_provider(service);
    };
  }
  for (const auto& m : s.methods) {
    auto chain = parse_chain(m);
    if (!chain) return std::unexpected(chain.error());
    for (const auto& step : *chain) {
      if (step == "password" && !config->password)
        return std::unexpected("method 'password' needs a password file");
      if (step == "keyboard-interactive" && !config->password)
        return std::unexpected(
            "method 'keyboard-interactive' asks for the password and needs a password file "
            "(or name a submethod: keyboard-interactive:higher-or-lower)");
      if (step == "keyboard-interactive:password" && !config->password)
        return std::unexpected("method '" + step + "' needs a password file");
      if (step == "keyboard-interactive:totp" && !config->named_providers.contains("totp"))
        return std::unexpected("method '" + step +
                               "' needs a TOTP store (--totp-users-oath or --totp-google-authenticator)");
      if (step == "publickey" && !config->authorized_keys)
        return std::unexpected("method 'publickey' needs an authorized_keys setting");
    }
    config->chains.push_back(*chain);
  }
  if (!s.pam_service.empty() && !config->password) {
    // As sshd with KbdInteractiveAuthentication and UsePAM: plain
    // keyboard-interactive is the PAM conversation.
    config->keyboard_interactive = config->named_providers["pam"];
  }
  if (s.demo) {
    if (config->password || config->authorized_keys || !config->chains.empty() || !s.pam_service.empty())
      return std::unexpected("--demo runs the Higher or Lower demo alone: drop the other methods");
    config->keyboard_interactive = config->named_providers["higher-or-lower"];
  } else if (auto missing = missing_way_in(s, *config)) {
    return std::unexpected(*missing);
  }
  const bool question =
      s.demo || std::any_of(config->chains.begin(), config->chains.end(), names_the_question);
  const std::vector<std::string> accounts =
      s.demo && s.users.empty() ? std::vector<std::string>{"admin"} : s.users;

  // As root, sessions are the user's: who that is must be settled now.
  std::optional<parley::login::Account> session_user;
  if (s.as_root && !s.demo) {
    if (!s.session_user.empty()) {
      auto found = parley::login::find_account(s.session_user);
      if (!found) return std::unexpected("session_user: " + found.error());
      if (!*found) return std::unexpected("session_user '" + s.session_user + "' is not an account of this system");
      if ((*found)->uid == 0) return std::unexpected("session_user '" + s.session_user + "' is root: virtual users never get root sessions");
      if (auto why = parley::login::login_refusal(**found, parley::login::days_since_epoch()))
        return std::unexpected("session_user '" + s.session_user + "' cannot run sessions: " + *why);
      auto grouped = parley::login::with_groups(**found);
      if (!grouped) return std::unexpected("session_user: " + grouped.error());
      session_user = std::move(*grouped);
    } else {
      std::vector<std::string> virtual_names;
      if (users_file)
        for (const auto& name : users_file->users())
          if (!os_account(name)) virtual_names.push_back(name);
      if (question)
        for (const auto& name : accounts)
          if (!os_account(name)) virtual_names.push_back(name);
      if (!virtual_names.empty()) {
        std::string list;
        for (const auto& n : virtual_names) list += (list.empty() ? "" : ", ") + n;
        return std::unexpected("users that are not accounts of this system (" + list +
                               ") need a session_user (--session-user) to run their sessions as");
      }
    }
  }

  const bool keys = !s.authorized_keys.empty();
  const bool system_users = config->named_providers.contains("pam");
  const bool as_root = s.as_root && !s.demo;  // the demo's sessions are no OS logins
  config->user_exists = [users_file, accounts, keys, system_users, question, as_root, session_user,
                         pattern = s.authorized_keys](std::string_view user) {
    if (!safe_for_path(user)) return false;
    const auto os = parley::login::find_account(user);  // once per decision
    if (!os) return false;
    if (as_root) {
      // Sessions run as this account: it must be one sshd would let in.
      if (*os) {
        if (auto why = parley::login::login_refusal(**os, parley::login::days_since_epoch())) {
          spdlog::info("login of '{}' refused: {}", user, *why);
          return false;
        }
      } else if (!session_user) {
        return false;  // a virtual user with nobody to run as
      }
    }
    if (system_users && *os) return true;
    if (users_file && users_file->has_user(user)) return true;
    if (question && std::find(accounts.begin(), accounts.end(), user) != accounts.end()) return true;
    if (keys) {
      const std::string path = expand(pattern, user);
      std::error_code ec;
      if (!path.empty() && std::filesystem::exists(path, ec)) return true;
    }
    return false;
  };
  config->method_permitted = [rule = s.permit_root_login](std::string_view user, std::string_view method) {
    auto found = parley::login::find_account(user);
    if (!found) return false;
    return !*found || parley::login::root_login_allowed(rule, (*found)->uid, method);
  };
  BuiltAuth built;
  built.config = config;
  built.pam_service = pam_service_name;
  if (s.as_root && !s.demo) {
    built.run_as = [session_user](const std::string& user) -> std::expected<parley::login::Account, std::string> {
      auto found = parley::login::find_account(user);
      if (!found) return std::unexpected(found.error());
      if (*found) return parley::login::with_groups(std::move(**found));
      if (session_user) return *session_user;
      return std::unexpected("'" + user + "' is not an account of this system and there is no session_user");
    };
  }
  return built;
}

}  // namespace parleyd
