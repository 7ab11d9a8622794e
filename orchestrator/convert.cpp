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

}  // namespace

std::string to_json_text(const nlohmann::json& j, nlohmann::json::error_handler_t handler) {
  std::string out;
  append_json(out, j, handler);
  return out;
}

}  // namespace shmcp
