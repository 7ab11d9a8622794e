#include "orchestrator/bounded_json.hpp"

#include <new>
#include <string>

namespace shmcp {

namespace {

using json = nlohmann::json;

// nlohmann's DOM builder behind a depth gate: returning false from a SAX event aborts the parse
// at once, so the deep tail of a hostile text is neither read nor allocated.
class DepthBoundedSax {
 public:
  DepthBoundedSax(json& root, std::size_t max_depth) : dom_(root, /*allow_exceptions_=*/false), max_depth_(max_depth) {}

  bool null() { return dom_.null(); }
  bool boolean(bool v) { return dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const json::string_t& s) { return dom_.number_float(v, s); }
  bool string(json::string_t& v) { return dom_.string(v); }
  bool binary(json::binary_t& v) { return dom_.binary(v); }
  bool key(json::string_t& k) { return dom_.key(k); }
  bool start_object(std::size_t n) { return enter() && dom_.start_object(n); }
  bool end_object() {
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t n) { return enter() && dom_.start_array(n); }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  bool parse_error(std::size_t pos, const std::string& token, const nlohmann::detail::exception& e) {
    return dom_.parse_error(pos, token, e);  // records the error; false (no exceptions)
  }

  bool too_deep() const noexcept { return too_deep_; }

 private:
  bool enter() {
    if (++depth_ <= max_depth_) return true;
    too_deep_ = true;
    return false;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  std::size_t max_depth_;
  std::size_t depth_ = 0;
  bool too_deep_ = false;
};

}  // namespace

JsonFault parse_json_bounded(std::string_view text, json& out, const JsonLimits& limits) noexcept {
  out = nullptr;
  if (text.size() > limits.max_bytes) return JsonFault::too_large;
  try {
    json root;
    DepthBoundedSax sax(root, limits.max_depth);
    const bool ok = json::sax_parse(text.data(), text.data() + text.size(), &sax, json::input_format_t::json,
                                    /*strict=*/true, /*ignore_comments=*/false);
    if (!ok) return sax.too_deep() ? JsonFault::too_deep : JsonFault::malformed;
    out = std::move(root);
    return JsonFault::none;
  } catch (const std::bad_alloc&) {
    return JsonFault::too_large;
  } catch (...) {
    // The SAX path reports syntax errors as values; anything else is treated as bad input.
    return JsonFault::malformed;
  }
}

std::string_view describe(JsonFault f) noexcept {
  switch (f) {
    case JsonFault::none: return "ok";
    case JsonFault::malformed: return "malformed JSON";
    case JsonFault::too_deep: return "JSON nested too deeply";
    case JsonFault::too_large: return "JSON text too large";
  }
  return "malformed JSON";
}

}  // namespace shmcp
