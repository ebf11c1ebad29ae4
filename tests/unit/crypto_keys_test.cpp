// SSH keys against the reference implementation: keys made by ssh-keygen are
// loaded, fingerprinted and written back byte for byte; SSHSIG signatures
// (PROTOCOL.sshsig) made by ssh-keygen verify with PublicKey, and ours verify
// with ssh-keygen. Also key file saving, corrupted files and base64.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "parley/crypto/hash.hpp"
#include "parley/crypto/key_file.hpp"
#include "parley/crypto/keys.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"

namespace parley::crypto {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------
// Helpers

/// A fresh directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "parley-keys-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(std::string_view name) const { return path_ / name; }

 private:
  fs::path path_;
};

struct RunResult {
  int exit_code;
  std::string out;  // stdout only; stderr goes to the test log
};

RunResult run(const std::string& command) {
  RunResult result{-1, {}};
  FILE* f = ::popen(command.c_str(), "r");
  if (f == nullptr) return result;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) result.out.append(buf, n);
  const int status = ::pclose(f);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string quote(const fs::path& p) {
  return "'" + p.string() + "'";
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const fs::path& p, std::string_view text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

std::vector<std::string> fields(std::string_view line) {
  std::vector<std::string> out;
  std::istringstream in{std::string(line)};
  std::string f;
  while (in >> f) out.push_back(f);
  return out;
}

std::set<std::string> dir_entries(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

/// Hands out scripted bytes (then zeros), so a test can fix the check value.
class ScriptedRandom final : public Random {
 public:
  explicit ScriptedRandom(BytesView bytes) : bytes_(bytes.begin(), bytes.end()) {}
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) {
      if (bytes_.empty()) {
        b = 0;
      } else {
        b = bytes_.front();
        bytes_.pop_front();
      }
    }
  }

 private:
  std::deque<std::uint8_t> bytes_;
};

bool have_ssh_keygen() {
  return std::system("command -v ssh-keygen >/dev/null 2>&1") == 0;
}

/// Fails the current test (not skips it) when ssh-keygen is missing.
#define REQUIRE_SSH_KEYGEN() \
  ASSERT_TRUE(have_ssh_keygen()) << "ssh-keygen (openssh-client) is required"

struct KeyCase {
  const char* name;
  const char* keygen_args;
  KeyType type;
  const char* fingerprint_suffix;  // ssh-keygen -l's "(TYPE)"
};

const KeyCase key_cases[] = {
    {"ed25519", "-t ed25519", KeyType::ed25519, "(ED25519)"},
    {"ecdsa", "-t ecdsa -b 256", KeyType::ecdsa_p256, "(ECDSA)"},
    {"rsa", "-t rsa -b 3072", KeyType::rsa, "(RSA)"},
};

constexpr std::string_view test_comment = "parley-test@example";

/// Keys made once per process by ssh-keygen (RSA generation is slow).
struct KeygenKeys {
  TempDir dir;
  std::map<std::string, fs::path> paths;
  bool ok = true;

  KeygenKeys() {
    for (const auto& c : key_cases) {
      const fs::path path = dir / (std::string("id_") + c.name);
      const int rc = std::system(("ssh-keygen -q " + std::string(c.keygen_args) + " -N '' -C '" +
                                  std::string(test_comment) + "' -f " + quote(path) + " </dev/null")
                                     .c_str());
      if (rc != 0) ok = false;
      paths[c.name] = path;
    }
  }
};

const KeygenKeys& keygen_keys() {
  static KeygenKeys keys;
  return keys;
}

/// The decoded body of an armored block ("-----BEGIN <label>-----" ...).
Bytes dearmor(std::string_view text, std::string_view label) {
  const std::string begin = "-----BEGIN " + std::string(label) + "-----";
  const std::string end = "-----END " + std::string(label) + "-----";
  const auto b = text.find(begin);
  const auto e = text.find(end);
  if (b == std::string_view::npos || e == std::string_view::npos || e < b) return {};
  auto decoded = base64_decode(text.substr(b + begin.size(), e - b - begin.size()));
  return decoded ? *decoded : Bytes{};
}

std::string armor(BytesView body, std::string_view label) {
  const std::string b64 = base64_encode(body);
  std::string out = "-----BEGIN " + std::string(label) + "-----\n";
  for (std::size_t i = 0; i < b64.size(); i += 70) out += b64.substr(i, 70) + "\n";
  return out + "-----END " + std::string(label) + "-----\n";
}

