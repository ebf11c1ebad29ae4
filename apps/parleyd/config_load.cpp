// load_config: reads a configuration file off disk, bounded and only if it is
// a regular file, for parse_config (config.cpp).
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <system_error>

#include "config.hpp"

namespace parleyd {

namespace {

namespace fs = std::filesystem;

// A configuration file is a few kilobytes; anything this big was named by mistake.
constexpr std::size_t max_file_bytes = std::size_t{1} << 20;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

ConfigError file_error(const fs::path& path, std::string reason) {
  return ConfigError{path.string(), 0, std::move(reason)};
}

}  // namespace

std::string ConfigError::message() const {
  if (line == 0) return file + ": " + reason;
  return file + ":" + std::to_string(line) + ": " + reason;
}

std::expected<std::string, ConfigError> read_config_file(const fs::path& path) {
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f)
    return std::unexpected(
        file_error(path, "cannot open: " + std::generic_category().message(errno)));
  struct stat st {};
  if (::fstat(::fileno(f.get()), &st) != 0)
    return std::unexpected(
        file_error(path, "cannot stat: " + std::generic_category().message(errno)));
  // A directory opens fine but reads fail; a FIFO or device could block or never end.
  if (!S_ISREG(st.st_mode)) return std::unexpected(file_error(path, "not a regular file"));
  if (static_cast<std::size_t>(st.st_size) > max_file_bytes)
    return std::unexpected(file_error(path, "larger than " + std::to_string(max_file_bytes) +
                                                " bytes; not a configuration file"));
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  const std::size_t got = std::fread(text.data(), 1, text.size(), f.get());
  if (std::ferror(f.get()))
    return std::unexpected(
        file_error(path, "cannot read: " + std::generic_category().message(errno)));
  text.resize(got);  // the file may have shrunk since fstat
  return text;
}

std::expected<Config, ConfigError> load_config(const fs::path& path) {
  auto text = read_config_file(path);
  if (!text) return std::unexpected(text.error());
  return parse_config(*text, path);
}

}  // namespace parleyd
