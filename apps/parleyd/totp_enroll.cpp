#include "totp_enroll.hpp"

#include "parley/login/system_user.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <expected>
#include <fstream>
#include <iostream>
#include <memory>
#include <string_view>
#include <vector>

#include "config.hpp"
#include "parley/crypto/random.hpp"
#include "parley/crypto/secret.hpp"
#include "parley/otp/base32.hpp"
#include "parley/otp/enroll.hpp"
#include "parley/otp/store.hpp"

namespace parleyd {

namespace {

namespace otp = parley::otp;
namespace crypto = parley::crypto;

constexpr int exit_runtime_error = 1;
constexpr int exit_usage = 2;

constexpr const char* default_ga_pattern = "%h/.google_authenticator";

/// Overwrites a string that held the secret (its whole buffer) and empties it.
void wipe(std::string& s) {
  s.resize(s.capacity());
  crypto::secure_wipe(s.data(), s.size());
  s.clear();
}

/// A user name fit for a users.oath line and a file path: the stores paste it
/// in verbatim.
std::optional<std::string> bad_user_name(std::string_view user) {
  if (user.empty()) return "the user name is empty";
  if (user.size() > 256) return "the user name is longer than 256 bytes";
  if (user == "." || user == ".." || user.front() == '-' || user.front() == '#')
    return "'" + std::string(user) + "' is not a user name";
  for (const char ch : user) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= ' ' || c == 0x7f || c == '/' || c == ':')
      return "a user name cannot contain spaces, control characters, '/' or ':'";
  }
  return std::nullopt;
}

std::string this_host() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0 || name[0] == '\0') return "parleyd";
  return name.data();
}

/// The user's home directory from the password database.
std::expected<std::string, std::string> home_of(const std::string& user) {
  auto found = parley::login::find_system_user(user);
  if (!found) return std::unexpected("cannot look up user " + user + ": " + std::strerror(found.error()));
  if (!*found || (*found)->home.empty())
    return std::unexpected("no such user " + user + " (the file pattern needs their home directory)");
  return (*found)->home;
}

/// Where `user` already has a secret, if they do: users.oath, a TOTP line
/// whose second word is the user (pam_oath's format: TYPE USER PIN SECRET ...);
/// google-authenticator, the user's file exists. The answer names the file.
std::expected<std::optional<std::string>, std::string> existing_secret(
    const TotpStoreLocation& where, const std::string& user) {
  if (!where.users_oath.empty()) {
    const std::string& path = where.users_oath;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      if (errno == ENOENT) return std::nullopt;
      return std::unexpected(path + ": cannot read: " + std::strerror(errno));
    }
    std::string line;
    bool found = false;
    while (std::getline(in, line)) {
      std::string_view rest = line;
      std::array<std::string_view, 2> words;
      for (auto& word : words) {
        const std::size_t start = rest.find_first_not_of(" \t\r");
        if (start == std::string_view::npos) break;
        rest.remove_prefix(start);
        word = rest.substr(0, rest.find_first_of(" \t\r"));
        rest.remove_prefix(word.size());
      }
      // Time-based lines only ("HOTP/T30/6"); the store leaves event-based HOTP lines alone.
      if (words[0].starts_with("HOTP/T") && words[1] == user) found = true;
      wipe(line);
    }
    wipe(line);
    if (in.bad()) return std::unexpected(path + ": cannot read");
    if (found) return std::optional<std::string>(path);
    return std::nullopt;
  }
  auto expanded = expand_path_pattern(where.google_authenticator, user, [&] { return home_of(user); });
  if (!expanded) return std::unexpected(expanded.error());
  const std::string& path = *expanded;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) return std::optional<std::string>(path);
  if (errno == ENOENT) return std::nullopt;
  return std::unexpected(path + ": " + std::strerror(errno));
}

std::optional<otp::TotpAlgorithm> algorithm_from(std::string name) {
  for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (name == "SHA1") return otp::TotpAlgorithm::sha1;
  if (name == "SHA256") return otp::TotpAlgorithm::sha256;
  if (name == "SHA512") return otp::TotpAlgorithm::sha512;
  return std::nullopt;
}

