#include "orchestrator/convert.hpp"

#include "channel/base/text.hpp"

namespace shmcp {



Status status_error(const wire::Response& r) {
  const std::string why = r.error() ? r.error()->str() : std::string();
  auto err = [&](Errc c, const char* dflt) { return make_error(c, why.empty() ? std::string(dflt) : why); };
  switch (r.status()) {
    case wire::Status::Ok: return {};
    case wire::Status::UnknownTool: return err(Errc::invalid_argument, "unknown tool");
    case wire::Status::InvalidRequest: return err(Errc::invalid_argument, "invalid request");
    case wire::Status::Timeout: return err(Errc::timeout, "the call exceeded its deadline");
    case wire::Status::WorkerDied: return err(Errc::internal, "the worker running the call died");
    case wire::Status::TooLarge: return err(Errc::too_large, "message too large");
    case wire::Status::ShuttingDown: return err(Errc::closed, "the executor is shutting down");
    case wire::Status::Internal: return err(Errc::internal, "executor internal error");
  }
  return err(Errc::corrupt, "unknown response status");
}

namespace {
std::string str(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

nlohmann::json block_json(const wire::Content& c) {
  switch (c.kind()) {
    case wire::ContentKind::Text: return {{"type", "text"}, {"text", str(c.text())}};
    case wire::ContentKind::Image: return {{"type", "image"}, {"data", str(c.text())}, {"mimeType", str(c.mime_type())}};
    case wire::ContentKind::Audio: return {{"type", "audio"}, {"data", str(c.text())}, {"mimeType", str(c.mime_type())}};
    case wire::ContentKind::Resource:
      return {{"type", "resource"},
              {"resource", {{"uri", str(c.uri())}, {"mimeType", str(c.mime_type())}, {"blob", str(c.text())}}}};
  }
  return {{"type", "text"}, {"text", str(c.text())}};
}
}  // namespace

Result<ToolResult> response_to_result(const wire::Response& r) {
  if (auto s = status_error(r); !s) return s.error();
  ToolResult out;
  out.is_error = r.is_error();
  nlohmann::json content = nlohmann::json::array();
  if (r.content())
    for (const auto* c : *r.content())
      if (c) content.push_back(block_json(*c));
  out.json["content"] = content;
  if (out.is_error) {
    out.json["isError"] = true;
  } else if (r.media()) {
    out.json["structuredContent"] = {{"content", content}};
  } else {
    std::string text;
    if (!content.empty() && content[0].contains("text")) text = content[0]["text"].get<std::string>();
    out.json["structuredContent"] = {{"content", std::move(text)}};
  }
  return out;
}

Result<std::string> response_text(const wire::Response& r) {
  if (auto s = status_error(r); !s) return s.error();
  std::string text;
  if (r.content() && r.content()->size() > 0 && r.content()->Get(0)) text = str(r.content()->Get(0)->text());
  if (r.is_error()) return make_error(Errc::tool_error, std::move(text));
  return text;
}

// ---- JSON text ---------------------------------------------------------------------------------

namespace {

// Appends s as a JSON string literal the way nlohmann's serializer does with ensure_ascii off;
// false, with `out` unchanged, if s is not valid UTF-8 (the handler decides that case).
bool append_escaped(std::string& out, std::string_view s) {
  if (!is_valid_utf8(s)) return false;
  out.push_back('"');
  append_json_escaped(out, s);
  out.push_back('"');
  return true;
}

void append_json(std::string& out, const nlohmann::json& j, nlohmann::json::error_handler_t handler) {
  switch (j.type()) {
    case nlohmann::json::value_t::object: {
      out.push_back('{');
      bool first = true;
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (!first) out.push_back(',');
        first = false;
        if (!append_escaped(out, it.key())) out += nlohmann::json(it.key()).dump(-1, ' ', false, handler);
        out.push_back(':');
        append_json(out, it.value(), handler);
      }
      out.push_back('}');
      return;
    }
    case nlohmann::json::value_t::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& e : j) {
        if (!first) out.push_back(',');
        first = false;
        append_json(out, e, handler);
      }
      out.push_back(']');
      return;
    }
    case nlohmann::json::value_t::string: {
      const auto& s = j.get_ref<const std::string&>();
      if (!append_escaped(out, s)) out += j.dump(-1, ' ', false, handler);
      return;
    }
    default:  // null, booleans, numbers, binary: short, and nlohmann's formatting is the contract
      out += j.dump(-1, ' ', false, handler);
      return;
  }
}

