// client::SftpClient, the sans-I/O SFTP v3 client, against a fake server written
// here (draft-ietf-secsh-filexfer-02): INIT first, VERSION and then responses
// matched by id (whole, split at every byte, several in one receive(), 64 reads
// pipelined and answered out of order), every request as a server decodes it,
// ATTRS both ways, which response each request may get, and hostile servers, one
// offence per test: each is its named SftpError, and the client takes nothing
// after it.
#include "parley/client/sftp.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"

namespace parley::client {
namespace {

// Packet types (draft-ietf-secsh-filexfer-02 §3), as the fake server knows them.
constexpr std::uint8_t fxp_init = 1, fxp_version = 2, fxp_open = 3, fxp_close = 4, fxp_read = 5,
                       fxp_write = 6, fxp_lstat = 7, fxp_fstat = 8, fxp_setstat = 9,
                       fxp_fsetstat = 10, fxp_opendir = 11, fxp_readdir = 12, fxp_remove = 13,
                       fxp_mkdir = 14, fxp_realpath = 16, fxp_stat = 17, fxp_status = 101,
                       fxp_handle = 102, fxp_data = 103, fxp_name = 104, fxp_attrs = 105;

// ---- the fake server's packets -------------------------------------------------

/// One server packet, built field by field after its type; bytes() puts the
/// uint32 length in front.
class Packet {
 public:
  explicit Packet(std::uint8_t type) { payload_.push_back(type); }
  Packet& u32(std::uint32_t v) {
    wire::Writer(payload_).uint32(v);
    return *this;
  }
  Packet& u64(std::uint64_t v) {
    wire::Writer(payload_).uint64(v);
    return *this;
  }
  Packet& str(std::string_view s) {
    wire::Writer(payload_).string(s);
    return *this;
  }
  Packet& raw(BytesView b) {
    wire::Writer(payload_).raw(b);
    return *this;
  }
  Bytes bytes() const {
    Bytes out;
    wire::Writer(out).uint32(static_cast<std::uint32_t>(payload_.size())).raw(payload_);
    return out;
  }