/// The store the subcommand names, else parleyd's own; exactly one.
std::expected<TotpStoreLocation, std::string> choose_store(const TotpEnrollFlags& flags,
                                                           const TotpStoreLocation& fallback) {
  TotpStoreLocation where;
  if (flags.users_oath) {
    where.users_oath = *flags.users_oath;
  } else if (flags.google_authenticator) {
    where.google_authenticator =
        flags.google_authenticator->empty() ? default_ga_pattern : *flags.google_authenticator;
  } else {
    where = fallback;
  }
  if (where.users_oath.empty() && where.google_authenticator.empty())
    return std::unexpected(
        "no TOTP store: give --users-oath PATH or --google-authenticator [PATTERN] "
        "(or set one in parleyd's configuration)");
  if (!where.users_oath.empty() && !where.google_authenticator.empty())
    return std::unexpected(
        "two TOTP stores configured (users.oath and google-authenticator); "
        "name one with --users-oath or --google-authenticator");
  return where;
}

/// What is shown of a new secret, wiped when dropped.
struct Shown {
  std::string uri;
  std::string qr;
  std::string base32;
  ~Shown() {
    wipe(uri);
    wipe(qr);
    wipe(base32);
  }
};

/// The text shown to the administrator. One buffer, reserved up front and
/// appended to piece by piece, so that no reallocation or temporary leaves an
/// unwiped copy of the secret behind; the caller wipes it.
std::string enrollment_text(const TotpEnrollFlags& flags, otp::TotpAlgorithm algorithm,
                            const std::string& store, bool users_oath, const Shown& shown,
                            const otp::Enrollment& enrollment) {
  std::string text;
  text.reserve(1024 + 2 * shown.uri.size() + shown.qr.size() + store.size() + flags.user.size() +
               enrollment.scratch_codes.size() * 16);
  text.append("Enrolled ").append(flags.user).append(" for TOTP in ").append(store);
  text.append(
      ".\nWARNING: the secret below is shown only this once and is not logged. Scan the QR code "
      "(or type the secret) into the user's authenticator app now, keep the scratch codes "
      "somewhere safe, then clear the screen.\n\n");
  text.append("URI: ").append(shown.uri).append("\n");
  text.append("Secret (base32): ").append(shown.base32).append("\n");
  text.append("Parameters: ")
      .append(otp::algorithm_name(algorithm))
      .append(", ")
      .append(std::to_string(flags.digits))
      .append(" digits, ")
      .append(std::to_string(flags.period))
      .append(" s\n\n");
  text.append(flags.light_background
                  ? "QR code (dark modules drawn, for dark-on-light terminals; it encodes the "
                    "URI above):\n"
                  : "QR code (light modules drawn, for light-on-dark terminals; "
                    "--light-background for dark-on-light; it encodes the URI above):\n");
  text.append(shown.qr).append("\n");
  if (enrollment.scratch_codes.empty()) {
    text.append("Scratch codes: none.\n");
  } else {
    text.append(users_oath ? "Scratch codes (each works once instead of a code from the app; "
                             "parleyd takes them, pam_oath does not):\n"
                           : "Scratch codes (each works once instead of a code from the app):\n");
    for (const auto& code : enrollment.scratch_codes) text.append("  ").append(code).append("\n");
  }
  return text;
}

}  // namespace

