// Tool dispatch: argument validation against the reference input schemas, tools/list, and the
// CallToolResult encoding. The tools themselves live in tools_read.cpp, tools_write.cpp and
// tools_dir.cpp.
#include <nlohmann/json.hpp>

#include <cmath>
#include <exception>
#include <new>

#include "executor/tools/tools.hpp"
#include "executor/tools/tools_internal.hpp"

namespace shmcp::executor {

using nlohmann::json;

CallResult CallResult::text(std::string t) {
  CallResult r;
  r.content.push_back(ContentBlock{ContentBlock::Kind::text, std::move(t), {}, {}});
  return r;
}

CallResult CallResult::error(std::string message) {
  CallResult r = text(std::move(message));
  r.is_error = true;
  return r;
}

CallResult CallResult::timeout(std::string_view tool) {
  CallResult r = error(std::string(tool) + ": the call's deadline passed before the tool finished");
  r.timed_out = true;
  return r;
}

namespace {

json block_json(const ContentBlock& b) {
  switch (b.kind) {
    case ContentBlock::Kind::text: return json{{"type", "text"}, {"text", b.text}};
    case ContentBlock::Kind::image: return json{{"type", "image"}, {"data", b.text}, {"mimeType", b.mime_type}};
    case ContentBlock::Kind::audio: return json{{"type", "audio"}, {"data", b.text}, {"mimeType", b.mime_type}};
    case ContentBlock::Kind::resource:
      return json{{"type", "resource"},
                  {"resource", json{{"uri", b.uri}, {"mimeType", b.mime_type}, {"blob", b.text}}}};
  }
  return json::object();
}

// The reference's tools/list with its descriptions replaced by ours (schemas, annotations and
// execution copied verbatim from ../shared/reference/tools-list.json).
constexpr const char* kToolsList = R"json(
[{"name":"read_file","description":"Deprecated alias of read_text_file: reads a UTF-8 text file inside the workspace (head/tail select the first or last N lines).","inputSchema":{"type":"object","properties":{"path":{"type":"string"},"tail":{"type":"number"},"head":{"type":"number"}},"required":["path"],"$schema":"http://json-schema.org/draft-07/schema#"},"outputSchema":{"type":"object","properties":{"content":{"type":"string"}},"required":["content"],"$schema":"http://json-schema.org/draft-07/schema#","additionalProperties":false},"annotations":{"readOnlyHint":true,"openWorldHint":false},"execution":{"taskSupport":"forbidden"}},{"name":"read_text_file","description":"Read a file inside the workspace as UTF-8 text (invalid bytes become U+FFFD). 'head' returns only the first N lines, 'tail' only the last N; not both. Regular files only, up to a size limit.","inputSchema":{"type":"object","properties":{"path":{"type":"string"},"tail":{"type":"number"},"head":{"type":"number"}},"required":["path"],"$schema":"http://json-schema.org/draft-07/schema#"},"outputSchema":{"type":"object","properties":{"content":{"type":"string"}},"required":["content"],"$schema":"http://json-schema.org/draft-07/schema#","additionalProperties":false},"annotations":{"readOnlyHint":true,"openWorldHint":false},"execution":{"taskSupport":"forbidden"}},{"name":"read_media_file","description":"Read an image or audio file inside the workspace and return it base64-encoded with its MIME type; other files come back as an embedded binary resource.","inputSchema":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"],"$schema":"http://json-schema.org/draft-07/schema#"},"outputSchema":{"type":"object","properties":{"content":{"type":"array","items":{"anyOf":[{"type":"object","properties":{"type":{"type":"string","enum":["image","audio"]},"data":{"type":"string"},"mimeType":{"type":"string"}},"required":["type","data","mimeType"],"additionalProperties":false},{"type":"object","properties":{"type":{"type":"string","const":"resource"},"resource":{"type":"object","properties":{"uri":{"type":"string"},"mimeType":{"type":"string"},"blob":{"type":"string"}},"required":["uri","blob"],"additionalProperties":false}},"required":["type","resource"],"additionalProperties":false}]}}},"required":["content"],"$schema":"http://json-schema.org/draft-07/schema#","additionalProperties":false},"annotations":{"readOnlyHint":true,"openWorldHint":false},"execution":{"taskSupport":"forbidden"}},{"name":"read_multiple_files","description":"Read several text files at once. Each result is prefixed with the path as given; a file that cannot be read yields an error line without failing the others.","inputSchema":{"type":"object","properties":{"paths":{"minItems":1,"type":"array","items":{"type":"string"}}},"required":["paths"],"$schema":"http://json-schema.org/draft-07/schema#"},"outputSchema":{"type":"object","properties":{"content":{"type":"string"}},"required":["content"],"$schema":"http://json-schema.org/draft-07/schema#","additionalProperties":false},"annotations":{"readOnlyHint":true,"openWorldHint":false},"execution":{"taskSupport":"forbidden"}},{"name":"write_file","description":"Create a file or replace an existing one completely with the given text (atomic: written to a temporary file, then renamed into place; a symlink at the path is replaced, not followed). The parent directory must exist.","inputSchema":{"type":"object","properties":{"path":{"type":"string"},"content":{"type":"string"}},"required":["path","content"],"$schema":"http://json-schema.org/draft-07/schema#"},"outputSchema":{"type":"object","properties":{"content":{"type":"string"}},"required":["content"],"$schema":"http://json-schema.org/draft-07/schema#","additionalProperties":false},"annotations":{"readOnlyHint":false,"destructiveHint":true,"idempotentHint":true,"openWorldHint":false},"execution":{"taskSupport":"forbidden"}},{"name":"edit_file","description":"Apply exact or whitespace-tolerant line replacements to a text file and return a unified diff of the change. With dryRun the diff is returned and nothing is written.","inputSchema":{"type":"object","properties":{"path":{"type":"string"},"edits":{"type":"array","items":{"type":"object","properties":{"oldText":{"type":"string"},"newText":{"type":"string"}},"required":["oldText","newText"]}},"dryRun":{"default":false,"type":"boolean"}},"required":["path","edits"],"$schema":"http://json-schema.org/draft-07/schema#"},"outputSchema":{"type":"object","properties":{"content":{"type":"string"}},"required":["content"],"$schema":"http://json-schema.org/draft-07/schema#","additionalProperties":false},"annotations":{"readOnlyHint":false,"destructiveHint":true,"idempotentHint":false,"openWorldHint":false},"execution":{"taskSupport":"forbidden"}},{"name":"create_directory","description":"Create a directory, including missing parents. Succeeds if it already exists.","inputSchema":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"],"$schema":"http://json-schema.org/draft-07/schema#"},"outputSchema":{"type":"object","properties":{"content":{"type":"string"}},"required":["content"],"$schema":"http://json-schema.org/draft-07/schema#","additionalProperties":false},"annotations":{"readOnlyHint":false,"destructiveHint":false,"idempotentHint":true,"openWorldHint":false},"execution":{"taskSupport":"forbidden"}},{"name":"list_directory","description":"List the entries of a directory, one per line, prefixed with [DIR] for real directories and [FILE] for everything else.","inputSchema":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"],"$schema":"http://json-schema.org/draft-07/schema#"},"outputSchema":{"type":"object","properties":{"content":{"type":"string"}},"required":["content"],"$schema":"http://json-schema.org/draft-07/schema#","additionalProperties":false},"annotations":{"readOnlyHint":true,"openWorldHint":false},"execution":{"taskSupport":"forbidden"}},{"name":"list_directory_with_sizes","description":"List the entries of a directory with file sizes, sorted by name or size (descending), followed by totals.","inputSchema":{"type":"object","properties":{"path":{"type":"string"},"sortBy":{"default":"name","type":"string","enum":["name","size"]}},"required":["path"],"$schema":"http://json-schema.org/draft-07/schema#"},"outputSchema":{"type":"object","properties":{"content":{"type":"string"}},"required":["content"],"$schema":"http://json-schema.org/draft-07/schema#","additionalProperties":false},"annotations":{"readOnlyHint":true,"openWorldHint":false},"execution":{"taskSupport":"forbidden"}},{"name":"directory_tree","description":"Return the recursive structure of a directory as indented JSON ({name, type, children}). Symlinks are not followed. excludePatterns are glob patterns relative to the path.","inputSchema":{"type":"object","properties":{"path":{"type":"string"},"excludePatterns":{"default":[],"type":"array","items":{"type":"string"}}},"required":["path"],"$schema":"http://json-schema.org/draft-07/schema#"},"outputSchema":{"type":"object","properties":{"content":{"type":"string"}},"required":["content"],"$schema":"http://json-schema.org/draft-07/schema#","additionalProperties":false},"annotations":{"readOnlyHint":true,"openWorldHint":false},"execution":{"taskSupport":"forbidden"}},{"name":"move_file","description":"Move or rename a file or directory. Fails if the destination already exists; a symlink is moved itself, not its target.","inputSchema":{"type":"object","properties":{"source":{"type":"string"},"destination":{"type":"string"}},"required":["source","destination"],"$schema":"http://json-schema.org/draft-07/schema#"},"outputSchema":{"type":"object","properties":{"content":{"type":"string"}},"required":["content"],"$schema":"http://json-schema.org/draft-07/schema#","additionalProperties":false},"annotations":{"readOnlyHint":false,"destructiveHint":true,"idempotentHint":false,"openWorldHint":false},"execution":{"taskSupport":"forbidden"}},{"name":"search_files","description":"Recursively find entries whose path relative to 'path' matches a glob pattern ('*.ext' at the top level, '**/*.ext' at any depth). Returns absolute paths. Symlinked directories are not descended.","inputSchema":{"type":"object","properties":{"path":{"type":"string"},"pattern":{"type":"string"},"excludePatterns":{"default":[],"type":"array","items":{"type":"string"}}},"required":["path","pattern"],"$schema":"http://json-schema.org/draft-07/schema#"},"outputSchema":{"type":"object","properties":{"content":{"type":"string"}},"required":["content"],"$schema":"http://json-schema.org/draft-07/schema#","additionalProperties":false},"annotations":{"readOnlyHint":true,"openWorldHint":false},"execution":{"taskSupport":"forbidden"}},{"name":"get_file_info","description":"Return metadata of a file or directory: size, creation, modification and access times, type and permissions.","inputSchema":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"],"$schema":"http://json-schema.org/draft-07/schema#"},"outputSchema":{"type":"object","properties":{"content":{"type":"string"}},"required":["content"],"$schema":"http://json-schema.org/draft-07/schema#","additionalProperties":false},"annotations":{"readOnlyHint":true,"openWorldHint":false},"execution":{"taskSupport":"forbidden"}},{"name":"list_allowed_directories","description":"Return the directory this server may access (the workspace root). All paths must lie beneath it.","inputSchema":{"type":"object","properties":{},"$schema":"http://json-schema.org/draft-07/schema#"},"outputSchema":{"type":"object","properties":{"content":{"type":"string"}},"required":["content"],"$schema":"http://json-schema.org/draft-07/schema#","additionalProperties":false},"annotations":{"readOnlyHint":true,"openWorldHint":false},"execution":{"taskSupport":"forbidden"}}])json";

const char* json_type(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return "number";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    default: return "unknown";
  }
}

// Validates `v` against the subset of JSON Schema the reference uses (type, enum, items,
// minItems, properties, required). Returns "" when valid, else "<field>: <problem>".
std::string check(const json& schema, const json* v, const std::string& where) {
  auto field = [&](const std::string& msg) { return (where.empty() ? std::string() : where + ": ") + msg; };
  const std::string type = schema.value("type", "");
  if (v == nullptr) return field("expected " + type + ", received undefined");
  if (schema.contains("enum")) {
    const auto& options = schema["enum"];
    for (const auto& o : options) {
      if (o == *v) return "";
    }
    std::string list;
    for (const auto& o : options) list += (list.empty() ? "" : "|") + o.dump();
    return field("expected one of " + list);
  }
  bool ok = (type == "string" && v->is_string()) || (type == "number" && v->is_number()) ||
            (type == "boolean" && v->is_boolean()) || (type == "array" && v->is_array()) ||
            (type == "object" && v->is_object());
  if (!ok) return field("expected " + type + ", received " + json_type(*v));
  if (type == "number" && v->is_number_float() && !std::isfinite(v->get<double>())) {
    return field("expected number, received non-finite number");
  }
  if (type == "array") {
    if (schema.contains("minItems") && v->size() < schema["minItems"].get<std::size_t>()) {
      return field("expected at least " + std::to_string(schema["minItems"].get<std::size_t>()) + " item(s)");
    }
    if (schema.contains("items")) {
      for (std::size_t i = 0; i < v->size(); ++i) {
        auto r = check(schema["items"], &(*v)[i], where + "[" + std::to_string(i) + "]");
        if (!r.empty()) return r;
      }
    }
  }
  if (type == "object" && schema.contains("properties")) {
    std::vector<std::string> required;
    if (schema.contains("required")) required = schema["required"].get<std::vector<std::string>>();
    for (const auto& [key, sub] : schema["properties"].items()) {
      const std::string sub_where = where.empty() ? key : where + "." + key;
      auto it = v->find(key);
      bool is_required = std::find(required.begin(), required.end(), key) != required.end();
      if (it == v->end()) {
        if (is_required) return check(sub, nullptr, sub_where);
        continue;
      }
      auto r = check(sub, &*it, sub_where);
      if (!r.empty()) return r;
    }
  }
  return "";
}

const json& schema_of(std::string_view tool) {
  static const json kNull;
  for (const auto& t : Tools::list()) {
    if (t["name"].get_ref<const std::string&>() == tool) return t["inputSchema"];
  }
  return kNull;
}

std::vector<std::string> strings(const json& args, const char* key) {
  std::vector<std::string> out;
  if (auto it = args.find(key); it != args.end()) {
    for (const auto& s : *it) out.push_back(s.get<std::string>());
  }
  return out;
}

bool is_write_tool(std::string_view tool) {
  return tool == "write_file" || tool == "edit_file" || tool == "create_directory" || tool == "move_file";
}

}  // namespace

json to_json(const CallResult& r) {
  json content = json::array();
  for (const auto& b : r.content) content.push_back(block_json(b));
  json out{{"content", content}};
  if (r.is_error) {
    out["isError"] = true;
  } else if (r.media) {
    out["structuredContent"] = json{{"content", content}};
  } else {
    out["structuredContent"] = json{{"content", r.content.empty() ? std::string() : r.content[0].text}};
  }
  return out;
}

Tools::Tools(const sandbox::Workspace& ws, ToolOptions opts) : ws_(ws), opts_(opts) {}

const json& Tools::list() {
  static const json kList = json::parse(kToolsList);
  return kList;
}

bool Tools::known(std::string_view tool) { return !schema_of(tool).is_null(); }

std::optional<CallResult> Tools::call(std::string_view tool, const json& args_in, CallDeadline deadline) {
  try {
    const json& schema = schema_of(tool);
    if (schema.is_null()) return std::nullopt;
    static const json kEmpty = json::object();
    const json& args = args_in.is_null() ? kEmpty : args_in;
    if (!args.is_object()) {
      return CallResult::error("Invalid arguments for " + std::string(tool) + ": expected object, received " +
                               json_type(args));
    }
    if (auto problem = check(schema, &args, ""); !problem.empty()) {
      return CallResult::error("Invalid arguments for " + std::string(tool) + ": " + problem);
    }
    if (opts_.read_only && is_write_tool(tool)) return CallResult::error(detail::kReadOnlyMessage);

    const detail::Ctx c{ws_, opts_, nullptr, &deadline};
    auto str = [&](const char* key) -> const std::string& { return args[key].get_ref<const std::string&>(); };
    auto num = [&](const char* key) -> std::optional<double> {
      if (auto it = args.find(key); it != args.end()) return it->get<double>();
      return std::nullopt;
    };
    // A tool that stops early on the deadline may return anything (a partial listing, an error):
    // whatever it is, the answer is the timeout.
    auto result = [&]() -> std::optional<CallResult> {
      if (tool == "read_file" || tool == "read_text_file") return read_text_file(str("path"), num("head"), num("tail"));
      if (tool == "read_media_file") return detail::read_media_file(c, str("path"));
      if (tool == "read_multiple_files") return detail::read_multiple_files(c, strings(args, "paths"));
      if (tool == "write_file") return write_file(str("path"), str("content"));
      if (tool == "edit_file") {
        std::vector<edit::Edit> edits;
        for (const auto& e : args["edits"]) edits.push_back({e["oldText"].get<std::string>(), e["newText"].get<std::string>()});
        bool dry = args.contains("dryRun") && args["dryRun"].get<bool>();
        return detail::edit_file(c, str("path"), edits, dry);
      }
      if (tool == "create_directory") return detail::create_directory(c, str("path"));
      if (tool == "list_directory") return detail::list_directory(c, str("path"));
      if (tool == "list_directory_with_sizes") {
        bool by_size = args.contains("sortBy") && args["sortBy"] == "size";
        return detail::list_directory_with_sizes(c, str("path"), by_size);
      }
      if (tool == "directory_tree") return detail::directory_tree(c, str("path"), strings(args, "excludePatterns"));
      if (tool == "move_file") return detail::move_file(c, str("source"), str("destination"));
      if (tool == "search_files") {
        return detail::search_files(c, str("path"), str("pattern"), strings(args, "excludePatterns"));
      }
      if (tool == "get_file_info") return detail::get_file_info(c, str("path"));
      if (tool == "list_allowed_directories") return CallResult::text("Allowed directories:\n" + ws_.root());
      return std::nullopt;
    }();
    if (result && deadline.hit()) return CallResult::timeout(tool);
    return result;
  } catch (const std::bad_alloc&) {
    return CallResult::error("Internal error: out of memory");
  } catch (const std::exception& e) {
    return CallResult::error(std::string("Internal error: ") + e.what());
  }
}

}  // namespace shmcp::executor