 private:
  Bytes payload_;
};

using Extensions = std::vector<std::pair<std::string, std::string>>;

Bytes version(std::uint32_t v = 3, const Extensions& extensions = {}) {
  Packet p(fxp_version);
  p.u32(v);
  for (const auto& [name, data] : extensions) p.str(name).str(data);
  return p.bytes();
}
Bytes status(std::uint32_t id, std::uint32_t code, std::string_view message = "") {
  return Packet(fxp_status).u32(id).u32(code).str(message).str("en").bytes();
}
Bytes handle(std::uint32_t id, std::string_view h) {
  return Packet(fxp_handle).u32(id).str(h).bytes();
}
Bytes data(std::uint32_t id, std::string_view d) {
  return Packet(fxp_data).u32(id).str(d).bytes();
}
Bytes attrs(std::uint32_t id, const SftpAttrs& a) {
  return Packet(fxp_attrs).u32(id).raw(encode(a)).bytes();
}
Bytes names(std::uint32_t id, const std::vector<SftpName>& entries) {
  Packet p(fxp_name);
  p.u32(id).u32(static_cast<std::uint32_t>(entries.size()));
  for (const auto& n : entries) p.str(n.filename).str(n.longname).raw(encode(n.attrs));
  return p.bytes();
}

Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

SftpAttrs full_attrs() {
  SftpAttrs a;
  a.size = 0x1'0000'0001;  // over 4 GiB: the uint64 is needed
  a.uid = 1000;
  a.gid = 100;
  a.permissions = 0100644;
  a.atime = 1700000000;
  a.mtime = 1700000001;
  return a;
}

// ---- what the client sent ----------------------------------------------------

struct Sent {
  std::uint8_t type = 0;
  std::uint32_t id = 0;  // none for INIT
  Bytes body;            // the fields after the id (after the type for INIT)
};

/// Splits the client's queued output into its packets, as a server frames them.
std::vector<Sent> sent(SftpClient& c) {
  Bytes out;
  c.take_output(out);
  std::vector<Sent> packets;
  wire::Reader r(out);
  while (r.ok() && r.remaining() > 0) {
    wire::Reader p(r.string());  // uint32 length, then the packet: a string's shape
    Sent s;
    s.type = p.byte();
    if (s.type != fxp_init) s.id = p.uint32();
    const BytesView rest = p.rest();
    s.body.assign(rest.begin(), rest.end());
    EXPECT_TRUE(p.ok()) << "a short packet from the client";
    packets.push_back(std::move(s));
  }
  EXPECT_TRUE(r.finish()) << "the client's output does not end at a packet boundary";
  return packets;
}

/// The one packet the client queued since the last take_output().
Sent sent_one(SftpClient& c) {
  auto packets = sent(c);
  EXPECT_EQ(packets.size(), 1u);
  return packets.empty() ? Sent{} : packets.front();
}

/// A client past INIT and VERSION, with nothing queued either way.
SftpClient ready(SftpLimits limits = {}) {
  SftpClient c(limits);
  Bytes init;
  c.take_output(init);
  EXPECT_TRUE(c.receive(version()).has_value());
  EXPECT_TRUE(c.poll().has_value());
  return c;
}

/// Feeds a hostile server's `bytes` and expects `error`; then the client must
/// have stopped: no response from that packet, and every later receive() fails,
/// a well-formed answer to a fresh request included.
void expect_broken(SftpClient& c, const Bytes& bytes, SftpError error) {
  const auto r = c.receive(bytes);
  ASSERT_FALSE(r.has_value()) << "expected " << to_string(error);
  EXPECT_EQ(r.error(), error) << to_string(r.error()) << " instead of " << to_string(error);
  EXPECT_FALSE(c.poll().has_value());
  const std::uint32_t later = c.stat("/later");
  EXPECT_FALSE(c.receive(status(later, 0)).has_value());
  EXPECT_FALSE(c.receive(BytesView{}).has_value());
  EXPECT_FALSE(c.poll().has_value());
}

// ---- responses as text, to compare runs ------------------------------------------

std::string describe(const SftpAttrs& a) {
  std::string s = "{";
  const auto field = [&](const char* name, const auto& v) {
    if (v) s += std::string(name) + "=" + std::to_string(*v) + " ";
  };
  field("size", a.size);
  field("uid", a.uid);
  field("gid", a.gid);
  field("perm", a.permissions);
  field("atime", a.atime);
  field("mtime", a.mtime);
  return s + "}";
}

std::string describe(const SftpResponse& r) {
  std::string s = std::to_string(r.id) + " ";
  if (const auto* v = std::get_if<SftpVersion>(&r.body)) {
    s += "VERSION " + std::to_string(v->version);
    for (const auto& [name, value] : v->extensions) s += " " + name + "=" + value;
  } else if (const auto* st = std::get_if<SftpStatus>(&r.body)) {
    s += "STATUS " + std::to_string(st->code) + " " + st->message;
  } else if (const auto* h = std::get_if<SftpHandle>(&r.body)) {
    s += "HANDLE " + h->handle;
  } else if (const auto* d = std::get_if<SftpData>(&r.body)) {
    s += "DATA " + to_hex(d->data);
  } else if (const auto* n = std::get_if<SftpNames>(&r.body)) {
    s += "NAME";
    for (const auto& e : n->names)
      s += " " + e.filename + "|" + e.longname + "|" + describe(e.attrs);
  } else if (const auto* a = std::get_if<SftpAttrs>(&r.body)) {
    s += "ATTRS " + describe(*a);
  }
  return s;
}

std::vector<std::string> drain(SftpClient& c) {
  std::vector<std::string> out;
  while (auto r = c.poll()) out.push_back(describe(*r));
  return out;
}

// ---- the session, as a well-behaved server runs it -----------------------------

TEST(ClientSftp, InitIsTheFirstOutput) {
  SftpClient c;
  EXPECT_TRUE(c.has_output());
  Bytes out;
  c.take_output(out);
  // draft-02 §4: uint32 length 5, SSH_FXP_INIT, uint32 version 3, and no id.
  EXPECT_EQ(out, Bytes({0, 0, 0, 5, 1, 0, 0, 0, 3}));
  EXPECT_FALSE(c.has_output());
  Bytes again;
  c.take_output(again);
  EXPECT_TRUE(again.empty());
  EXPECT_FALSE(c.version().has_value());
  EXPECT_EQ(c.outstanding(), 0u);
  EXPECT_FALSE(c.poll().has_value());
}

TEST(ClientSftp, TakeOutputAppends) {
  // As every core's take_output (transport.hpp): bytes already in `out` stay.
  SftpClient c;
  Bytes out = {0xaa};
  c.take_output(out);
  EXPECT_EQ(out, Bytes({0xaa, 0, 0, 0, 5, 1, 0, 0, 0, 3}));
}

TEST(ClientSftp, VersionThenResponsesMatchedById) {
  SftpClient c;
  (void)sent(c);
  ASSERT_TRUE(
      c.receive(version(3, {{"posix-rename@openssh.com", "1"}, {"statvfs@openssh.com", "2"}})));
  EXPECT_EQ(c.version(), 3u);
  auto v = c.poll();
  ASSERT_TRUE(v);
  EXPECT_EQ(v->id, 0u);
  const auto* body = std::get_if<SftpVersion>(&v->body);
  ASSERT_TRUE(body);
  EXPECT_EQ(body->version, 3u);
  EXPECT_EQ(body->extensions,
            Extensions({{"posix-rename@openssh.com", "1"}, {"statvfs@openssh.com", "2"}}));
  EXPECT_FALSE(c.poll());

  const std::uint32_t open_id = c.open("/etc/motd", SftpOpen::read, {});
  const std::uint32_t stat_id = c.stat("/etc");
  EXPECT_NE(open_id, stat_id);
  const auto packets = sent(c);
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_EQ(packets[0].id, open_id);
  EXPECT_EQ(packets[1].id, stat_id);
  EXPECT_EQ(c.outstanding(), 2u);

  // Answered in the other order: each response carries its request's id.
  SftpAttrs dir;
  dir.permissions = 040755;
  ASSERT_TRUE(c.receive(attrs(stat_id, dir)));
  EXPECT_EQ(c.outstanding(), 1u);
  ASSERT_TRUE(c.receive(handle(open_id, "h1")));
  EXPECT_EQ(c.outstanding(), 0u);
  auto first = c.poll();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->id, stat_id);
  ASSERT_TRUE(std::holds_alternative<SftpAttrs>(first->body));
  EXPECT_EQ(std::get<SftpAttrs>(first->body), dir);
  EXPECT_TRUE(std::get<SftpAttrs>(first->body).is_directory());
  auto second = c.poll();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->id, open_id);
  ASSERT_TRUE(std::holds_alternative<SftpHandle>(second->body));
  EXPECT_EQ(std::get<SftpHandle>(second->body).handle, "h1");
  EXPECT_FALSE(c.poll());
}