CLI::App* add_totp_enroll_command(CLI::App& app, TotpEnrollFlags& flags) {
  auto* totp = app.add_subcommand("totp", "Manage TOTP secrets (keyboard-interactive:totp)")
                   ->require_subcommand(1)
                   ->fallthrough();
  auto* enroll =
      totp->add_subcommand("enroll",
                           "Make a new TOTP secret for USER, store it, and show it once as an "
                           "otpauth:// URI, a QR code and scratch codes (nothing is logged)")
          ->fallthrough();
  enroll->add_option("USER", flags.user, "The account to enrol")->required();
  auto* oath = enroll->add_option("--users-oath", flags.users_oath,
                                  "Store the secret in pam_oath's users.oath file")
                   ->type_name("PATH");
  enroll
      ->add_option("--google-authenticator", flags.google_authenticator,
                   "Store it in the user's google-authenticator file; %u is the user, %h the "
                   "home directory")
      ->type_name("[PATTERN]")
      ->expected(0, 1)
      ->default_str(default_ga_pattern)
      ->excludes(oath);
  enroll->add_option("--issuer", flags.issuer,
                     "The name authenticator apps show (default: this host's name)");
  enroll->add_option("--algorithm", flags.algorithm, "SHA1, SHA256 or SHA512")
      ->check(CLI::IsMember({"SHA1", "SHA256", "SHA512"}, CLI::ignore_case))
      ->capture_default_str();
  enroll->add_option("--digits", flags.digits, "Digits of a code")
      ->check(CLI::Range(6, 8))
      ->capture_default_str();
  enroll->add_option("--period", flags.period, "Seconds a code is valid")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  enroll->add_flag("--ascii", flags.ascii, "Draw the QR code with '#' rather than Unicode blocks");
  enroll->add_flag("--light-background", flags.light_background,
                   "The terminal shows dark text on a light background: draw the QR code's dark "
                   "modules (default: its light ones, as qrencode -t UTF8, for light-on-dark "
                   "terminals)");
  enroll->add_flag("--force", flags.force, "Replace a secret the user already has");
  return enroll;
}

int run_totp_enroll(const TotpEnrollFlags& flags, const TotpStoreLocation& fallback,
                    const std::string& log_level, std::ostream& out, std::ostream& err) {
  // As when serving: the log on stderr. Nothing below logs; the secret goes to `out` only.
  spdlog::set_default_logger(spdlog::stderr_color_mt("parleyd"));
  spdlog::set_level(spdlog::level::from_str(log_level));
  auto fail = [&](int status, const std::string& message) {
    err << "parleyd: totp enroll: " << message << "\n";
    return status;
  };
  auto where = choose_store(flags, fallback);
  if (!where) return fail(exit_usage, where.error());
  if (auto bad = bad_user_name(flags.user)) return fail(exit_usage, *bad);
  const auto algorithm = algorithm_from(flags.algorithm);
  if (!algorithm) return fail(exit_usage, "unknown algorithm '" + flags.algorithm + "'");
  if (!flags.force) {
    auto existing = existing_secret(*where, flags.user);
    if (!existing) return fail(exit_runtime_error, existing.error());
    if (*existing)
      return fail(exit_runtime_error,
                  flags.user + " already has a TOTP secret in " + **existing +
                      "; nothing changed (--force replaces it, and the codes of their "
                      "authenticator app and their scratch codes stop working)");
  }

  static crypto::SystemRandom rng;
  otp::EnrollOptions options;
  options.algorithm = *algorithm;
  options.digits = flags.digits;
  options.period = std::chrono::seconds(flags.period);
  // Both stores keep scratch codes (users.oath in a hashed sidecar file that
  // pam_oath does not read, google-authenticator in the user's file).
  options.scratch_codes = 5;
  auto enrollment = otp::make_enrollment(rng, options);
  if (!enrollment) return fail(exit_usage, enrollment.error());

  // Everything shown is made before the secret is stored, so that a secret is
  // never stored that could not be shown.
  Shown shown;
  shown.uri = otp::otpauth_uri(flags.issuer ? *flags.issuer : this_host(), flags.user, enrollment->secret);
  auto qr = otp::qr_terminal(shown.uri, !flags.ascii, flags.light_background);
  if (!qr) return fail(exit_usage, "cannot draw the QR code: " + qr.error() + " (a shorter --issuer?)");
  shown.qr = std::move(*qr);
  shown.base32 = otp::base32_encode(enrollment->secret.key.view());

  const bool users_oath = !where->users_oath.empty();
  std::unique_ptr<otp::TotpStore> store =
      users_oath ? otp::users_oath_store(where->users_oath, rng)
                 : otp::google_authenticator_store(where->google_authenticator, rng);
  if (auto stored = store->enroll(flags.user, *enrollment); !stored)
    return fail(exit_runtime_error, "cannot store the secret: " + stored.error().message());
  std::string text = enrollment_text(flags, *algorithm, store->describe(), users_oath, shown, *enrollment);
  out << text << std::flush;
  wipe(text);
  for (auto& code : enrollment->scratch_codes) wipe(code);
  if (!out) return fail(exit_runtime_error, "cannot write to standard output (the secret IS stored)");
  return 0;
}

}  // namespace parleyd
