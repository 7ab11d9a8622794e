// Name collation for list_directory_with_sizes sortBy "name": an approximation of ICU's root
// collation (what String#localeCompare gives in Node with full ICU), exact for U+0000..U+024F.
#pragma once

#include <string_view>

namespace shmcp::executor {

// <0, 0, >0 like localeCompare: primary (base letters, punctuation before digits before letters),
// then secondary (accents), then tertiary (lower case first). Control characters are ignorable.
// Code points above U+024F sort after all Latin letters by code point.
int collate_compare(std::string_view a, std::string_view b);

}  // namespace shmcp::executor
