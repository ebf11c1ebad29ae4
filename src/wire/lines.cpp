#include "parley/wire/lines.hpp"

namespace parley::wire {

std::vector<Line> split_lines(std::string_view text) {
  std::vector<Line> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    const std::size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    Line line;
    line.number = lines.size() + 1;
    line.raw = text.substr(pos, end - pos);
    line.terminated = nl != std::string_view::npos;
    line.text = line.terminated ? line.raw.substr(0, line.raw.size() - 1) : line.raw;
    if (line.text.ends_with('\r')) line.text.remove_suffix(1);
    lines.push_back(line);
    pos = end;
  }
  return lines;
}

}  // namespace parley::wire