// ---------------------------------------------------------------------------
// SSHSIG (OpenSSH PROTOCOL.sshsig)

constexpr std::string_view sshsig_magic = "SSHSIG";
constexpr std::string_view sshsig_namespace = "file";

struct SshSig {
  Bytes public_key;
  std::string ns;
  std::string hash_alg;
  Bytes signature;  // an SSH signature blob
};

std::optional<SshSig> parse_sshsig(std::string_view armored) {
  const Bytes blob = dearmor(armored, "SSH SIGNATURE");
  wire::Reader r(blob);
  const BytesView magic = r.raw(sshsig_magic.size());
  const std::uint32_t version = r.uint32();
  SshSig sig;
  const BytesView pk = r.string();
  sig.ns = std::string(r.text());
  (void)r.string();  // reserved
  sig.hash_alg = std::string(r.text());
  const BytesView signature = r.string();
  if (!r.finish() || as_chars(magic) != sshsig_magic || version != 1) return std::nullopt;
  sig.public_key.assign(pk.begin(), pk.end());
  sig.signature.assign(signature.begin(), signature.end());
  return sig;
}

/// The bytes an SSHSIG signature covers.
Bytes sshsig_signed_data(std::string_view ns, std::string_view hash_alg, BytesView message) {
  const HashAlg alg = hash_alg == "sha256" ? HashAlg::sha256 : HashAlg::sha512;
  Bytes out;
  wire::Writer(out)
      .raw(as_bytes(sshsig_magic))
      .string(ns)
      .string(std::string_view{})  // reserved
      .string(hash_alg)
      .string(digest(alg, message));
  return out;
}

std::string make_sshsig(const PrivateKey& key, SignatureAlg alg, BytesView message) {
  const Bytes signature = key.sign(alg, sshsig_signed_data(sshsig_namespace, "sha512", message));
  Bytes blob;
  wire::Writer(blob)
      .raw(as_bytes(sshsig_magic))
      .uint32(1)
      .string(key.public_key().blob())
      .string(sshsig_namespace)
      .string(std::string_view{})
      .string(std::string_view("sha512"))
      .string(signature);
  return armor(blob, "SSH SIGNATURE");
}

std::optional<SignatureAlg> blob_alg(BytesView signature_blob) {
  wire::Reader r(signature_blob);
  return signature_alg_from_name(r.text());
}

// ---------------------------------------------------------------------------
// Keys made by ssh-keygen

class KeygenKey : public ::testing::TestWithParam<KeyCase> {
 protected:
  void SetUp() override {
    REQUIRE_SSH_KEYGEN();
    ASSERT_TRUE(keygen_keys().ok) << "ssh-keygen could not generate the test keys";
    path_ = keygen_keys().paths.at(GetParam().name);
    auto key = load_private_key(path_);
    ASSERT_TRUE(key.has_value()) << key.error().message;
    key_.emplace(*std::move(key));
  }
  fs::path pub_path() const { return fs::path(path_.string() + ".pub"); }
  const PrivateKey& key() const { return *key_; }

  fs::path path_;
  std::optional<PrivateKey> key_;
};

TEST_P(KeygenKey, PublicKeyMatchesPubFile) {
  EXPECT_EQ(key().type(), GetParam().type);
  const std::string pub_line = read_text(pub_path());
  auto pub = PublicKey::from_openssh(pub_line);
  ASSERT_TRUE(pub.has_value());
  EXPECT_EQ(pub->blob(), key().public_key().blob());
  EXPECT_TRUE(*pub == key().public_key());
  // Our one-line form is exactly ssh-keygen's.
  EXPECT_EQ(key().public_key().to_openssh(test_comment) + "\n", pub_line);
}

TEST_P(KeygenKey, FingerprintMatchesSshKeygen) {
  const RunResult r = run("ssh-keygen -l -E sha256 -f " + quote(pub_path()));
  ASSERT_EQ(r.exit_code, 0);
  // "<bits> SHA256:<base64> <comment> (<TYPE>)"
  const auto f = fields(r.out);
  ASSERT_EQ(f.size(), 4u) << r.out;
  EXPECT_EQ(f[1], key().public_key().fingerprint());
  EXPECT_EQ(f[3], GetParam().fingerprint_suffix);
}

