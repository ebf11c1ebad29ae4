#include "proxy_guard.hpp"

#include <algorithm>
#include <array>

#include "parley/driver/proxy_protocol.hpp"

namespace parley::driver::detail {
namespace {

class ProxyGuard final : public transport::Endpoint {
 public:
  ProxyGuard(std::unique_ptr<transport::Endpoint> inner, std::function<void()> on_refused)
      : inner_(std::move(inner)), on_refused_(std::move(on_refused)) {}

  void receive(BytesView data, transport::Instant now) override {
    if (refused_) return;
    if (decided_) return inner_->receive(data, now);
    // Hold at most the 12 bytes that decide; a longer read decides on its first ones.
    const std::size_t take = std::min(data.size(), held_.size() - held_size_);
    std::copy_n(data.begin(), take, held_.begin() + static_cast<std::ptrdiff_t>(held_size_));
    held_size_ += take;
    const auto proxy = starts_proxy_header(BytesView(held_.data(), held_size_));
    if (!proxy) return;  // still a prefix of a header: wait for more
    if (*proxy) {
      refused_ = true;
      if (on_refused_) on_refused_();
      return;
    }
    decided_ = true;
    inner_->receive(BytesView(held_.data(), held_size_), now);
    if (take < data.size() && !inner_->closed()) inner_->receive(data.subspan(take), now);
  }
  void peer_closed(transport::Instant now) override {
    if (refused_) return;
    if (!decided_ && held_size_ > 0) {  // a short prefix, then EOF: the core judges it
      decided_ = true;
      inner_->receive(BytesView(held_.data(), held_size_), now);
    }
    inner_->peer_closed(now);
  }
  void on_time(transport::Instant now) override {
    if (!refused_) inner_->on_time(now);
  }
  std::optional<transport::Instant> next_deadline() const override {
    return refused_ ? std::nullopt : inner_->next_deadline();
  }
  void take_output(Bytes& out) override {
    if (!refused_) inner_->take_output(out);
  }
  bool closed() const override { return refused_ || inner_->closed(); }
  bool wants_input() const override { return !refused_ && inner_->wants_input(); }
  bool linger_on_close() const override { return !refused_ && inner_->linger_on_close(); }
  void on_output_written(transport::Instant now) override {
    if (!refused_) inner_->on_output_written(now);
  }
  void set_wake(std::function<void()> wake) override { inner_->set_wake(std::move(wake)); }
  bool set_preauth_listener(std::function<void(transport::PreauthState)> listener) override {
    return inner_->set_preauth_listener(std::move(listener));
  }

 private:
  std::unique_ptr<transport::Endpoint> inner_;
  std::function<void()> on_refused_;
  std::array<std::uint8_t, 12> held_{};  // the v2 signature's length, longer than "PROXY "
  std::size_t held_size_ = 0;
  bool decided_ = false;
  bool refused_ = false;
};

}  // namespace

std::unique_ptr<transport::Endpoint> refuse_proxy_headers(std::unique_ptr<transport::Endpoint> inner,
                                                          std::function<void()> on_refused) {
  return std::make_unique<ProxyGuard>(std::move(inner), std::move(on_refused));
}

}  // namespace parley::driver::detail