TEST(ClientSftp, VersionWithoutExtensions) {
  SftpClient plain;
  ASSERT_TRUE(plain.receive(version(3)));
  auto v = plain.poll();
  ASSERT_TRUE(v);
  EXPECT_TRUE(std::get<SftpVersion>(v->body).extensions.empty());
}

/// Issues five requests on `c` and returns a server's whole answer to them:
/// VERSION, then HANDLE, DATA, NAME, ATTRS and STATUS. `ids` gets the requests' ids.
Bytes transcript(SftpClient& c, std::vector<std::uint32_t>* ids = nullptr) {
  const std::uint32_t open_id = c.open("/etc/motd", SftpOpen::read, {});
  const std::uint32_t read_id = c.read("h0", 0, 16);
  const std::uint32_t readdir_id = c.readdir("d0");
  const std::uint32_t stat_id = c.stat("/");
  const std::uint32_t close_id = c.close("h0");
  if (ids) *ids = {open_id, read_id, readdir_id, stat_id, close_id};
  SftpAttrs dir;
  dir.permissions = 040755;
  dir.size = 4096;
  return version(3, {{"posix-rename@openssh.com", "1"}}) + handle(open_id, "h0") +
         data(read_id, "hello") +
         names(readdir_id, {{".", "drwxr-xr-x 2 me me 4096 .", dir},
                            {"motd", "-rw-r--r-- motd", full_attrs()}}) +
         attrs(stat_id, dir) + status(close_id, 0, "Success");
}

TEST(ClientSftp, SeveralResponsesInOneReceive) {
  SftpClient c;
  std::vector<std::uint32_t> ids;
  const Bytes input = transcript(c, &ids);
  EXPECT_EQ(c.outstanding(), 5u);
  ASSERT_TRUE(c.receive(input));
  EXPECT_EQ(c.outstanding(), 0u);
  const auto got = drain(c);
  ASSERT_EQ(got.size(), 6u);
  const auto id = [&](std::size_t i) { return std::to_string(ids[i]) + " "; };
  EXPECT_EQ(got[0], "0 VERSION 3 posix-rename@openssh.com=1");
  EXPECT_EQ(got[1], id(0) + "HANDLE h0");
  EXPECT_EQ(got[2], id(1) + "DATA 68656c6c6f");
  EXPECT_EQ(got[3], id(2) +
                        "NAME .|drwxr-xr-x 2 me me 4096 .|{size=4096 perm=16877 } "
                        "motd|-rw-r--r-- motd|{size=4294967297 uid=1000 gid=100 perm=33188 "
                        "atime=1700000000 mtime=1700000001 }");
  EXPECT_EQ(got[4], id(3) + "ATTRS {size=4096 perm=16877 }");
  EXPECT_EQ(got[5], id(4) + "STATUS 0 Success");
}

TEST(ClientSftp, ResponsesSplitAtEveryByte) {
  SftpClient whole;
  ASSERT_TRUE(whole.receive(transcript(whole)));
  const auto expected = drain(whole);
  ASSERT_EQ(expected.size(), 6u);

  // Two pieces, split at each byte in turn.
  for (std::size_t at = 0;; ++at) {
    SftpClient c;
    const Bytes input = transcript(c);
    if (at > input.size()) break;
    SCOPED_TRACE(at);
    ASSERT_TRUE(c.receive(BytesView(input).first(at)));
    ASSERT_TRUE(c.receive(BytesView(input).subspan(at)));
    EXPECT_EQ(drain(c), expected);
  }

  // One byte at a time: a response appears only with its packet's last byte.
  SftpClient c;
  const Bytes input = transcript(c);
  std::vector<std::string> got;
  for (std::size_t i = 0; i < input.size(); ++i) {
    ASSERT_TRUE(c.receive(BytesView(input).subspan(i, 1))) << i;
    for (auto& r : drain(c)) got.push_back(std::move(r));
  }
  EXPECT_EQ(got, expected);
  EXPECT_EQ(c.outstanding(), 0u);
}

TEST(ClientSftp, SixtyFourReadsPipelinedAnsweredOutOfOrder) {
  SftpClient c = ready();
  constexpr std::uint32_t count = 64, length = 32768;
  std::vector<std::uint32_t> ids;
  for (std::uint32_t i = 0; i < count; ++i)
    ids.push_back(c.read("h", std::uint64_t{i} * length, length));
  EXPECT_EQ(c.outstanding(), count);
  const auto packets = sent(c);
  ASSERT_EQ(packets.size(), count);
  for (std::uint32_t i = 0; i < count; ++i) {
    EXPECT_EQ(packets[i].type, fxp_read);
    EXPECT_EQ(packets[i].id, ids[i]);
    wire::Reader r(packets[i].body);
    EXPECT_EQ(r.text(), "h");
    EXPECT_EQ(r.uint64(), std::uint64_t{i} * length);
    EXPECT_EQ(r.uint32(), length);
    EXPECT_TRUE(r.finish());
  }
  for (std::uint32_t i = 0; i < count; ++i)
    for (std::uint32_t j = i + 1; j < count; ++j) EXPECT_NE(ids[i], ids[j]);

  // 37 is odd, so k * 37 mod 64 visits every read once, far from in order.
  for (std::uint32_t k = 0; k < count; ++k) {
    const std::uint32_t i = k * 37 % count;
    // Short reads are allowed: the last few bytes of some are missing.
    const std::string chunk(length - i % 5, static_cast<char>('a' + i % 26));
    ASSERT_TRUE(c.receive(data(ids[i], chunk))) << i;
    EXPECT_EQ(c.outstanding(), count - k - 1);
    auto r = c.poll();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->id, ids[i]);
    const auto* d = std::get_if<SftpData>(&r->body);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->data, to_bytes(chunk));
  }
  EXPECT_FALSE(c.poll());
}