TEST_P(KeygenKey, WritesTheFileBackByteForByte) {
  // ssh-keygen's check value is random; replaying it through the Random
  // source must reproduce the file exactly.
  const std::string original = read_text(path_);
  const Bytes decoded = dearmor(original, "OPENSSH PRIVATE KEY");
  wire::Reader r(decoded);
  (void)r.raw(15);
  (void)r.text();
  (void)r.text();
  (void)r.string();
  (void)r.uint32();
  (void)r.string();
  const BytesView section = r.string();
  ASSERT_TRUE(r.finish().has_value());
  ASSERT_GE(section.size(), 4u);
  ScriptedRandom rng(section.first(4));
  EXPECT_EQ(key().to_openssh(test_comment, rng), original);
}

TEST_P(KeygenKey, WrittenKeyReloadsAndSshKeygenReadsIt) {
  SystemRandom rng;
  const std::string text = key().to_openssh("rewritten", rng);
  auto again = PrivateKey::from_openssh(text);
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->public_key() == key().public_key());
  const Bytes data = to_bytes("signed by the reloaded key");
  for (auto alg : again->signature_algs()) {
    EXPECT_TRUE(key().public_key().verify(alg, again->sign(alg, data), data)) << name(alg);
  }

  TempDir dir;
  const fs::path path = dir / "key";
  ASSERT_TRUE(save_private_key(path, *again, "rewritten", rng).has_value());
  const RunResult r = run("ssh-keygen -y -f " + quote(path) + " </dev/null");
  ASSERT_EQ(r.exit_code, 0);
  const auto f = fields(r.out);
  ASSERT_GE(f.size(), 2u) << r.out;
  EXPECT_EQ(f[0] + " " + f[1], key().public_key().to_openssh());
}

TEST_P(KeygenKey, VerifiesSshKeygenSignatures) {
  TempDir dir;
  const fs::path data_path = dir / "data";
  const std::string message = "The quick brown fox jumps over the lazy dog\n";
  write_text(data_path, message);
  ASSERT_EQ(std::system(("ssh-keygen -q -Y sign -f " + quote(path_) + " -n file " +
                         quote(data_path) + " </dev/null >/dev/null")
                            .c_str()),
            0);
  auto sig = parse_sshsig(read_text(dir / "data.sig"));
  ASSERT_TRUE(sig.has_value());
  EXPECT_EQ(sig->public_key, key().public_key().blob());
  EXPECT_EQ(sig->ns, "file");
  auto alg = blob_alg(sig->signature);
  ASSERT_TRUE(alg.has_value());
  if (GetParam().type == KeyType::rsa) {
    EXPECT_EQ(*alg, SignatureAlg::rsa_sha2_512);
  }

  const PublicKey& pub = key().public_key();
  const Bytes signed_data = sshsig_signed_data(sig->ns, sig->hash_alg, as_bytes(message));
  EXPECT_TRUE(pub.verify(*alg, sig->signature, signed_data));

  // A changed message byte.
  std::string changed = message;
  changed[4] ^= 1;
  EXPECT_FALSE(pub.verify(*alg, sig->signature,
                          sshsig_signed_data(sig->ns, sig->hash_alg, as_bytes(changed))));
  // A changed signature byte, anywhere in the signature proper.
  const std::size_t header = 4 + name(*alg).size() + 4;
  for (std::size_t i = header; i < sig->signature.size(); i += 7) {
    Bytes bad = sig->signature;
    bad[i] ^= 0x10;
    EXPECT_FALSE(pub.verify(*alg, bad, signed_data)) << "byte " << i;
  }
  // Truncated or extended blobs.
  Bytes shorter(sig->signature.begin(), sig->signature.end() - 1);
  EXPECT_FALSE(pub.verify(*alg, shorter, signed_data));
  Bytes longer = sig->signature;
  longer.push_back(0);
  EXPECT_FALSE(pub.verify(*alg, longer, signed_data));
  // Another algorithm than the blob names, or one that does not suit the key.
  for (auto other : {SignatureAlg::ssh_ed25519, SignatureAlg::ecdsa_sha2_nistp256,
                     SignatureAlg::rsa_sha2_256, SignatureAlg::rsa_sha2_512}) {
    if (other != *alg) {
      EXPECT_FALSE(pub.verify(other, sig->signature, signed_data)) << name(other);
    }
  }
}