// Appends s as a JSON string literal; invalid UTF-8 goes to nlohmann's escaping (the handler decides).
void append_string(std::string& out, std::string_view s, nlohmann::json::error_handler_t handler) {
  if (!append_escaped(out, s)) out += nlohmann::json(std::string(s)).dump(-1, ' ', false, handler);
}

std::string_view sv(const flatbuffers::String* s) { return s ? s->string_view() : std::string_view(); }

// One content block as block_json() builds it, keys in nlohmann's (sorted) order. Returns the
// range of the escaped text within `out` when the block is a text block (its "text" member).
std::pair<std::size_t, std::size_t> append_block(std::string& out, const wire::Content& c,
                                                 nlohmann::json::error_handler_t handler) {
  switch (c.kind()) {
    case wire::ContentKind::Image:
    case wire::ContentKind::Audio:
      out += "{\"data\":";
      append_string(out, sv(c.text()), handler);
      out += ",\"mimeType\":";
      append_string(out, sv(c.mime_type()), handler);
      out += c.kind() == wire::ContentKind::Image ? ",\"type\":\"image\"}" : ",\"type\":\"audio\"}";
      return {0, 0};
    case wire::ContentKind::Resource:
      out += "{\"resource\":{\"blob\":";
      append_string(out, sv(c.text()), handler);
      out += ",\"mimeType\":";
      append_string(out, sv(c.mime_type()), handler);
      out += ",\"uri\":";
      append_string(out, sv(c.uri()), handler);
      out += "},\"type\":\"resource\"}";
      return {0, 0};
    default: {  // Text, and (as block_json) any kind this build does not know
      out += "{\"text\":";
      const std::size_t at = out.size();
      append_string(out, sv(c.text()), handler);
      const std::size_t end = out.size();
      out += ",\"type\":\"text\"}";
      return {at, end};
    }
  }
}

}  // namespace

Status append_result_json(std::string& out, const wire::Response& r, bool state_is_error,
                          nlohmann::json::error_handler_t handler) {
  if (auto s = status_error(r); !s) return s.error();
  const std::size_t start = out.size();
  std::size_t hint = 96;
  if (r.content())
    for (const auto* c : *r.content())
      if (c) hint += 2 * (sv(c->text()).size() + 16) + sv(c->mime_type()).size() + sv(c->uri()).size();
  out.reserve(start + hint + hint / 8);
  try {
    out += "{\"content\":[";
    const std::size_t array_at = out.size() - 1;
    bool first = true;
    std::pair<std::size_t, std::size_t> first_text{0, 0};
    bool first_is_text = false;
    if (r.content())
      for (const auto* c : *r.content()) {
        if (!c) continue;
        if (!first) out.push_back(',');
        const auto range = append_block(out, *c, handler);
        if (first) {
          first_text = range;
          first_is_text = range.second != 0;
        }
        first = false;
      }
    out.push_back(']');
    const std::size_t array_end = out.size();
    if (r.is_error()) {
      out += ",\"isError\":true}";
      return {};
    }
    if (state_is_error) out += ",\"isError\":false";
    out += ",\"structuredContent\":{\"content\":";
    // Both copies come from `out` itself: append through an offset, as the buffer may move.
    if (r.media()) {
      out.append(out, array_at, array_end - array_at);
    } else if (first_is_text) {
      out.append(out, first_text.first, first_text.second - first_text.first);
    } else {
      out += "\"\"";
    }
    out += "}}";
  } catch (...) {
    out.resize(start);
    throw;
  }
  return {};
}

std::string to_json_text(const nlohmann::json& j, nlohmann::json::error_handler_t handler) {
  std::string out;
  append_json(out, j, handler);
  return out;
}

}  // namespace shmcp