TEST(ClientSftp, ReadAnsweredWithEofIsAStatus) {
  SftpClient c = ready();
  const std::uint32_t id = c.read("h", 1 << 20, 4096);
  ASSERT_TRUE(c.receive(status(id, 1, "End of file")));
  auto r = c.poll();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, id);
  const auto* s = std::get_if<SftpStatus>(&r->body);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->code, static_cast<std::uint32_t>(SftpCode::eof));
  EXPECT_EQ(s->message, "End of file");
  EXPECT_EQ(c.outstanding(), 0u);
  // The session goes on.
  const std::uint32_t next = c.close("h");
  ASSERT_TRUE(c.receive(status(next, 0)));
  EXPECT_TRUE(c.poll());
}

TEST(ClientSftp, StatusCodesTheDraftDoesNotNameArePassedOn) {
  SftpClient c = ready();
  const std::uint32_t id = c.remove("/x");
  ASSERT_TRUE(c.receive(status(id, 77, "odd")));
  auto r = c.poll();
  ASSERT_TRUE(r);
  EXPECT_EQ(std::get<SftpStatus>(r->body).code, 77u);
}

TEST(ClientSftp, BoundsAreInclusive) {
  SftpLimits limits;
  limits.max_names = 3;
  limits.max_handle = 8;
  limits.max_packet = 1000;
  SftpClient c = ready(limits);
  // DATA exactly as long as asked, in a packet exactly max_packet long
  // (type, id, string length: 9 bytes before the data).
  const std::uint32_t read_id = c.read("h", 0, 991);
  const Bytes full = data(read_id, std::string(991, 'x'));
  ASSERT_EQ(full.size(), 4u + 1000u);
  ASSERT_TRUE(c.receive(full));
  const std::uint32_t open_id = c.open("/f", SftpOpen::read, {});
  ASSERT_TRUE(c.receive(handle(open_id, "12345678")));
  const std::uint32_t readdir_id = c.readdir("d");
  ASSERT_TRUE(c.receive(names(readdir_id, {{"a", "a", {}}, {"b", "b", {}}, {"c", "c", {}}})));
  const auto got = drain(c);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[1], std::to_string(open_id) + " HANDLE 12345678");
  EXPECT_EQ(got[2], std::to_string(readdir_id) + " NAME a|a|{} b|b|{} c|c|{}");
}

TEST(ClientSftp, EmptyNameAndEmptyData) {
  SftpClient c = ready();
  const std::uint32_t readdir_id = c.readdir("d");
  const std::uint32_t read_id = c.read("h", 0, 0);
  ASSERT_TRUE(c.receive(names(readdir_id, {}) + data(read_id, "")));
  const auto got = drain(c);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], std::to_string(readdir_id) + " NAME");
  EXPECT_EQ(got[1], std::to_string(read_id) + " DATA ");
}

// ---- ATTRS ---------------------------------------------------------------------

TEST(ClientSftp, AttrsEncoding) {
  EXPECT_EQ(encode(SftpAttrs{}), Bytes({0, 0, 0, 0}));
  // draft-02 §5: flags, then size, uid and gid, permissions, atime and mtime.
  EXPECT_EQ(to_hex(encode(full_attrs())),
            "0000000f"          // SIZE | UIDGID | PERMISSIONS | ACMODTIME
            "0000000100000001"  // size
            "000003e800000064"  // uid 1000, gid 100
            "000081a4"          // permissions 0100644
            "6553f1006553f101");  // atime, mtime
  SftpAttrs perms;
  perms.permissions = 0755;
  EXPECT_EQ(to_hex(encode(perms)), "00000004000001ed");
  SftpAttrs size;
  size.size = 7;
  EXPECT_EQ(to_hex(encode(size)), "000000010000000000000007");
}

TEST(ClientSftp, AttrsRoundTripThroughEncode) {
  std::vector<SftpAttrs> cases(6);
  cases[1].size = 0;
  cases[2] = full_attrs();
  cases[3].uid = 0;
  cases[3].gid = 0;
  cases[4].permissions = 040700;
  cases[5].atime = 0;
  cases[5].mtime = 0xffffffff;
  for (const SftpAttrs& a : cases) {
    SCOPED_TRACE(describe(a));
    SftpClient c = ready();
    const std::uint32_t id = c.fstat("h");
    ASSERT_TRUE(c.receive(attrs(id, a)));
    auto r = c.poll();
    ASSERT_TRUE(r);
    const auto* got = std::get_if<SftpAttrs>(&r->body);
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, a);
    // And inside a NAME.
    const std::uint32_t name_id = c.realpath(".");
    ASSERT_TRUE(c.receive(names(name_id, {{"/home/me", "", a}})));
    auto n = c.poll();
    ASSERT_TRUE(n);
    const auto* entries = std::get_if<SftpNames>(&n->body);
    ASSERT_TRUE(entries);
    ASSERT_EQ(entries->names.size(), 1u);
    EXPECT_EQ(entries->names[0].attrs, a);
  }
  EXPECT_TRUE(cases[4].is_directory());
  EXPECT_FALSE(cases[4].is_regular());
  EXPECT_TRUE(full_attrs().is_regular());
  EXPECT_FALSE(SftpAttrs{}.is_directory());
  EXPECT_FALSE(SftpAttrs{}.is_regular());
}