TEST_P(KeygenKey, SshKeygenVerifiesOurSignatures) {
  TempDir dir;
  const fs::path data_path = dir / "data";
  const std::string message = "signed by parley\n";
  write_text(data_path, message);
  for (auto alg : key().signature_algs()) {
    const fs::path sig_path = dir / ("data." + std::string(name(alg)) + ".sig");
    write_text(sig_path, make_sshsig(key(), alg, as_bytes(message)));
    const std::string check = "ssh-keygen -q -Y check-novalidate -n file -s " + quote(sig_path) +
                              " <" + quote(data_path) + " >/dev/null 2>&1";
    EXPECT_EQ(std::system(check.c_str()), 0) << name(alg);
    // Our own verifier agrees.
    auto sig = parse_sshsig(read_text(sig_path));
    ASSERT_TRUE(sig.has_value());
    EXPECT_TRUE(key().public_key().verify(alg, sig->signature,
                                          sshsig_signed_data("file", "sha512", as_bytes(message))));
    // And ssh-keygen rejects it for another message.
    write_text(dir / "other", "signed by someone else\n");
    const std::string wrong = "ssh-keygen -q -Y check-novalidate -n file -s " + quote(sig_path) +
                              " <" + quote(dir / "other") + " >/dev/null 2>&1";
    EXPECT_NE(std::system(wrong.c_str()), 0) << name(alg);
  }
}

TEST_P(KeygenKey, CorruptedFilesAreRefusedWithoutCrashing) {
  const std::string original = read_text(path_);
  const Bytes decoded = dearmor(original, "OPENSSH PRIVATE KEY");
  ASSERT_FALSE(decoded.empty());
  // Every truncation of the binary body.
  for (std::size_t n = 0; n < decoded.size(); ++n) {
    auto key = PrivateKey::from_openssh(armor(BytesView(decoded).first(n), "OPENSSH PRIVATE KEY"));
    ASSERT_FALSE(key.has_value()) << "truncated to " << n;
  }
  // Every truncation of the text (the end line is what makes it complete).
  const std::size_t end_line = original.find("-----END");
  for (std::size_t n = 0; n < end_line + 20; n += 3) {
    EXPECT_FALSE(PrivateKey::from_openssh(original.substr(0, n)).has_value()) << n;
  }
  // Every single-bit change: refused, or (a comment byte, say) still the same
  // working key.
  const Bytes data = to_bytes("data");
  const SignatureAlg alg = key().signature_algs().front();
  std::size_t accepted = 0;
  for (std::size_t i = 0; i < decoded.size(); ++i) {
    Bytes bad = decoded;
    bad[i] ^= 0x01;
    auto key = PrivateKey::from_openssh(armor(bad, "OPENSSH PRIVATE KEY"));
    if (!key) continue;
    ++accepted;
    EXPECT_TRUE(key->public_key() == this->key().public_key()) << "byte " << i;
    EXPECT_TRUE(this->key().public_key().verify(alg, key->sign(alg, data), data)) << "byte " << i;
  }
  // Only the comment's bytes can change without notice.
  EXPECT_LE(accepted, test_comment.size());
}

INSTANTIATE_TEST_SUITE_P(Types, KeygenKey, ::testing::ValuesIn(key_cases),
                         [](const ::testing::TestParamInfo<KeyCase>& param_info) {
                           return std::string(param_info.param.name);
                         });

TEST(KeyFile, EncryptedKeyIsReported) {
  REQUIRE_SSH_KEYGEN();
  TempDir dir;
  const fs::path path = dir / "encrypted";
  ASSERT_EQ(
      std::system(("ssh-keygen -q -t ed25519 -N secret -f " + quote(path) + " </dev/null").c_str()),
      0);
  auto key = load_private_key(path);
  ASSERT_FALSE(key.has_value());
  EXPECT_EQ(key.error().code, CryptoError::encrypted_key);
  EXPECT_NE(key.error().message.find(path.string()), std::string::npos) << key.error().message;
  auto direct = PrivateKey::from_openssh(read_text(path));
  ASSERT_FALSE(direct.has_value());
  EXPECT_EQ(direct.error(), CryptoError::encrypted_key);
}

TEST(KeyFile, MissingOrUnreadableFileNamesThePath) {
  TempDir dir;
  auto missing = load_private_key(dir / "nope");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, CryptoError::io_error);
  EXPECT_NE(missing.error().message.find((dir / "nope").string()), std::string::npos);
  EXPECT_NE(missing.error().message.find("No such file"), std::string::npos)
      << missing.error().message;

  auto directory = load_private_key(dir.path());
  ASSERT_FALSE(directory.has_value());
  EXPECT_EQ(directory.error().code, CryptoError::io_error);

  write_text(dir / "garbage", "not a key\n");
  fs::permissions(dir / "garbage", fs::perms(0600));
  auto garbage = load_private_key(dir / "garbage");
  ASSERT_FALSE(garbage.has_value());
  EXPECT_EQ(garbage.error().code, CryptoError::malformed_key);
  EXPECT_NE(garbage.error().message.find((dir / "garbage").string()), std::string::npos);
}

