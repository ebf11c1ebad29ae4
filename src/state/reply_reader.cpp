// ReplyReader: hiredis's redisReader as a pure RESP2 parser, building parley's
// own Reply values through its object callbacks, so that every allocation is
// counted against ReaderLimits before it is made.
#include <hiredis/hiredis.h>

#include <climits>
#include <new>

#include "parley/state/redis_protocol.hpp"

namespace parley::state::redis {

struct ReplyReader::Impl {
  ReaderLimits limits;
  redisReader* reader = nullptr;
  std::size_t elements = 0;  // array elements in the reply being read
  bool too_large = false;
  std::string failed;        // set once the stream is unusable
};

namespace {

using Impl = ReplyReader::Impl;

Impl* owner(const redisReadTask* task) { return static_cast<Impl*>(task->privdata); }

// The object for `task`: a fresh root, or the slot its parent array keeps for it.
Reply* place(const redisReadTask* task, Reply::Kind kind) {
  Reply* r = nullptr;
  if (task->parent != nullptr) {
    auto* parent = static_cast<Reply*>(task->parent->obj);
    if (task->idx < 0 || static_cast<std::size_t>(task->idx) >= parent->elements.size()) return nullptr;
    r = &parent->elements[static_cast<std::size_t>(task->idx)];
  } else {
    r = new (std::nothrow) Reply;
    if (r == nullptr) return nullptr;
  }
  r->kind = kind;
  return r;
}

void* create_string(const redisReadTask* task, char* str, size_t len) {
  const Reply::Kind kind = task->type == REDIS_REPLY_ERROR    ? Reply::Kind::error
                           : task->type == REDIS_REPLY_STATUS ? Reply::Kind::status
                                                              : Reply::Kind::string;
  try {
    Reply* r = place(task, kind);
    if (r != nullptr) r->text.assign(str, len);
    return r;
  } catch (...) {
    return nullptr;
  }
}

void* create_array(const redisReadTask* task, int count) {
  Impl* impl = owner(task);
  if (count < 0 || static_cast<std::size_t>(count) > impl->limits.max_elements - impl->elements) {
    impl->too_large = true;
    return nullptr;
  }
  impl->elements += static_cast<std::size_t>(count);
  try {
    Reply* r = place(task, Reply::Kind::array);
    if (r != nullptr) r->elements.resize(static_cast<std::size_t>(count));
    return r;
  } catch (...) {
    return nullptr;
  }
}

void* create_integer(const redisReadTask* task, long long value) {
  Reply* r = place(task, Reply::Kind::integer);
  if (r != nullptr) r->integer = value;
  return r;
}

void* create_nil(const redisReadTask* task) { return place(task, Reply::Kind::nil); }

// hiredis frees only the root object; the children live in its vectors.
void free_object(void* obj) { delete static_cast<Reply*>(obj); }

redisReplyObjectFunctions reply_functions = {create_string, create_array, create_integer, create_nil,
                                             free_object};

}  // namespace

ReplyReader::ReplyReader(ReaderLimits limits) : impl_(std::make_unique<Impl>()) {
  impl_->limits = limits;
  impl_->reader = redisReaderCreateWithFunctions(&reply_functions);
  if (impl_->reader == nullptr) throw std::bad_alloc();
  impl_->reader->privdata = impl_.get();
}

ReplyReader::~ReplyReader() { redisReaderFree(impl_->reader); }

std::expected<void, std::string> ReplyReader::feed(std::string_view bytes) {
  if (!impl_->failed.empty()) return std::unexpected(impl_->failed);
  const redisReader* r = impl_->reader;
  if (r->len - r->pos + bytes.size() > impl_->limits.max_reply_bytes) {
    impl_->failed = "protocol error: a reply longer than " + std::to_string(impl_->limits.max_reply_bytes) + " bytes";
    return std::unexpected(impl_->failed);
  }
  if (bytes.empty()) return {};
  if (redisReaderFeed(impl_->reader, bytes.data(), bytes.size()) != REDIS_OK) {
    impl_->failed = "protocol error: out of memory";
    return std::unexpected(impl_->failed);
  }
  return {};
}

std::expected<std::optional<Reply>, std::string> ReplyReader::next() {
  if (!impl_->failed.empty()) return std::unexpected(impl_->failed);
  void* obj = nullptr;
  if (redisReaderGetReply(impl_->reader, &obj) != REDIS_OK) {
    impl_->failed = impl_->too_large
                        ? "protocol error: a reply with more than " + std::to_string(impl_->limits.max_elements) +
                              " elements"
                        : "protocol error: " + printable(impl_->reader->errstr);
    return std::unexpected(impl_->failed);
  }
  if (obj == nullptr) return std::nullopt;
  std::unique_ptr<Reply> reply(static_cast<Reply*>(obj));
  impl_->elements = 0;
  return std::optional<Reply>(std::move(*reply));
}

std::string encode_command(std::span<const std::string> args) {
  std::size_t size = 16;
  for (const auto& a : args) size += a.size() + 32;  // "$" length "\r\n" ... "\r\n": no growth, so no stray copy of an AUTH password
  std::string out;
  out.reserve(size);
  out += '*';
  out += std::to_string(args.size());
  out += "\r\n";
  for (const auto& a : args) {
    out += '$';
    out += std::to_string(a.size());
    out += "\r\n";
    out += a;
    out += "\r\n";
  }
  return out;
}

std::string printable(std::string_view text) {
  std::string out;
  for (const char c : text.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

}  // namespace parley::state::redis
