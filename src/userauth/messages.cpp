#include "parley/userauth/messages.hpp"

#include <algorithm>

#include "parley/wire/writer.hpp"

namespace parley::userauth {
namespace {

DecodeError from_wire(wire::DecodeError e) {
  switch (e) {
    case wire::DecodeError::truncated: return {DecodeFault::truncated};
    case wire::DecodeError::trailing_bytes: return {DecodeFault::trailing_bytes};
    case wire::DecodeError::bad_boolean: return {DecodeFault::bad_boolean};
    case wire::DecodeError::bad_name_list: return {DecodeFault::bad_name_list};
    case wire::DecodeError::not_utf8: return {DecodeFault::not_utf8};
    case wire::DecodeError::too_long: return {DecodeFault::too_long};
    case wire::DecodeError::non_canonical_mpint:
    case wire::DecodeError::negative_mpint: break;  // no mpint in userauth
  }
  return {DecodeFault::truncated};
}

/// The reader's first failure, or trailing bytes.
std::expected<void, DecodeError> finish(const wire::Reader& r) {
  if (auto done = r.finish(); !done) return std::unexpected(from_wire(done.error()));
  return {};
}

/// A reader positioned after the message number, failed if the number is not `id`.
std::expected<wire::Reader, DecodeError> open_message(BytesView payload, std::uint8_t id) {
  wire::Reader r(payload);
  const std::uint8_t got = r.byte();
  if (!r.ok()) return std::unexpected(DecodeError{DecodeFault::truncated});
  if (got != id) return std::unexpected(DecodeError{DecodeFault::wrong_message});
  return r;
}

/// The frame every decoder but USERAUTH_REQUEST's shares: open `payload` as
/// message `id`, let `read` fill a T from the reader (returning a fault of its
/// own, if any), then refuse a short read or trailing bytes.
using Filled = std::expected<void, DecodeError>;
template <class T, class Read>
std::expected<T, DecodeError> decode_as(BytesView payload, std::uint8_t id, Read read) {
  auto r = open_message(payload, id);
  if (!r) return std::unexpected(r.error());
  T out;
  if (Filled filled = read(*r, out); !filled) return std::unexpected(filled.error());
  if (auto done = finish(*r); !done) return std::unexpected(done.error());
  return out;
}

/// A string field that must be UTF-8 without NUL (a password, an answer).
BytesView utf8_secret(wire::Reader& r, std::size_t max) {
  const BytesView s = r.string(max);
  if (r.ok() && !wire::is_utf8_without_nul(as_chars(s))) r.fail(wire::DecodeError::not_utf8);
  return s;
}

/// A text field of any length up to what is left, UTF-8 without NUL.
std::string unbounded_utf8(wire::Reader& r) {
  return std::string(r.utf8(std::max<std::size_t>(r.remaining(), 1)));
}

MethodFields decode_fields(std::string_view method, wire::Reader& r, const DecodeLimits& limits) {
  const auto checked = [&](auto fields) -> MethodFields {
    if (auto done = finish(r); !done) return MalformedFields{std::string(method), done.error()};
    return fields;
  };
  if (method == "none") return checked(NoneFields{});
  if (method == "password") {
    const bool change = r.boolean();
    PasswordFields f;
    f.password = crypto::SecretBytes(utf8_secret(r, limits.max_secret_bytes));
    if (change) f.new_password = crypto::SecretBytes(r.string(limits.max_secret_bytes));
    return checked(std::move(f));
  }
  if (method == "publickey") {
    const bool has_signature = r.boolean();
    PublickeyFields f;
    f.algorithm = std::string(r.text());
    const BytesView blob = r.string(limits.max_key_bytes);
    f.key_blob.assign(blob.begin(), blob.end());
    if (has_signature) {
      const BytesView sig = r.string(limits.max_key_bytes);
      f.signature = Bytes(sig.begin(), sig.end());
    }
    return checked(std::move(f));
  }
  if (method == "keyboard-interactive") {
    KeyboardInteractiveFields f;
    f.language = std::string(r.text());  // deprecated (RFC 4256 §3.1): any bytes
    f.submethods = std::string(r.utf8(limits.max_submethods_bytes));
    return checked(std::move(f));
  }
  return OtherMethod{std::string(method)};  // its fields are not ours to read
}

/// USERAUTH_REQUEST up to and including the method name.
wire::Writer& request_header(wire::Writer& w, std::string_view user, std::string_view service,
                             std::string_view method) {
  return w.byte(msg::userauth_request).string(user).string(service).string(method);
}

}  // namespace

std::string_view to_string(DecodeFault fault) {
  switch (fault) {
    case DecodeFault::wrong_message: return "wrong message";
    case DecodeFault::truncated: return "truncated";
    case DecodeFault::trailing_bytes: return "trailing bytes";
    case DecodeFault::not_utf8: return "not UTF-8";
    case DecodeFault::too_long: return "field too long";
    case DecodeFault::bad_name_list: return "bad name-list";
    case DecodeFault::bad_boolean: return "bad boolean";
    case DecodeFault::text_too_long: return "text too long";
    case DecodeFault::prompt_too_long: return "prompt too long";
    case DecodeFault::too_many_prompts: return "too many prompts";
    case DecodeFault::count_mismatch: return "count mismatch";
  }
  return "unknown";
}

// ---- USERAUTH_REQUEST

std::string_view UserauthRequest::method() const {
  struct Name {
    std::string_view operator()(const NoneFields&) const { return "none"; }
    std::string_view operator()(const PasswordFields&) const { return "password"; }
    std::string_view operator()(const PublickeyFields&) const { return "publickey"; }
    std::string_view operator()(const KeyboardInteractiveFields&) const {
      return "keyboard-interactive";
    }
    std::string_view operator()(const OtherMethod& f) const { return f.method; }
    std::string_view operator()(const MalformedFields& f) const { return f.method; }
  };
  return std::visit(Name{}, fields);
}

Bytes UserauthRequest::encode() const {
  Bytes out;
  wire::Writer w(out);
  request_header(w, user, service, method());
  if (const auto* p = std::get_if<PasswordFields>(&fields)) {
    w.boolean(p->new_password.has_value()).string(p->password.view());
    if (p->new_password) w.string(p->new_password->view());
  } else if (const auto* k = std::get_if<PublickeyFields>(&fields)) {
    w.boolean(k->signature.has_value()).string(k->algorithm).string(BytesView(k->key_blob));
    if (k->signature) w.string(BytesView(*k->signature));
  } else if (const auto* kbd = std::get_if<KeyboardInteractiveFields>(&fields)) {
    w.string(kbd->language).string(kbd->submethods);
  }
  return out;
}

std::expected<UserauthRequest, DecodeError> UserauthRequest::decode(BytesView payload,
                                                                    const DecodeLimits& limits) {
  auto r = open_message(payload, msg::userauth_request);
  if (!r) return std::unexpected(r.error());
  UserauthRequest req;
  req.user = std::string(r->utf8(limits.max_name_bytes));
  req.service = std::string(r->utf8(limits.max_name_bytes));
  const std::string method_name(r->text());
  if (auto ok = r->status(); !ok) return std::unexpected(from_wire(ok.error()));
  req.fields = decode_fields(method_name, *r, limits);
  return req;
}

Bytes publickey_signed_data(BytesView session_id, std::string_view user, std::string_view service,
                            std::string_view algorithm, BytesView key_blob) {
  Bytes out;
  wire::Writer w(out);
  w.string(session_id);
  request_header(w, user, service, "publickey").boolean(true).string(algorithm).string(key_blob);
  return out;
}

// ---- FAILURE, SUCCESS, BANNER

Bytes UserauthFailure::encode() const {
  std::string joined;
  for (const auto& m : methods) joined += (joined.empty() ? "" : ",") + m;
  Bytes out;
  wire::Writer(out).byte(msg::userauth_failure).string(joined).boolean(partial_success);
  return out;
}

std::expected<UserauthFailure, DecodeError> UserauthFailure::decode(BytesView payload) {
  return decode_as<UserauthFailure>(payload, msg::userauth_failure, [](wire::Reader& r, auto& f) {
    f.methods = r.name_list().names();
    f.partial_success = r.boolean();
    return Filled{};
  });
}

Bytes UserauthSuccess::encode() const { return Bytes{msg::userauth_success}; }

std::expected<UserauthSuccess, DecodeError> UserauthSuccess::decode(BytesView payload) {
  return decode_as<UserauthSuccess>(payload, msg::userauth_success,
                                    [](wire::Reader&, auto&) { return Filled{}; });
}

Bytes UserauthBanner::encode() const {
  Bytes out;
  wire::Writer(out).byte(msg::userauth_banner).string(message).string(language);
  return out;
}

std::expected<UserauthBanner, DecodeError> UserauthBanner::decode(BytesView payload) {
  return decode_as<UserauthBanner>(payload, msg::userauth_banner, [](wire::Reader& r, auto& b) {
    b.message = unbounded_utf8(r);  // bounded by the packet; the client bounds what it shows
    b.language = std::string(r.text());
    return Filled{};
  });
}

// ---- PK_OK

Bytes PkOk::encode() const {
  Bytes out;
  wire::Writer(out).byte(msg::userauth_pk_ok).string(algorithm).string(BytesView(key_blob));
  return out;
}

std::expected<PkOk, DecodeError> PkOk::decode(BytesView payload) {
  return decode_as<PkOk>(payload, msg::userauth_pk_ok, [](wire::Reader& r, auto& ok) {
    ok.algorithm = std::string(r.text());
    const BytesView blob = r.string();
    ok.key_blob.assign(blob.begin(), blob.end());
    return Filled{};
  });
}

// ---- INFO_REQUEST, INFO_RESPONSE

Bytes InfoRequest::encode() const {
  Bytes out;
  wire::Writer w(out);
  w.byte(msg::userauth_info_request).string(name).string(instruction).string(language);
  w.uint32(static_cast<std::uint32_t>(prompts.size()));
  for (const auto& p : prompts) w.string(p.text).boolean(p.echo);
  return out;
}

std::expected<InfoRequest, DecodeError> InfoRequest::decode(BytesView payload,
                                                            const DecodeLimits& limits) {
  return decode_as<InfoRequest>(payload, msg::userauth_info_request, [&](wire::Reader& r, auto& req) {
    req.name = unbounded_utf8(r);
    req.instruction = unbounded_utf8(r);
    req.language = std::string(r.text());
    const std::uint32_t count = r.uint32();
    if (auto ok = r.status(); !ok) return Filled(std::unexpected(from_wire(ok.error())));
    if (req.name.size() > limits.max_text_bytes || req.instruction.size() > limits.max_text_bytes)
      return Filled(std::unexpected(DecodeError{DecodeFault::text_too_long}));
    // Bounded before anything is reserved: a count of 10 000 costs nothing.
    if (count > limits.max_prompts)
      return Filled(std::unexpected(DecodeError{DecodeFault::too_many_prompts, count}));
    req.prompts.reserve(count);
    for (std::uint32_t i = 0; i < count && r.ok(); ++i) {
      std::string text = unbounded_utf8(r);
      const bool echo = r.boolean();
      if (!r.ok()) break;
      if (text.size() > limits.max_text_bytes)
        return Filled(std::unexpected(DecodeError{DecodeFault::prompt_too_long}));
      req.prompts.push_back(Prompt{std::move(text), echo});
    }
    return Filled{};
  });
}


Bytes InfoResponse::encode() const {
  Bytes out;
  wire::Writer w(out);
  w.byte(msg::userauth_info_response).uint32(static_cast<std::uint32_t>(answers.size()));
  for (const auto& a : answers) w.string(a.view());
  return out;
}

std::expected<InfoResponse, DecodeError> InfoResponse::decode(BytesView payload,
                                                              std::size_t expected,
                                                              const DecodeLimits& limits) {
  auto read = [&](wire::Reader& r, InfoResponse& resp) {
    const std::uint32_t count = r.uint32();
    // RFC 4256 §3.4: num-responses must equal num-prompts; a response without it
    // answers no request either.
    if (!r.ok() || count != expected)
      return Filled(std::unexpected(DecodeError{DecodeFault::count_mismatch, count}));
    resp.answers.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
      const BytesView a = utf8_secret(r, limits.max_secret_bytes);
      if (!r.ok()) break;
      resp.answers.emplace_back(a);
    }
    return Filled{};
  };
  return decode_as<InfoResponse>(payload, msg::userauth_info_response, read);
}


}  // namespace parley::userauth
