#include "orchestrator/convert.hpp"

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

}  // namespace shmcp