TEST(ClientSftp, AttrsExtendedPairsAreReadAndDropped) {
  SftpClient c = ready();
  const std::uint32_t id = c.lstat("/f");
  // draft-02 §5: SSH_FILEXFER_ATTR_EXTENDED, a count, then (type, data) pairs.
  ASSERT_TRUE(c.receive(Packet(fxp_attrs)
                            .u32(id)
                            .u32(0x80000001)
                            .u64(42)
                            .u32(2)
                            .str("acl@example.com")
                            .str("x")
                            .str("note@example.com")
                            .str("")
                            .bytes()));
  auto r = c.poll();
  ASSERT_TRUE(r);
  SftpAttrs want;
  want.size = 42;
  EXPECT_EQ(std::get<SftpAttrs>(r->body), want);
}

// ---- the requests, as the server decodes them ------------------------------------

TEST(ClientSftp, OpenRequest) {
  SftpClient c = ready();
  SftpAttrs a;
  a.permissions = 0600;
  const std::uint32_t id =
      c.open("/tmp/new file", SftpOpen::write | SftpOpen::create | SftpOpen::truncate, a);
  const Sent s = sent_one(c);
  EXPECT_EQ(s.type, fxp_open);
  EXPECT_EQ(s.id, id);
  wire::Reader r(s.body);
  EXPECT_EQ(r.text(), "/tmp/new file");
  EXPECT_EQ(r.uint32(), 0x02u | 0x08u | 0x10u);
  const BytesView rest = r.rest();
  EXPECT_EQ(Bytes(rest.begin(), rest.end()), encode(a));
  EXPECT_EQ(c.outstanding(), 1u);
  EXPECT_EQ(SftpOpen::read | SftpOpen::append | SftpOpen::exclusive, 0x01u | 0x04u | 0x20u);
}

TEST(ClientSftp, ReadAndWriteRequests) {
  SftpClient c = ready();
  // Handles are the server's bytes, sent back as they came (NUL and 0xff included).
  const std::string h("h\0\xff", 3);
  const std::uint32_t read_id = c.read(h, 0x1'0000'0000, 65536);
  Bytes payload(40000);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i * 7);
  const std::uint32_t write_id = c.write(h, 12345, payload);
  EXPECT_NE(read_id, write_id);
  const auto packets = sent(c);
  ASSERT_EQ(packets.size(), 2u);

  EXPECT_EQ(packets[0].type, fxp_read);
  EXPECT_EQ(packets[0].id, read_id);
  wire::Reader read(packets[0].body);
  EXPECT_EQ(read.text(), h);
  EXPECT_EQ(read.uint64(), 0x1'0000'0000u);
  EXPECT_EQ(read.uint32(), 65536u);
  EXPECT_TRUE(read.finish());

  EXPECT_EQ(packets[1].type, fxp_write);
  EXPECT_EQ(packets[1].id, write_id);
  wire::Reader write(packets[1].body);
  EXPECT_EQ(write.text(), h);
  EXPECT_EQ(write.uint64(), 12345u);
  const BytesView written = write.string();
  EXPECT_EQ(Bytes(written.begin(), written.end()), payload);
  EXPECT_TRUE(write.finish());
  EXPECT_EQ(c.outstanding(), 2u);
}

TEST(ClientSftp, OneStringRequests) {
  // Each of these is the id and one string: a path or a handle.
  struct Case {
    const char* name;
    std::uint8_t type;
    std::function<std::uint32_t(SftpClient&, std::string_view)> issue;
  };
  const Case cases[] = {
      {"close", fxp_close, [](SftpClient& c, std::string_view s) { return c.close(s); }},
      {"stat", fxp_stat, [](SftpClient& c, std::string_view s) { return c.stat(s); }},
      {"lstat", fxp_lstat, [](SftpClient& c, std::string_view s) { return c.lstat(s); }},
      {"fstat", fxp_fstat, [](SftpClient& c, std::string_view s) { return c.fstat(s); }},
      {"opendir", fxp_opendir, [](SftpClient& c, std::string_view s) { return c.opendir(s); }},
      {"readdir", fxp_readdir, [](SftpClient& c, std::string_view s) { return c.readdir(s); }},
      {"realpath", fxp_realpath, [](SftpClient& c, std::string_view s) { return c.realpath(s); }},
      {"remove", fxp_remove, [](SftpClient& c, std::string_view s) { return c.remove(s); }},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    SftpClient c = ready();
    // SFTP v3 paths are the server's bytes: not UTF-8 here, and a NUL inside.
    const std::string arg = std::string("/srv/caf\xe9/") + std::string(1, '\0') + k.name;
    const std::uint32_t id = k.issue(c, arg);
    const Sent s = sent_one(c);
    EXPECT_EQ(s.type, k.type);
    EXPECT_EQ(s.id, id);
    wire::Reader r(s.body);
    EXPECT_EQ(r.text(), arg);
    EXPECT_TRUE(r.finish());
    EXPECT_EQ(c.outstanding(), 1u);
  }
}

