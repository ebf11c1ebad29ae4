// The names of an enumeration whose values run without gaps, kept as one list
// in declaration order instead of a switch per enumeration.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>
#include <utility>

namespace parley::wire {

/// `names[value - first]`, or "unknown" for a value outside the list (one cast
/// from outside the enumeration). The caller static_asserts that the list has
/// one name per enumerator.
template <class E, std::size_t N>
constexpr std::string_view enum_name(E value, const std::array<std::string_view, N>& names,
                                     E first = E{}) {
  const long long i = static_cast<long long>(std::to_underlying(value)) -
                      static_cast<long long>(std::to_underlying(first));
  return i >= 0 && static_cast<std::size_t>(i) < N ? names[static_cast<std::size_t>(i)]
                                                   : std::string_view("unknown");
}

/// How many values run from `first` to `last`, both included.
template <class E>
constexpr std::size_t enum_count(E first, E last) {
  return static_cast<std::size_t>(std::to_underlying(last) - std::to_underlying(first) + 1);
}

}  // namespace parley::wire
