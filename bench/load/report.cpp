// What a run prints: a few lines for people, or one JSON object for scripts.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "load.hpp"

namespace parley::load {
namespace {

std::string_view mode_name(Mode m) {
  switch (m) {
    case Mode::rate: return "rate";
    case Mode::hold: return "hold";
    case Mode::flood: return "flood";
  }
  return "?";
}

struct Latency {
  double p50 = 0, p90 = 0, p99 = 0, max = 0;  // milliseconds
};

/// Nearest-rank percentiles of the samples.
Latency latency(std::vector<std::uint32_t> us) {
  Latency l;
  if (us.empty()) return l;
  std::sort(us.begin(), us.end());
  auto rank = [&](double q) {
    const auto k = static_cast<std::size_t>(std::ceil(q * static_cast<double>(us.size())));
    return static_cast<double>(us[std::clamp<std::size_t>(k, 1, us.size()) - 1]) / 1000.0;
  };
  l.p50 = rank(0.50);
  l.p90 = rank(0.90);
  l.p99 = rank(0.99);
  l.max = static_cast<double>(us.back()) / 1000.0;
  return l;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x",
                    static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

std::string report(const Options& o, const Tally& t) {
  const Latency l = latency(t.latencies_us);
  const double secs = t.elapsed.count();
  const double per_second = secs > 0 ? static_cast<double>(t.succeeded) / secs : 0;
  if (o.json) {
    std::string j = "{\"mode\":" + json_string(mode_name(o.mode)) +
                    ",\"target\":" + json_string(o.target) +
                    ",\"started\":" + std::to_string(t.started) +
                    ",\"succeeded\":" + std::to_string(t.succeeded) +
                    ",\"failed\":" + std::to_string(t.failed()) +
                    ",\"elapsed_s\":" + fixed(secs, 3) + ",\"per_second\":" + fixed(per_second, 1) +
                    ",\"latency_ms\":{\"p50\":" + fixed(l.p50, 3) + ",\"p90\":" + fixed(l.p90, 3) +
                    ",\"p99\":" + fixed(l.p99, 3) + ",\"max\":" + fixed(l.max, 3) + "}";
    if (o.mode != Mode::rate) j += ",\"held\":" + std::to_string(t.held);
    if (o.mode == Mode::hold) j += ",\"answered\":" + std::to_string(t.answered);
    if (o.keepalive)
      j += ",\"keepalives_sent\":" + std::to_string(t.keepalives_sent) +
           ",\"keepalives_answered\":" + std::to_string(t.keepalives_answered);
    j += ",\"failures\":{";
    bool first = true;
    for (const auto& [kind, n] : t.failures) {
      j += (first ? "" : ",") + json_string(kind) + ":" + std::to_string(n);
      first = false;
    }
    j += "},\"reasons\":{";
    first = true;
    for (const auto& [reason, n] : t.disconnect_reasons) {
      j += (first ? "" : ",") + json_string(reason) + ":" + std::to_string(n);
      first = false;
    }
    j += "},\"peak_open\":" + std::to_string(t.peak_open) +
         ",\"tool_max_rss_kib\":" + std::to_string(t.max_rss_kib);
    j += ",\"interrupted\":" + std::string(t.interrupted ? "true" : "false") + "}\n";
    return j;
  }

  std::string s = "parley-load " + std::string(mode_name(o.mode)) + " against " + o.target + ": ";
  switch (o.mode) {
    case Mode::rate:
      s += std::to_string(t.started) + " started, " + std::to_string(t.succeeded) + " logged in, " +
           std::to_string(t.failed()) + " failed in " + fixed(secs, 3) +
           " s: " + fixed(per_second, 1) + " logins/s\n";
      break;
    case Mode::hold:
      s += std::to_string(t.started) + " started, " + std::to_string(t.succeeded) + " logged in (" +
           fixed(per_second, 1) + "/s), " + std::to_string(t.held) + " held, " +
           std::to_string(t.answered) + " answered at the end, " + std::to_string(t.failed()) +
           " failed\n";
      if (o.keepalive)
        s += "keepalives: " + std::to_string(t.keepalives_sent) + " sent while held, " +
             std::to_string(t.keepalives_answered) + " answered\n";
      break;
    case Mode::flood:
      s += std::to_string(t.started) + " started, " + std::to_string(t.succeeded) +
           " got the server's version (" + fixed(per_second, 1) + "/s), " + std::to_string(t.held) +
           " held to the end, " + std::to_string(t.failed()) + " failed or dropped\n";
      break;
  }
  s += std::string(o.mode == Mode::flood ? "version latency" : "login latency") + ": p50 " +
       fixed(l.p50, 2) + " ms, p90 " + fixed(l.p90, 2) + " ms, p99 " + fixed(l.p99, 2) +
       " ms, max " + fixed(l.max, 2) + " ms\n";
  if (t.failures.empty()) {
    s += "failures: none\n";
  } else {
    s += "failures:";
    for (const auto& [kind, n] : t.failures) s += " " + kind + " " + std::to_string(n) + ";";
    s.back() = '\n';
    for (const auto& [reason, n] : t.disconnect_reasons)
      s += "  " + std::to_string(n) + " × " + reason + "\n";
  }
  s += "at most " + std::to_string(t.peak_open) +
       " connections open at once; the tool's peak memory " + std::to_string(t.max_rss_kib / 1024) +
       " MiB\n";
  if (t.interrupted) s += "(interrupted: the counts are of what ran until then)\n";
  return s;
}

}  // namespace parley::load
