// [state]'s keys checked together (config.hpp); each key's own value is
// checked where the file is read (config.cpp).
#include "config.hpp"

namespace parleyd {

std::optional<std::string> state_settings_problem(const StateSettings& st) {
  if (st.line == 0) return std::nullopt;
  const bool redis = st.backend == "redis";
  if (redis && !st.address) return "state: backend = \"redis\" needs address = \"HOST:PORT\"";
  const bool redis_keys = st.address || st.tls || st.tls_ca_file || st.tls_cert_file || st.tls_key_file ||
                          st.tls_server_name || st.username || st.password_file || st.key_prefix || st.timeout ||
                          st.connect_timeout || st.pool_size;
  if (!redis && redis_keys) return "state: the Redis settings need backend = \"redis\" (the local backend has none)";
  const bool tls_files = st.tls_ca_file || st.tls_cert_file || st.tls_key_file || st.tls_server_name;
  if (tls_files && !st.tls.value_or(false)) return "state: tls_* settings need tls = true";
  if (st.tls.value_or(false) && !st.tls_ca_file)
    return "state: tls = true needs tls_ca_file (the CA that signed Redis's certificate)";
  if (!st.tls_cert_file != !st.tls_key_file)
    return "state: tls_cert_file and tls_key_file go together (a client certificate and its key)";
  return std::nullopt;
}

}  // namespace parleyd
