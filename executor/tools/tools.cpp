// Tool dispatch: argument validation against the reference input schemas, tools/list, and the
// CallToolResult encoding. The tools themselves live in tools_read.cpp, tools_write.cpp and
// tools_dir.cpp.
#include "executor/tools/tools.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <utility>

#include <nlohmann/json.hpp>

#include "executor/tools/tools_internal.hpp"

namespace shmcp::executor {

// executor/tools/schemas.json, embedded by CMake (schemas.cpp.in).
extern const char kToolSchemasJson[];

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
    std::string list = "expected one of ";
    bool first = true;
    for (const auto& o : options) {
      // Appended piecewise: GCC 12 at -O3 reports a false -Wrestrict on `"lit" + std::string`.
      if (!first) list.push_back('|');
      list.append(o.dump());
      first = false;
    }
    return field(list);
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

std::vector<std::string> strings(const json& args, const char* key) {
  std::vector<std::string> out;
  if (auto it = args.find(key); it != args.end()) {
    for (const auto& s : *it) out.push_back(s.get<std::string>());
  }
  return out;
}

const std::string& str(const json& args, const char* key) { return args[key].get_ref<const std::string&>(); }

std::optional<double> num(const json& args, const char* key) {
  if (auto it = args.find(key); it != args.end()) return it->get<double>();
  return std::nullopt;
}

// One row per tool, in the order of schemas.json (Tools::list(), and with it the per-tool counters,
// follow that order; Registry checks it). `run` gets arguments already validated against the
// tool's inputSchema; `run_typed` serves the tool's TypedArgs shape, if it has one.
struct ToolSpec {
  std::string_view name;
  bool writes;  // refused with kReadOnlyMessage on a read-only workspace
  CallResult (*run)(Tools& t, const detail::Ctx& c, const json& args);
  std::optional<TypedArgs::Shape> typed = std::nullopt;
  CallResult (*run_typed)(Tools& t, const TypedArgs& a) = nullptr;
};

CallResult read_text_typed(Tools& t, const TypedArgs& a) { return t.read_text_file(a.path, a.head, a.tail); }
CallResult write_typed(Tools& t, const TypedArgs& a) { return t.write_file(a.path, a.content); }

const ToolSpec kTools[] = {
    {"read_file", false,
     [](Tools& t, const detail::Ctx&, const json& a) { return t.read_text_file(str(a, "path"), num(a, "head"), num(a, "tail")); }},
    {"read_text_file", false,
     [](Tools& t, const detail::Ctx&, const json& a) { return t.read_text_file(str(a, "path"), num(a, "head"), num(a, "tail")); },
     TypedArgs::Shape::read_text, read_text_typed},
    {"read_media_file", false, [](Tools&, const detail::Ctx& c, const json& a) { return detail::read_media_file(c, str(a, "path")); }},
    {"read_multiple_files", false,
     [](Tools&, const detail::Ctx& c, const json& a) { return detail::read_multiple_files(c, strings(a, "paths")); }},
    {"write_file", true, [](Tools& t, const detail::Ctx&, const json& a) { return t.write_file(str(a, "path"), str(a, "content")); },
     TypedArgs::Shape::write, write_typed},
    {"edit_file", true,
     [](Tools&, const detail::Ctx& c, const json& a) {
       std::vector<edit::Edit> edits;
       for (const auto& e : a["edits"]) edits.push_back({e["oldText"].get<std::string>(), e["newText"].get<std::string>()});
       bool dry = a.contains("dryRun") && a["dryRun"].get<bool>();
       return detail::edit_file(c, str(a, "path"), edits, dry);
     }},
    {"create_directory", true, [](Tools&, const detail::Ctx& c, const json& a) { return detail::create_directory(c, str(a, "path")); }},
    {"list_directory", false, [](Tools&, const detail::Ctx& c, const json& a) { return detail::list_directory(c, str(a, "path")); }},
    {"list_directory_with_sizes", false,
     [](Tools&, const detail::Ctx& c, const json& a) {
       bool by_size = a.contains("sortBy") && a["sortBy"] == "size";
       return detail::list_directory_with_sizes(c, str(a, "path"), by_size);
     }},
    {"directory_tree", false,
     [](Tools&, const detail::Ctx& c, const json& a) { return detail::directory_tree(c, str(a, "path"), strings(a, "excludePatterns")); }},
    {"move_file", true,
     [](Tools&, const detail::Ctx& c, const json& a) { return detail::move_file(c, str(a, "source"), str(a, "destination")); }},
    {"search_files", false,
     [](Tools&, const detail::Ctx& c, const json& a) {
       return detail::search_files(c, str(a, "path"), str(a, "pattern"), strings(a, "excludePatterns"));
     }},
    {"get_file_info", false, [](Tools&, const detail::Ctx& c, const json& a) { return detail::get_file_info(c, str(a, "path")); }},
    {"list_allowed_directories", false,
     [](Tools&, const detail::Ctx& c, const json&) { return CallResult::text("Allowed directories:\n" + c.ws.root()); }},
};

// The parsed schemas.json next to kTools. A row whose name differs from the schema entry at the same
// position is a defect of the source tree, found by the first test that lists or calls a tool.
struct Registry {
  json list;
  Registry() : list(json::parse(kToolSchemasJson)) {
    bool same = list.is_array() && list.size() == std::size(kTools);
    for (std::size_t i = 0; same && i < std::size(kTools); ++i) same = list[i].value("name", "") == kTools[i].name;
    if (!same) {
      std::fputs("shmcp: executor/tools/schemas.json and the tool table in tools.cpp disagree\n", stderr);
      std::abort();
    }
  }
};

const Registry& registry() {
  static const Registry r;
  return r;
}

// The row and its schema entry for `tool`; null when unknown.
std::pair<const ToolSpec*, const json*> find(std::string_view tool) {
  const Registry& r = registry();
  for (std::size_t i = 0; i < std::size(kTools); ++i) {
    if (kTools[i].name == tool) return {&kTools[i], &r.list[i]};
  }
  return {nullptr, nullptr};
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

const json& Tools::list() { return registry().list; }

bool Tools::known(std::string_view tool) { return find(tool).first != nullptr; }

std::optional<CallResult> Tools::call_typed(std::string_view tool, const TypedArgs& args) {
  const ToolSpec* spec = find(tool).first;
  if (spec == nullptr || spec->typed != args.shape) return std::nullopt;
  return spec->run_typed(*this, args);
}

std::optional<CallResult> Tools::call(std::string_view tool, const json& args_in, CallDeadline deadline) {
  try {
    const auto [spec, entry] = find(tool);
    if (spec == nullptr) return std::nullopt;
    const json& schema = (*entry)["inputSchema"];
    static const json kEmpty = json::object();
    const json& args = args_in.is_null() ? kEmpty : args_in;
    if (!args.is_object()) {
      return CallResult::error("Invalid arguments for " + std::string(tool) + ": expected object, received " +
                               json_type(args));
    }
    if (auto problem = check(schema, &args, ""); !problem.empty()) {
      return CallResult::error("Invalid arguments for " + std::string(tool) + ": " + problem);
    }
    if (opts_.read_only && spec->writes) return CallResult::error(detail::kReadOnlyMessage);

    const detail::Ctx c{ws_, opts_, nullptr, &deadline, quota_, roots_};
    // A tool that stops early on the deadline may return anything (a partial listing, an error):
    // whatever it is, the answer is the timeout.
    CallResult result = spec->run(*this, c, args);
    if (deadline.hit()) return CallResult::timeout(tool);
    return result;
  } catch (const std::bad_alloc&) {
    return CallResult::error("Internal error: out of memory");
  } catch (const std::exception& e) {
    return CallResult::error(std::string("Internal error: ") + e.what());
  }
}

}  // namespace shmcp::executor