// ---------------------------------------------------------------------------
// Saving

TEST(KeyFile, SaveWritesPrivate0600AndPublic0644Atomically) {
  REQUIRE_SSH_KEYGEN();
  TempDir dir;
  SystemRandom rng;
  const fs::path path = dir / "host_key";
  const PrivateKey first = PrivateKey::generate_ed25519(rng);
  // A restrictive umask must not narrow the .pub, nor a permissive one widen the key.
  for (mode_t mask : {mode_t{0}, mode_t{077}}) {
    const mode_t old = ::umask(mask);
    auto saved = save_private_key(path, first, "host", rng);
    ::umask(old);
    ASSERT_TRUE(saved.has_value()) << saved.error().message;
    EXPECT_EQ(mode_of(path), 0600u);
    EXPECT_EQ(mode_of(dir / "host_key.pub"), 0644u);
    EXPECT_EQ(dir_entries(dir.path()), (std::set<std::string>{"host_key", "host_key.pub"}));
  }
  auto loaded = load_private_key(path);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_TRUE(loaded->public_key() == first.public_key());
  EXPECT_EQ(read_text(dir / "host_key.pub"), first.public_key().to_openssh("host") + "\n");

  // ssh-keygen reads both files and agrees on the key.
  const RunResult y = run("ssh-keygen -y -f " + quote(path) + " </dev/null");
  ASSERT_EQ(y.exit_code, 0);
  EXPECT_EQ(fields(y.out).at(1), base64_encode(first.public_key().blob()));
  const RunResult l = run("ssh-keygen -l -f " + quote(dir / "host_key.pub"));
  ASSERT_EQ(l.exit_code, 0);
  EXPECT_EQ(fields(l.out).at(1), first.public_key().fingerprint());

  // Saving again replaces both files (a new inode: an old, wider mode is gone).
  fs::permissions(path, fs::perms(0644));
  const PrivateKey second = PrivateKey::generate_ed25519(rng);
  ASSERT_TRUE(save_private_key(path, second, "host", rng).has_value());
  EXPECT_EQ(mode_of(path), 0600u);
  auto reloaded = load_private_key(path);
  ASSERT_TRUE(reloaded.has_value());
  EXPECT_TRUE(reloaded->public_key() == second.public_key());
  EXPECT_EQ(dir_entries(dir.path()), (std::set<std::string>{"host_key", "host_key.pub"}));
}

TEST(KeyFile, FailedSaveLeavesNothingBehind) {
  TempDir dir;
  SystemRandom rng;
  const PrivateKey key = PrivateKey::generate_ed25519(rng);

  // A directory that does not exist.
  const fs::path missing_dir = dir / "missing" / "key";
  auto r1 = save_private_key(missing_dir, key, "", rng);
  ASSERT_FALSE(r1.has_value());
  EXPECT_EQ(r1.error().code, CryptoError::io_error);
  EXPECT_NE(r1.error().message.find(missing_dir.string()), std::string::npos) << r1.error().message;
  EXPECT_FALSE(fs::exists(dir / "missing"));
  EXPECT_TRUE(dir_entries(dir.path()).empty());

  // The target is a directory: the temporary files are written, the rename
  // fails, and the temporaries are removed.
  fs::create_directory(dir / "taken");
  write_text(dir / "taken" / "inside", "x");
  auto r2 = save_private_key(dir / "taken", key, "", rng);
  ASSERT_FALSE(r2.has_value());
  EXPECT_EQ(r2.error().code, CryptoError::io_error);
  EXPECT_TRUE(fs::is_directory(dir / "taken"));
  EXPECT_EQ(dir_entries(dir / "taken"), std::set<std::string>{"inside"});
  // The .pub had been written first; nothing else is left.
  std::set<std::string> left = dir_entries(dir.path());
  left.erase("taken.pub");
  EXPECT_EQ(left, std::set<std::string>{"taken"});

  // The .pub cannot be replaced: the existing private key stays as it was.
  const fs::path path = dir / "key";
  ASSERT_TRUE(save_private_key(path, key, "", rng).has_value());
  const std::string before = read_text(path);
  fs::remove(dir / "key.pub");
  fs::create_directory(dir / "key.pub");
  write_text(dir / "key.pub" / "inside", "x");
  auto r3 = save_private_key(path, PrivateKey::generate_ed25519(rng), "", rng);
  ASSERT_FALSE(r3.has_value());
  EXPECT_EQ(read_text(path), before);
  EXPECT_EQ(dir_entries(dir.path()),
            (std::set<std::string>{"key", "key.pub", "taken", "taken.pub"}));

  // A directory nobody may create files in, root included (/proc).
  const fs::path denied = fs::path("/proc") / "parley_test_host_key";
  auto r4 = save_private_key(denied, key, "", rng);
  EXPECT_FALSE(r4.has_value());
  EXPECT_FALSE(fs::exists(denied));
}

