// libFuzzer target: the glob matcher. Input: a pattern, then '\n'-separated paths. compile() must
// never fail or blow up (brace expansion bounded, no deep recursion, no exponential matching).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "executor/tools/glob.hpp"

using namespace shmcp::executor;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto nl = in.find('\n');
  const std::string_view pattern = in.substr(0, nl);
  std::string_view rest = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  auto alts = glob::brace_expand(pattern, 64);
  if (alts.size() > 64) __builtin_trap();
  const glob::Pattern p = glob::Pattern::compile(pattern);
  int paths = 0;
  do {
    const auto e = rest.find('\n');
    const std::string_view path = rest.substr(0, e);
    (void)p.match(path);
    rest = e == std::string_view::npos ? std::string_view() : rest.substr(e + 1);
  } while (!rest.empty() && ++paths < 16);
  return 0;
}
