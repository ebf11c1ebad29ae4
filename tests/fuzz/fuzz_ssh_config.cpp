// Fuzzes client::ssh_config end to end without I/O: the input is a config file
// and, after its first NUL byte, a second file that every Include whose pattern
// names "inc" finds (so Include recursion, fan-out and the final pass are
// reached); Match exec is allowed and answers by the command's length. What
// applied is then resolved as parley resolves it: HostName, %-tokens, ${VAR}.
// Seeds: tests/fuzz/seeds/ssh_config/.
#include <cstdint>
#include <string>
#include <string_view>

#include "parley/client/ssh_config.hpp"

using namespace parley::client::ssh_config;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  const std::string main_file(input.substr(0, nul));
  const std::string included(nul == std::string_view::npos ? "" : input.substr(nul + 1));
  Files files;
  files.read = [&](const std::string& path, bool) -> Files::ReadResult {
    if (path == "/cfg") return main_file;
    if (path == "/inc/x") return included;
    return std::nullopt;
  };
  files.glob = [](const std::string& pattern) -> Files::GlobResult {
    if (pattern.find("inc") != std::string::npos) return std::vector<std::string>{"/inc/x"};
    return std::vector<std::string>{};
  };
  files.exec = [](const std::string& command) -> std::expected<int, std::string> {
    return static_cast<int>(command.size() % 2);
  };
  Context context{"Host.Example",
                  "me",
                  "/home/me",
                  "box.example",
                  "1000",
                  [](const std::string& name) -> std::optional<std::string> {
                    if (name == "HOME") return "/home/me";
                    return std::nullopt;
                  }};
  Settings settings;
  if (!apply({{"/cfg", Scope::user, true}}, context, files, settings, true)) return 0;
  if (!resolved_host(settings, context)) return 0;
  const Tokens tokens{
      {'h', "host"}, {'n', context.host}, {'p', "22"}, {'r', "me"}, {'d', "/home/me"}};
  for (const Setting& s : settings.list())
    for (const std::string& arg : s.args)
      if (auto expanded = expand_tokens(expand_tilde(arg, context), tokens))
        (void)expand_env(*expanded, context);
  return 0;
}