TEST(KeyFile, LoadOrGenerateGeneratesOnceThenReloads) {
  TempDir dir;
  const fs::path path = dir / "ssh_host_ed25519_key";
  DeterministicRandom rng1(1);
  auto first = load_or_generate_host_key(path, rng1);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(first->type(), KeyType::ed25519);
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_TRUE(fs::exists(dir / "ssh_host_ed25519_key.pub"));

  DeterministicRandom rng2(2);
  auto second = load_or_generate_host_key(path, rng2);
  ASSERT_TRUE(second.has_value());
  EXPECT_TRUE(second->public_key() == first->public_key());

  // A file that is there but broken is an error, not a reason to make a new key.
  write_text(path, "broken");
  fs::permissions(path, fs::perms(0600));
  auto broken = load_or_generate_host_key(path, rng2);
  ASSERT_FALSE(broken.has_value());
  EXPECT_EQ(broken.error().code, CryptoError::malformed_key);
  EXPECT_EQ(read_text(path), "broken");

  // Nor is a missing directory.
  auto nodir = load_or_generate_host_key(dir / "no" / "key", rng2);
  EXPECT_FALSE(nodir.has_value());
}

TEST(KeyFile, HostKeyReadableByGroupOrOthersIsRefusedAsUnprotected) {
  // OpenSSH's sshkey_perm_ok: "UNPROTECTED PRIVATE KEY FILE!", the key ignored.
  TempDir dir;
  SystemRandom rng;
  const fs::path path = dir / "ssh_host_ed25519_key";
  const PrivateKey key = PrivateKey::generate_ed25519(rng);
  ASSERT_TRUE(save_private_key(path, key, "host", rng).has_value());
  for (unsigned mode : {0640u, 0604u, 0620u, 0602u, 0610u, 0644u, 0660u}) {
    fs::permissions(path, fs::perms(mode));
    auto loaded = load_private_key(path);
    ASSERT_FALSE(loaded.has_value()) << std::oct << mode;
    EXPECT_EQ(loaded.error().code, CryptoError::io_error);
    EXPECT_NE(loaded.error().message.find("UNPROTECTED PRIVATE KEY FILE"), std::string::npos)
        << loaded.error().message;
    EXPECT_NE(loaded.error().message.find(path.string()), std::string::npos)
        << loaded.error().message;
    // The bootstrap path must not serve it either, nor replace it with a new key.
    auto served = load_or_generate_host_key(path, rng);
    ASSERT_FALSE(served.has_value()) << std::oct << mode;
    EXPECT_NE(served.error().message.find("UNPROTECTED PRIVATE KEY FILE"), std::string::npos);
  }
  for (unsigned mode : {0600u, 0400u}) {
    fs::permissions(path, fs::perms(mode));
    auto loaded = load_private_key(path);
    ASSERT_TRUE(loaded.has_value()) << std::oct << mode << ": " << loaded.error().message;
    EXPECT_TRUE(loaded->public_key() == key.public_key());
    EXPECT_TRUE(load_or_generate_host_key(path, rng).has_value());
  }
}

// ---------------------------------------------------------------------------
// Keys made by parley