TEST(ClientSftp, PathAndAttrsRequests) {
  struct Case {
    const char* name;
    std::uint8_t type;
    std::function<std::uint32_t(SftpClient&, std::string_view, const SftpAttrs&)> issue;
  };
  const Case cases[] = {
      {"setstat", fxp_setstat,
       [](SftpClient& c, std::string_view s, const SftpAttrs& a) { return c.setstat(s, a); }},
      {"fsetstat", fxp_fsetstat,
       [](SftpClient& c, std::string_view s, const SftpAttrs& a) { return c.fsetstat(s, a); }},
      {"mkdir", fxp_mkdir,
       [](SftpClient& c, std::string_view s, const SftpAttrs& a) { return c.mkdir(s, a); }},
  };
  SftpAttrs times;
  times.atime = 1;
  times.mtime = 2;
  SftpAttrs mode;
  mode.permissions = 0755;
  for (const Case& k : cases) {
    for (const SftpAttrs& a : {SftpAttrs{}, times, mode, full_attrs()}) {
      SCOPED_TRACE(std::string(k.name) + " " + describe(a));
      SftpClient c = ready();
      const std::uint32_t id = k.issue(c, "/home/me/dir", a);
      const Sent s = sent_one(c);
      EXPECT_EQ(s.type, k.type);
      EXPECT_EQ(s.id, id);
      wire::Reader r(s.body);
      EXPECT_EQ(r.text(), "/home/me/dir");
      const BytesView rest = r.rest();
      EXPECT_EQ(Bytes(rest.begin(), rest.end()), encode(a));
    }
  }
}

TEST(ClientSftp, RequestsBeforeVersionAreQueuedAfterInit) {
  SftpClient c;
  const std::uint32_t id = c.realpath(".");
  const auto packets = sent(c);
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_EQ(packets[0].type, fxp_init);
  EXPECT_EQ(packets[1].type, fxp_realpath);
  EXPECT_EQ(packets[1].id, id);
  ASSERT_TRUE(c.receive(version() + names(id, {{"/home/me", "", {}}})));
  const auto got = drain(c);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1], std::to_string(id) + " NAME /home/me||{}");
}

// ---- which response each request may get ---------------------------------------

TEST(ClientSftp, EachRequestGetsStatusOrItsOwnResponse) {
  using Issue = std::function<std::uint32_t(SftpClient&)>;
  struct Case {
    const char* name;
    Issue issue;
    std::uint8_t answer;  // besides STATUS
  };
  const Case cases[] = {
      {"open", [](SftpClient& c) { return c.open("/f", SftpOpen::read, {}); }, fxp_handle},
      {"opendir", [](SftpClient& c) { return c.opendir("/"); }, fxp_handle},
      {"read", [](SftpClient& c) { return c.read("h", 0, 100); }, fxp_data},
      {"readdir", [](SftpClient& c) { return c.readdir("h"); }, fxp_name},
      {"realpath", [](SftpClient& c) { return c.realpath("."); }, fxp_name},
      {"stat", [](SftpClient& c) { return c.stat("/"); }, fxp_attrs},
      {"lstat", [](SftpClient& c) { return c.lstat("/"); }, fxp_attrs},
      {"fstat", [](SftpClient& c) { return c.fstat("h"); }, fxp_attrs},
      {"close", [](SftpClient& c) { return c.close("h"); }, fxp_status},
      {"write", [](SftpClient& c) { return c.write("h", 0, as_bytes("x")); }, fxp_status},
      {"setstat", [](SftpClient& c) { return c.setstat("/f", {}); }, fxp_status},
      {"fsetstat", [](SftpClient& c) { return c.fsetstat("h", {}); }, fxp_status},
      {"mkdir", [](SftpClient& c) { return c.mkdir("/d", {}); }, fxp_status},
      {"remove", [](SftpClient& c) { return c.remove("/f"); }, fxp_status},
  };
  const std::uint8_t kinds[] = {fxp_status, fxp_handle, fxp_data, fxp_name, fxp_attrs};
  for (const Case& k : cases) {
    for (const std::uint8_t kind : kinds) {
      SCOPED_TRACE(std::string(k.name) + " answered with type " + std::to_string(kind));
      SftpClient c = ready();
      const std::uint32_t id = k.issue(c);
      Bytes answer;
      switch (kind) {
        case fxp_status: answer = status(id, 0); break;
        case fxp_handle: answer = handle(id, "h"); break;
        case fxp_data: answer = data(id, "x"); break;
        case fxp_name: answer = names(id, {}); break;
        default: answer = attrs(id, {}); break;
      }
      if (kind == fxp_status || kind == k.answer) {
        ASSERT_TRUE(c.receive(answer));
        auto r = c.poll();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->id, id);
        // The body's alternative is the packet's: STATUS 1, HANDLE 2, DATA 3, NAME 4, ATTRS 5.
        EXPECT_EQ(r->body.index(), std::size_t{kind} - fxp_status + 1);
        EXPECT_EQ(c.outstanding(), 0u);
      } else {
        expect_broken(c, answer, SftpError::wrong_response);
      }
    }
  }
}

// ---- hostile servers, one offence each ------------------------------------------

TEST(ClientSftp, PacketLongerThanMaxPacketIsRefusedAtItsLength) {
  SftpClient c = ready();
  c.read("h", 0, 0xffffffff);
  // Only the length arrives: the client must not wait to buffer 256 KiB + 1.
  Bytes header;
  wire::Writer(header).uint32(SftpLimits{}.max_packet + 1);
  expect_broken(c, header, SftpError::packet_too_long);
}

