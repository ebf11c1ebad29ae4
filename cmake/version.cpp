// The installed library's own source (libparley.so and libparley.a are otherwise
// the layers' objects): the version it was built as.
#include "parley/version.hpp"

namespace parley {

std::string_view library_version() noexcept { return PARLEY_VERSION_STRING; }

}  // namespace parley