TEST(PrivateKey, GeneratedEd25519SignsAndIsDeterministic) {
  DeterministicRandom r1(42), r2(42), r3(43);
  const PrivateKey a = PrivateKey::generate_ed25519(r1);
  const PrivateKey b = PrivateKey::generate_ed25519(r2);
  const PrivateKey c = PrivateKey::generate_ed25519(r3);
  EXPECT_TRUE(a.public_key() == b.public_key());
  EXPECT_FALSE(a.public_key() == c.public_key());
  EXPECT_EQ(a.signature_algs(), std::vector<SignatureAlg>{SignatureAlg::ssh_ed25519});

  const Bytes data = to_bytes("exchange hash");
  const Bytes sig = a.sign(SignatureAlg::ssh_ed25519, data);
  // string "ssh-ed25519", string sig (64 bytes): RFC 8709 §6.
  EXPECT_EQ(sig.size(), 4 + 11 + 4 + 64u);
  EXPECT_TRUE(a.public_key().verify(SignatureAlg::ssh_ed25519, sig, data));
  EXPECT_FALSE(c.public_key().verify(SignatureAlg::ssh_ed25519, sig, data));
  // Ed25519 is deterministic (RFC 8032 §5.1.6).
  EXPECT_EQ(b.sign(SignatureAlg::ssh_ed25519, data), sig);
  // An algorithm the key cannot make gives an empty blob.
  EXPECT_TRUE(a.sign(SignatureAlg::rsa_sha2_256, data).empty());

  auto reparsed = PrivateKey::from_openssh(a.to_openssh("c", r1));
  ASSERT_TRUE(reparsed.has_value());
  EXPECT_TRUE(reparsed->public_key() == a.public_key());
}

TEST(PrivateKey, RejectsBrokenStructure) {
  EXPECT_EQ(PrivateKey::from_openssh("").error(), CryptoError::malformed_key);
  EXPECT_EQ(PrivateKey::from_openssh("-----BEGIN OPENSSH PRIVATE KEY-----\n").error(),
            CryptoError::malformed_key);
  EXPECT_EQ(PrivateKey::from_openssh(
                "-----BEGIN OPENSSH PRIVATE KEY-----\n!!!!\n-----END OPENSSH PRIVATE KEY-----\n")
                .error(),
            CryptoError::malformed_key);

  DeterministicRandom rng(5);
  const PrivateKey key = PrivateKey::generate_ed25519(rng);
  const Bytes good = dearmor(key.to_openssh("", rng), "OPENSSH PRIVATE KEY");
  auto with = [&](auto&& edit) {
    Bytes b = good;
    edit(b);
    return PrivateKey::from_openssh(armor(b, "OPENSSH PRIVATE KEY"));
  };
  // Layout: magic(15) "none"(8) "none"(8) ""(4) nkeys(4) pub(4+51) section(4+...).
  const std::size_t nkeys_at = 15 + 8 + 8 + 4;
  const std::size_t section_at = nkeys_at + 4 + 4 + 51 + 4;
  EXPECT_EQ(with([](Bytes& b) { b[0] = 'O'; }).error(), CryptoError::malformed_key);
  EXPECT_EQ(with([&](Bytes& b) { b[nkeys_at + 3] = 2; }).error(), CryptoError::malformed_key);
  EXPECT_EQ(with([&](Bytes& b) { b[section_at] ^= 1; }).error(), CryptoError::malformed_key);
  EXPECT_EQ(with([](Bytes& b) { b.push_back(0); }).error(), CryptoError::malformed_key);
  EXPECT_EQ(with([](Bytes& b) { b.back() ^= 0x80; }).error(), CryptoError::malformed_key);
  EXPECT_TRUE(with([](Bytes&) {}).has_value());
}

// ---------------------------------------------------------------------------
// Public key blobs

Bytes rsa_blob(BytesView e, BytesView n) {
  Bytes out;
  wire::Writer(out).string(std::string_view("ssh-rsa")).mpint_unsigned(e).mpint_unsigned(n);
  return out;
}

TEST(PublicKey, RefusesSmallRsaAndUnknownTypes) {
  const Bytes e{0x01, 0x00, 0x01};
  Bytes n1024(128, 0xff);
  auto small = PublicKey::from_blob(rsa_blob(e, n1024));
  ASSERT_FALSE(small.has_value());
  EXPECT_EQ(small.error(), CryptoError::unsupported_key_type);
  Bytes n2047(256, 0xff);
  n2047[0] = 0x7f;
  EXPECT_EQ(PublicKey::from_blob(rsa_blob(e, n2047)).error(), CryptoError::unsupported_key_type);
  Bytes n2048(256, 0xff);
  EXPECT_TRUE(PublicKey::from_blob(rsa_blob(e, n2048)).has_value());
  Bytes even = n2048;
  even.back() = 0xfe;
  EXPECT_EQ(PublicKey::from_blob(rsa_blob(e, even)).error(), CryptoError::malformed_key);

  Bytes dss;
  wire::Writer(dss).string(std::string_view("ssh-dss")).string(std::string_view("x"));
  EXPECT_EQ(PublicKey::from_blob(dss).error(), CryptoError::unsupported_key_type);
  EXPECT_EQ(PublicKey::from_blob({}).error(), CryptoError::malformed_key);
}