TEST(ClientSftp, PacketLongerThanASmallMaxPacket) {
  SftpLimits limits;
  limits.max_packet = 1000;
  SftpClient c = ready(limits);
  const std::uint32_t id = c.read("h", 0, 5000);
  expect_broken(c, data(id, std::string(992, 'x')), SftpError::packet_too_long);
}

TEST(ClientSftp, PacketHugeLength) {
  SftpClient c = ready();
  expect_broken(c, Bytes({0xff, 0xff, 0xff, 0xff, fxp_status}), SftpError::packet_too_long);
}

TEST(ClientSftp, PacketShorterThanTypeAndIdIsTooShort) {
  // A length under 5 cannot hold a type and an id (or a version): packet_too_long
  // names a length out of bounds either way.
  for (std::uint32_t length = 0; length < 5; ++length) {
    SCOPED_TRACE(length);
    SftpClient c = ready();
    const std::uint32_t id = c.close("h");
    Bytes p;
    wire::Writer(p).uint32(length);
    const Bytes body = Packet(fxp_status).u32(id).bytes();  // type and id: 5 bytes after the length
    p.insert(p.end(), body.begin() + 4, body.begin() + 4 + length);
    expect_broken(c, p, SftpError::packet_too_long);
  }
}

TEST(ClientSftp, StatusWithoutItsCode) {
  SftpClient c = ready();
  const std::uint32_t id = c.close("h");
  expect_broken(c, Packet(fxp_status).u32(id).bytes(), SftpError::malformed);
}

TEST(ClientSftp, StatusWithATruncatedCode) {
  SftpClient c = ready();
  const std::uint32_t id = c.close("h");
  expect_broken(c, Packet(fxp_status).u32(id).raw(Bytes({0, 0})).bytes(), SftpError::malformed);
}

TEST(ClientSftp, StatusMessageLongerThanItsPacket) {
  SftpClient c = ready();
  const std::uint32_t id = c.close("h");
  expect_broken(c, Packet(fxp_status).u32(id).u32(4).u32(100).raw(as_bytes("short")).bytes(),
                SftpError::malformed);
}

TEST(ClientSftp, StatusWithTrailingBytes) {
  SftpClient c = ready();
  const std::uint32_t id = c.close("h");
  expect_broken(c, Packet(fxp_status).u32(id).u32(0).str("ok").str("en").raw(Bytes({0})).bytes(),
                SftpError::malformed);
}

TEST(ClientSftp, HandleTruncated) {
  SftpClient c = ready();
  const std::uint32_t id = c.open("/f", SftpOpen::read, {});
  expect_broken(c, Packet(fxp_handle).u32(id).u32(10).raw(as_bytes("abc")).bytes(),
                SftpError::malformed);
}

TEST(ClientSftp, HandleLongerThanMaxHandle) {
  SftpClient c = ready();
  const std::uint32_t id = c.open("/f", SftpOpen::read, {});
  expect_broken(c, handle(id, std::string(SftpLimits{}.max_handle + 1, 'h')), SftpError::malformed);
}

TEST(ClientSftp, DataTruncated) {
  SftpClient c = ready();
  const std::uint32_t id = c.read("h", 0, 100);
  expect_broken(c, Packet(fxp_data).u32(id).u32(50).raw(as_bytes("abc")).bytes(),
                SftpError::malformed);
}

TEST(ClientSftp, NameEntryTruncated) {
  SftpClient c = ready();
  const std::uint32_t id = c.readdir("d");
  // Two entries announced, one and a filename sent.
  expect_broken(c, Packet(fxp_name).u32(id).u32(2).str("a").str("a").u32(0).str("b").bytes(),
                SftpError::malformed);
}

TEST(ClientSftp, AttrsFieldMissing) {
  SftpClient c = ready();
  const std::uint32_t id = c.stat("/");
  // SIZE | PERMISSIONS announced, only the size sent.
  expect_broken(c, Packet(fxp_attrs).u32(id).u32(0x5).u64(1).bytes(), SftpError::malformed);
}

TEST(ClientSftp, AttrsExtendedCountBeyondThePacket) {
  SftpClient c = ready();
  const std::uint32_t id = c.stat("/");
  expect_broken(c,
                Packet(fxp_attrs).u32(id).u32(0x80000000).u32(0xffffffff).str("a").str("b").bytes(),
                SftpError::malformed);
}

TEST(ClientSftp, AttrsWithTrailingBytes) {
  SftpClient c = ready();
  const std::uint32_t id = c.stat("/");
  expect_broken(c, Packet(fxp_attrs).u32(id).u32(0).u32(0).bytes(), SftpError::malformed);
}

TEST(ClientSftp, VersionTruncatedExtension) {
  SftpClient c;
  expect_broken(c, Packet(fxp_version).u32(3).str("posix-rename@openssh.com").bytes(),
                SftpError::malformed);
}

TEST(ClientSftp, VersionWithAStrayByte) {
  // After the version, only whole (name, data) pairs.
  SftpClient c;
  expect_broken(c, Packet(fxp_version).u32(3).raw(Bytes({0})).bytes(), SftpError::malformed);
}

TEST(ClientSftp, VersionTwice) {
  SftpClient c = ready();
  expect_broken(c, version(), SftpError::unexpected_version);
  EXPECT_EQ(c.version(), 3u);
}

