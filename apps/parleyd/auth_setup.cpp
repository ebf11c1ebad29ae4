#include "auth_setup.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>

#include "parley/userauth/authorized_keys.hpp"
#include "parley/userauth/higher_or_lower.hpp"
#include "parley/userauth/server_text.hpp"
#include "parley/login/system_user.hpp"
#include "parley/login/account.hpp"
#include "parley/login/authorized_keys_file.hpp"
#include "parley/otp/provider.hpp"
#include "parley/otp/store.hpp"
#include "parley/pam/pam_provider.hpp"
#include "parley/passwd/password_file.hpp"
#include "shared_state.hpp"

namespace parleyd {
namespace {

using parley::userauth::AttemptInfo;
using parley::userauth::ServerAuthConfig;

constexpr AuthStep the_question{AuthMethod::keyboard_interactive, KbdSubmethod::higher_or_lower};

/// The authorized_keys path for `user`, whose account is `account` (null: none
/// or the lookup failed); empty if the pattern needs a home directory it lacks.
std::string expand(std::string_view pattern, std::string_view user,
                   const parley::login::SystemUser* account) {
  auto home = [account]() -> std::expected<std::string, std::string> {
    if (!account || account->home.empty()) return std::unexpected("no home directory");
    return account->home;
  };
  return expand_path_pattern(pattern, user, home).value_or(std::string());
}

/// The same, looking the account up only if the pattern needs its home.
std::string expand(std::string_view pattern, std::string_view user) {
  auto home = [user]() -> std::expected<std::string, std::string> {
    auto found = parley::login::find_system_user(user);
    if (!found || !*found || (*found)->home.empty()) return std::unexpected("no home directory");
    return (*found)->home;
  };
  return expand_path_pattern(pattern, user, home).value_or(std::string());
}

/// True if `user` is a name of the password database.
bool os_account(std::string_view user) {
  auto found = parley::login::find_account(user);
  return found && found->has_value();
}

/// Why `step` cannot be completed with what is configured, or nullopt.
std::optional<std::string> step_problem(const AuthStep& step, const ServerAuthConfig& config) {
  const std::string what = "method '" + name(step) + "'";
  switch (step.method) {
    case AuthMethod::publickey:
      if (!config.authorized_keys) return what + " needs an authorized_keys setting";
      return std::nullopt;
    case AuthMethod::password:
      if (!config.password) return what + " needs a password file";
      return std::nullopt;
    case AuthMethod::keyboard_interactive:
      break;
  }
  if (!step.submethod) {
    if (config.password) return std::nullopt;
    return what + " asks for the password and needs a password file (or name a submethod: "
                  "keyboard-interactive:higher-or-lower)";
  }
  if (step.submethod == KbdSubmethod::password && !config.password) return what + " needs a password file";
  if (step.submethod == KbdSubmethod::totp && !config.named_providers.contains("totp"))
    return what + " needs a TOTP store (--totp-users-oath or --totp-google-authenticator)";
  return std::nullopt;
}

/// What build_auth_config reads, with "not set" made concrete.
struct AuthView {
  explicit AuthView(const Config& c, bool root)
      : config(c),
        demo(c.demo.value_or(false)),
        as_root(root && !demo),  // the demo's sessions are no OS logins
        password_file(c.password_file.value_or("")),
        authorized_keys(c.authorized_keys.value_or("")),
        pam_service(c.pam.service.value_or("")),
        session_user(c.session.session_user.value_or("")) {}

  bool has_totp_store() const { return config.totp.users_oath || config.totp.google_authenticator; }