TEST(PublicKey, RefusesMalformedBlobs) {
  DeterministicRandom rng(9);
  const Bytes good = PrivateKey::generate_ed25519(rng).public_key().blob();
  ASSERT_TRUE(PublicKey::from_blob(good).has_value());
  Bytes trailing = good;
  trailing.push_back(0);
  EXPECT_EQ(PublicKey::from_blob(trailing).error(), CryptoError::malformed_key);
  for (std::size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(PublicKey::from_blob(BytesView(good).first(n)).has_value()) << n;
  }

  Bytes p384;
  Bytes point(65, 1);
  point[0] = 4;
  wire::Writer(p384)
      .string(std::string_view("ecdsa-sha2-nistp256"))
      .string(std::string_view("nistp384"))
      .string(point);
  EXPECT_EQ(PublicKey::from_blob(p384).error(), CryptoError::malformed_key);
  Bytes off_curve;
  wire::Writer(off_curve)
      .string(std::string_view("ecdsa-sha2-nistp256"))
      .string(std::string_view("nistp256"))
      .string(point);
  EXPECT_EQ(PublicKey::from_blob(off_curve).error(), CryptoError::malformed_key);
}

TEST(PublicKey, OpensshLineParsing) {
  DeterministicRandom rng(3);
  const PublicKey pub = PrivateKey::generate_ed25519(rng).public_key();
  const std::string line = pub.to_openssh("me@host");
  EXPECT_EQ(line.rfind("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", 0), 0u) << line;
  EXPECT_TRUE(*PublicKey::from_openssh(line) == pub);
  EXPECT_TRUE(*PublicKey::from_openssh("  " + pub.to_openssh() + "\n") == pub);
  EXPECT_EQ(PublicKey::from_openssh("ssh-rsa " + base64_encode(pub.blob())).error(),
            CryptoError::malformed_key);
  EXPECT_EQ(PublicKey::from_openssh("ssh-ed25519").error(), CryptoError::malformed_key);
  EXPECT_EQ(PublicKey::from_openssh("ssh-ed25519 AAAA!").error(), CryptoError::malformed_key);
  // Fingerprint format: "SHA256:" + 43 unpadded base64 characters.
  const std::string fp = pub.fingerprint();
  EXPECT_EQ(fp.size(), 7 + 43u);
  EXPECT_EQ(fp.find('='), std::string::npos);
}

TEST(SignatureAlgs, Names) {
  for (auto alg : {SignatureAlg::ssh_ed25519, SignatureAlg::ecdsa_sha2_nistp256,
                   SignatureAlg::rsa_sha2_512, SignatureAlg::rsa_sha2_256}) {
    EXPECT_EQ(signature_alg_from_name(name(alg)), alg);
  }
  // RFC 8332: SHA-1 "ssh-rsa" signatures are not supported.
  EXPECT_FALSE(signature_alg_from_name("ssh-rsa").has_value());
  EXPECT_EQ(key_type_for(SignatureAlg::rsa_sha2_256), KeyType::rsa);
  EXPECT_EQ(key_type_name(KeyType::ecdsa_p256), "ecdsa-sha2-nistp256");
}

// ---------------------------------------------------------------------------
// Base64 (RFC 4648 §10 test vectors)

TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(as_bytes(plain)), encoded);
    auto decoded = base64_decode(encoded);
    ASSERT_TRUE(decoded.has_value()) << encoded;
    EXPECT_EQ(as_chars(*decoded), plain);
    std::string unpadded(encoded);
    unpadded.erase(unpadded.find_last_not_of('=') + 1);
    EXPECT_EQ(base64_encode(as_bytes(plain), false), unpadded);
    EXPECT_TRUE(base64_decode(unpadded).has_value()) << unpadded;
  }
  EXPECT_EQ(as_chars(*base64_decode(" Zm9v\nYmFy\r\n")), "foobar");
  const Bytes all = [] {
    Bytes b(256);
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(i);
    return b;
  }();
  EXPECT_EQ(*base64_decode(base64_encode(all)), all);
}

TEST(Base64, RejectsMalformed) {
  for (const char* bad : {"Z", "Zg=", "Zg===", "Zg==Zg==", "Zh==", "Zm9", "Zm9v!", "Zm9v-", "=Zm9v",
                          "Zm8==", "Zm9vY"}) {
    EXPECT_FALSE(base64_decode(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace parley::crypto