TEST(ClientSftp, VersionTwo) {
  SftpClient c;
  expect_broken(c, version(2), SftpError::unexpected_version);
  EXPECT_FALSE(c.version().has_value());
}

TEST(ClientSftp, StatusBeforeVersion) {
  SftpClient c;
  const std::uint32_t id = c.stat("/");  // outstanding: only the missing VERSION is wrong
  expect_broken(c, status(id, 0), SftpError::before_version);
}

TEST(ClientSftp, HandleBeforeVersion) {
  SftpClient c;
  const std::uint32_t id = c.open("/f", SftpOpen::read, {});
  expect_broken(c, handle(id, "h") + version(), SftpError::before_version);
}

TEST(ClientSftp, StatusForAnIdNeverSent) {
  SftpClient c = ready();
  const std::uint32_t id = c.stat("/");
  expect_broken(c, status(id + 1000, 0), SftpError::unknown_id);
}

TEST(ClientSftp, StatusForAnIdAlreadyAnswered) {
  SftpClient c = ready();
  const std::uint32_t id = c.close("h");
  const std::uint32_t other = c.close("h2");  // still outstanding: the client is not idle
  ASSERT_TRUE(c.receive(status(id, 0)));
  ASSERT_TRUE(c.poll());
  expect_broken(c, status(id, 0), SftpError::unknown_id);
  EXPECT_NE(id, other);
}

TEST(ClientSftp, StatusWithIdZero) {
  // 0 is VERSION's: no request has it.
  SftpClient c = ready();
  c.close("h");
  expect_broken(c, status(0, 0), SftpError::unknown_id);
}

TEST(ClientSftp, DataAnsweringOpen) {
  SftpClient c = ready();
  const std::uint32_t id = c.open("/etc/passwd", SftpOpen::read, {});
  expect_broken(c, data(id, "root:x:0:0"), SftpError::wrong_response);
}

TEST(ClientSftp, HandleAnsweringRead) {
  SftpClient c = ready();
  const std::uint32_t id = c.read("h", 0, 100);
  expect_broken(c, handle(id, "h2"), SftpError::wrong_response);
}

TEST(ClientSftp, DataLongerThanTheRead) {
  SftpClient c = ready();
  const std::uint32_t id = c.read("h", 0, 100);
  expect_broken(c, data(id, std::string(101, 'x')), SftpError::data_too_long);
}

TEST(ClientSftp, DataForAZeroLengthRead) {
  SftpClient c = ready();
  const std::uint32_t id = c.read("h", 0, 0);
  expect_broken(c, data(id, "x"), SftpError::data_too_long);
}

TEST(ClientSftp, DataLongerThanItsOwnReadButNotAnother) {
  // Each READ's own length bounds its DATA, not the largest outstanding.
  SftpClient c = ready();
  const std::uint32_t small = c.read("h", 0, 10);
  c.read("h", 10, 1000);
  expect_broken(c, data(small, std::string(11, 'x')), SftpError::data_too_long);
}

TEST(ClientSftp, MoreNamesThanMaxNames) {
  SftpLimits limits;
  limits.max_names = 2;
  SftpClient c = ready(limits);
  const std::uint32_t id = c.readdir("d");
  expect_broken(c, names(id, {{"a", "a", {}}, {"b", "b", {}}, {"c", "c", {}}}),
                SftpError::too_many_names);
}

TEST(ClientSftp, NameCountFarBeyondThePacket) {
  // Refused on the count, before anything is reserved for four billion entries.
  SftpClient c = ready();
  const std::uint32_t id = c.readdir("d");
  expect_broken(c, Packet(fxp_name).u32(id).u32(0xffffffff).bytes(), SftpError::too_many_names);
}

TEST(ClientSftp, UnknownType42) {
  SftpClient c = ready();
  const std::uint32_t id = c.stat("/");
  expect_broken(c, Packet(42).u32(id).u32(0).bytes(), SftpError::unknown_type);
}

TEST(ClientSftp, UnknownType200) {
  SftpClient c = ready();
  const std::uint32_t id = c.stat("/");
  expect_broken(c, Packet(200).u32(id).str("x").bytes(), SftpError::unknown_type);
}

TEST(ClientSftp, TypesOnlyAClientSends) {
  // INIT and the requests go to the server, never from it.
  for (const std::uint8_t type : {fxp_init, fxp_open, fxp_read, fxp_stat}) {
    SCOPED_TRACE(static_cast<int>(type));
    SftpClient c = ready();
    const std::uint32_t id = c.stat("/");
    expect_broken(c, Packet(type).u32(id).str("/").bytes(), SftpError::unknown_type);
  }
}

TEST(ClientSftp, NamesOfCodesAndErrors) {
  for (std::uint32_t code = 0; code <= 8; ++code)
    EXPECT_FALSE(to_string(static_cast<SftpCode>(code)).empty());
  const SftpError errors[] = {
      SftpError::packet_too_long, SftpError::malformed,      SftpError::unexpected_version,
      SftpError::before_version,  SftpError::unknown_id,     SftpError::wrong_response,
      SftpError::data_too_long,   SftpError::too_many_names, SftpError::unknown_type};
  for (std::size_t i = 0; i < std::size(errors); ++i) {
    EXPECT_FALSE(to_string(errors[i]).empty());
    for (std::size_t j = i + 1; j < std::size(errors); ++j)
      EXPECT_NE(to_string(errors[i]), to_string(errors[j]));
  }
}

}  // namespace
}  // namespace parley::client