  const Config& config;
  const bool demo;
  /// Sessions run as the user who logged in (parleyd as root, not the demo).
  const bool as_root;
  const std::string password_file;
  const std::string authorized_keys;  // a path pattern
  /// Set explicitly, PAM also answers a plain "keyboard-interactive" when
  /// there is no password file, as sshd does; empty: PAM only when a chain names it.
  const std::string pam_service;
  const std::string session_user;  // empty: none
};

/// Why no user could ever log in with this configuration, or nullopt. A
/// second factor alone, or --user alone, is no way in: the server refuses to
/// start rather than fall back to anything.
std::optional<std::string> missing_way_in(const AuthView& s, const ServerAuthConfig& config) {
  const auto& users = s.config.users;
  if (!config.chains.empty()) {
    // A chain of nothing but the question has no user database: only --user names.
    const bool question_alone = std::ranges::any_of(s.config.methods, [](const AuthChain& c) {
      return std::ranges::all_of(c, [](const AuthStep& step) { return step == the_question; });
    });
    if (question_alone && users.empty())
      return "keyboard-interactive:higher-or-lower alone lets in only the --user accounts: name at least one";
    return std::nullopt;
  }
  if (config.password || config.authorized_keys || config.keyboard_interactive) return std::nullopt;
  std::string what = "no way to log in is configured: give --password-file, --authorized-keys, "
                     "--pam-service or --auth-methods (or run the demo with --demo)";
  if (s.has_totp_store())
    what += "; a TOTP store is a second factor: name it in a chain after a first factor, e.g. "
            "--auth-methods password,keyboard-interactive:totp";
  if (!users.empty())
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

parley::userauth::AuthLimits core_limits(const Limits& l) {
  parley::userauth::AuthLimits limits;
  limits.max_failures = l.max_auth_tries;
  limits.login_grace = l.login_grace_time;
  limits.max_prompts = l.max_prompts;
  limits.max_answer_bytes = l.max_answer_bytes;
  limits.max_rounds = l.max_rounds;
  limits.max_requests = l.max_requests;
  limits.failure_delay = l.failure_delay;
  limits.max_pending_checks = l.max_checks_per_connection;
  return limits;
}

using UsersFile = std::shared_ptr<const parley::passwd::PasswordFile>;

/// Loads the password file, if one is set, and checks passwords against it on `pool_submit`.
std::expected<UsersFile, std::string> add_password_file(const AuthView& s, ServerAuthConfig& config,
                                                         parley::userauth::BlockingRunner pool_submit) {
  if (s.password_file.empty()) return nullptr;
  auto file = parley::passwd::PasswordFile::load(s.password_file);
  if (!file) return std::unexpected(file.error().message());
  auto users_file = std::make_shared<const parley::passwd::PasswordFile>(std::move(*file));
  config.password = std::make_shared<const parley::userauth::PasswordVerifier>(
      [users_file](std::string_view user, const parley::crypto::SecretBytes& password) {
        return users_file->verify(user, password);
      });
  config.run_blocking = std::move(pool_submit);
  return users_file;
}

/// The publickey keys of a user, from the authorized_keys pattern. Runs on the
/// worker pool (ServerAuth hands it to run_blocking): it reads the user's
/// files, which may be slow or hostile.
std::vector<parley::crypto::PublicKey> authorized_keys_of(const std::string& pattern, std::string_view user) {
  if (!safe_for_path(user)) return {};
  // One lookup for both the path and the file's owner.
  const auto found = parley::login::find_system_user(user);
  const parley::login::SystemUser* account = found && *found ? &**found : nullptr;
  const std::string path = expand(pattern, user, account);
  if (path.empty()) return {};
  // StrictModes: the file belongs to root or the user, whose home bounds the
  // directory walk; a name that is not an OS account (a virtual user) owns
  // nothing, so its file must belong to root or to this server's account.
  parley::login::KeyFileOwner owner{::geteuid(), {}};
  if (account) {
    owner.uid = account->uid;
    owner.home = account->home;
  }
  auto text = parley::login::read_authorized_keys_file(path, owner);
  auto keys = text ? parley::userauth::parse_authorized_keys(*text, path)
                   : parley::userauth::AuthorizedKeys{{}, {text.error()}};
  for (const auto& p : keys.problems) spdlog::warn("authorized_keys {}", p);
  return keys.keys;
}

/// keyboard-interactive:totp, when a TOTP store is configured.
void add_totp(const TotpSettings& t, const StateBackend& state, parley::crypto::Random& rng,
              parley::userauth::BlockingRunner pool_submit, ServerAuthConfig& config) {
  auto totp = std::make_shared<parley::otp::TotpProviderConfig>();
  totp->store = t.users_oath ? std::shared_ptr<parley::otp::TotpStore>(parley::otp::users_oath_store(*t.users_oath, rng))
                             : std::shared_ptr<parley::otp::TotpStore>(
                                   parley::otp::google_authenticator_store(*t.google_authenticator, rng));
  totp->run = std::move(pool_submit);
  totp->failures = state.state;
  totp->max_failures = t.max_failures.value_or(totp->max_failures);
  totp->failure_period = t.failure_period.value_or(totp->failure_period);
  totp->policy.window = t.window.value_or(1);
  if (state.shared) totp->policy.shared = state.state;
  totp->on_result = [](std::string_view user, std::string_view peer, std::string_view what) {
    // The user name and peer are the client's words: printable only.
    spdlog::info("totp for {} from {}: {}", parley::userauth::printable_for_log(user),
                 parley::userauth::printable_for_log(peer), what);
  };
  spdlog::info("totp secrets: {}; used codes and failures: {}", totp->store->describe(),
               state.shared ? state.state->describe() + " (shared)" : std::string("this process"));
  std::shared_ptr<const parley::otp::TotpProviderConfig> shared = totp;
  config.named_providers["totp"] = [shared](const AttemptInfo& attempt) {
    if (!attempt.run_blocking) return std::make_unique<parley::otp::TotpProvider>(shared);
    // The store runs on the attempt's runner: bounded per connection, and
    // dropped before it runs if the attempt is aborted.
    auto own = std::make_shared<parley::otp::TotpProviderConfig>(*shared);
    own->run = attempt.run_blocking;
    return std::make_unique<parley::otp::TotpProvider>(std::move(own));
  };
}

/// keyboard-interactive:pam, when a chain names it or a service is set.
/// Returns the service ("parley" unless set), or empty: no PAM.
std::string add_pam(const AuthView& s, ServerAuthConfig& config) {
  const bool pam_named = names_step(s.config.methods, {AuthMethod::keyboard_interactive, KbdSubmethod::pam});
  if (!pam_named && s.pam_service.empty()) return {};
  parley::pam::PamConfig pam;
  pam.service = s.pam_service.empty() ? "parley" : s.pam_service;
  pam.max_conversations = s.config.pam.max_conversations.value_or(64);
  pam.on_result = [](std::string_view user, std::string_view peer, std::string_view what) {
    spdlog::info("pam for {} from {}: {}", parley::userauth::printable_for_log(user),
                 parley::userauth::printable_for_log(peer), what);
  };
  std::string service_name = pam.service;
  auto service = parley::pam::make_pam_service(std::move(pam));
  config.named_providers["pam"] = [service](const AttemptInfo&) { return parley::pam::make_pam_provider(service); };
  return service_name;
}

/// The chains, each step checked against what is configured, then how one
/// gets in without a chain (the demo, PAM); an error if nobody could.
std::expected<void, std::string> add_ways_in(const AuthView& s, ServerAuthConfig& config) {
  for (const auto& chain : s.config.methods) {
    parley::userauth::Chain steps;
    for (const auto& step : chain) {
      if (auto problem = step_problem(step, config)) return std::unexpected(*problem);
      steps.push_back(chain_step(step));
    }
    config.chains.push_back(std::move(steps));
  }
  if (!s.pam_service.empty() && !config.password) {
    // As sshd with KbdInteractiveAuthentication and UsePAM: plain
    // keyboard-interactive is the PAM conversation.
    config.keyboard_interactive = config.named_providers["pam"];
  }
  if (s.demo) {
    if (config.password || config.authorized_keys || !config.chains.empty() || !s.pam_service.empty())
      return std::unexpected("--demo runs the Higher or Lower demo alone: drop the other methods");
    config.keyboard_interactive = config.named_providers["higher-or-lower"];
  } else if (auto missing = missing_way_in(s, config)) {
    return std::unexpected(*missing);
  }
  return {};
}

/// The session_user's account, checked now: it exists, is not root and may log in.
std::expected<parley::login::Account, std::string> session_account(const std::string& name) {
  auto found = parley::login::find_account(name);
  if (!found) return std::unexpected("session_user: " + found.error());
  if (!*found) return std::unexpected("session_user '" + name + "' is not an account of this system");
  if ((*found)->uid == 0)
    return std::unexpected("session_user '" + name + "' is root: virtual users never get root sessions");
  if (auto why = parley::login::login_refusal(**found, parley::login::days_since_epoch()))
    return std::unexpected("session_user '" + name + "' cannot run sessions: " + *why);
  auto grouped = parley::login::with_groups(**found);
  if (!grouped) return std::unexpected("session_user: " + grouped.error());
  return std::move(*grouped);
}

/// As root, sessions are the user's: whom virtual users run as is settled now.
/// Without a session_user, a virtual user anyone could log in as is an error.
std::expected<std::optional<parley::login::Account>, std::string> settle_session_user(
    const AuthView& s, const UsersFile& users_file, bool question, const std::vector<std::string>& accounts) {
  if (!s.as_root) return std::nullopt;
  if (!s.session_user.empty()) return session_account(s.session_user);
  std::vector<std::string> virtual_names;
  if (users_file)
    for (const auto& name : users_file->users())
      if (!os_account(name)) virtual_names.push_back(name);
  if (question)
    for (const auto& name : accounts)
      if (!os_account(name)) virtual_names.push_back(name);
  if (virtual_names.empty()) return std::nullopt;
  std::string list;
  for (const auto& n : virtual_names) list += (list.empty() ? "" : ", ") + n;
  return std::unexpected("users that are not accounts of this system (" + list +
                         ") need a session_user (--session-user) to run their sessions as");
}

/// Who may log in, and by which methods: ServerAuth asks it once per connection,
/// and every rule here answers from that one lookup of the account.
struct UserRule {
  UsersFile users_file;
  std::vector<std::string> accounts;  // the question's
  std::string keys_pattern;           // empty: no publickey logins
  bool system_users = false;          // PAM: every OS account
  bool question = false;
  bool as_root = false;
  std::optional<parley::login::Account> session_user;
  parley::login::RootLogin root_login = parley::login::RootLogin::prohibit_password;
  /// on_state_error = "deny-all": no step succeeds while this backend is not answering.
  std::shared_ptr<parley::state::SharedState> deny_unless_answering;

  parley::userauth::UserVerdict operator()(std::string_view user) const {
    if (!safe_for_path(user)) return {};
    const auto os = parley::login::find_account(user);  // the one lookup of this login
    if (!os) return {};
    parley::userauth::UserVerdict verdict{exists(user, *os), {}};
    if (*os)  // PermitRootLogin; a virtual user is never root
      verdict.method_permitted = [rule = root_login, uid = (*os)->uid](std::string_view method) {
        return parley::login::root_login_allowed(rule, uid, method);
      };
    if (deny_unless_answering)
      verdict.method_permitted = [inner = std::move(verdict.method_permitted), state = deny_unless_answering,
                                  name = std::string(user)](std::string_view method) {
        if (!state->answering()) {
          spdlog::warn("{} for {} refused: shared state {} is not answering (on_state_error = \"deny-all\")",
                       method, parley::userauth::printable_for_log(name), state->describe());
          return false;
        }
        return !inner || inner(method);
      };
    return verdict;
  }

  /// Whether `user`, whose account is `os` (or none), may log in at all.
  bool exists(std::string_view user, const std::optional<parley::login::Account>& os) const {
    if (as_root) {
      // Sessions run as this account: it must be one sshd would let in.
      if (os) {
        if (auto why = parley::login::login_refusal(*os, parley::login::days_since_epoch())) {
          spdlog::info("login of '{}' refused: {}", user, *why);
          return false;
        }
      } else if (!session_user) {
        return false;  // a virtual user with nobody to run as
      }
    }
    if (system_users && os) return true;
    if (users_file && users_file->has_user(user)) return true;
    if (question && std::find(accounts.begin(), accounts.end(), user) != accounts.end()) return true;
    if (keys_pattern.empty()) return false;
    const std::string path = expand(keys_pattern, user);
    std::error_code ec;
    return !path.empty() && std::filesystem::exists(path, ec);
  }
};

AccountResolver run_as_resolver(std::optional<parley::login::Account> session_user) {
  return [session_user](const std::string& user) -> std::expected<parley::login::Account, std::string> {
    auto found = parley::login::find_account(user);
    if (!found) return std::unexpected(found.error());
    if (*found) return parley::login::with_groups(std::move(**found));
    if (session_user) return *session_user;
    return std::unexpected("'" + user + "' is not an account of this system and there is no session_user");
  };
}

}  // namespace

std::expected<BuiltAuth, std::string> build_auth_config(const Config& settings, bool as_root,
                                                        parley::crypto::Random& rng,
                                                        parley::userauth::BlockingRunner pool_submit) {
  const AuthView s(settings, as_root);
  auto config = std::make_shared<ServerAuthConfig>();
  config->banner = settings.banner.value_or("");
  config->limits = core_limits(settings.limits);
  auto users_file = add_password_file(s, *config, pool_submit);
  if (!users_file) return std::unexpected(users_file.error());
  if (!s.authorized_keys.empty())
    config->authorized_keys = [pattern = s.authorized_keys](std::string_view user) {
      return authorized_keys_of(pattern, user);
    };
  config->named_providers["higher-or-lower"] = [&rng](const AttemptInfo&) {
    return std::make_unique<parley::userauth::HigherOrLower>(rng);
  };
  const bool totp = settings.totp.users_oath || settings.totp.google_authenticator;
  std::optional<StateBackend> state;
  if (totp || settings.state.backend == "redis") {
    auto made = make_state_backend(settings.state);
    if (!made) return std::unexpected(made.error());
    state = std::move(*made);
  }
  if (totp) add_totp(settings.totp, *state, rng, pool_submit, *config);
  BuiltAuth built;
  built.pam_service = add_pam(s, *config);
  if (auto added = add_ways_in(s, *config); !added) return std::unexpected(added.error());

  UserRule rule;
  rule.question = s.demo || names_step(settings.methods, the_question);
  rule.accounts = s.demo && settings.users.empty() ? std::vector<std::string>{"admin"} : settings.users;
  auto session_user = settle_session_user(s, *users_file, rule.question, rule.accounts);
  if (!session_user) return std::unexpected(session_user.error());
  rule.users_file = *users_file;
  rule.keys_pattern = s.authorized_keys;
  rule.system_users = config->named_providers.contains("pam");
  rule.as_root = s.as_root;
  rule.session_user = *session_user;
  rule.root_login =
      settings.permit_root_login.value_or(parley::login::RootLogin::prohibit_password);
  if (state && state->shared) {
    built.shared_state = state->state;
    if (state->deny_all) rule.deny_unless_answering = state->state;
  }
  config->look_up_user = std::move(rule);
  built.config = config;
  if (s.as_root) built.run_as = run_as_resolver(*session_user);
  return built;
}

}  // namespace parleyd
