// Tools::call dispatch and Tools::list: argument validation messages, ignored extra properties,
// unknown tools, the schemas copied from the reference, and the CallToolResult JSON shape.
#include <fstream>

#include "tests/executor/tools_fixture.hpp"

namespace shmcp::executor::testing {
namespace {

using nlohmann::json;

class Dispatch : public ToolsTest {};

TEST_F(Dispatch, ListIsTheRepositorysSchemasFile) {
  std::ifstream f(std::string(SHMCP_SOURCE_DIR) + "/executor/tools/schemas.json");
  ASSERT_TRUE(f) << "executor/tools/schemas.json not found";
  EXPECT_EQ(Tools::list(), json::parse(f));
}

TEST_F(Dispatch, ListHasTheReferenceSchemasAndAnnotations) {
  std::ifstream f(std::string(SHMCP_SOURCE_DIR) + "/tests/interop/reference/tools-list.json");
  const json& ours = Tools::list();
  ASSERT_EQ(ours.size(), 14u);
  ASSERT_TRUE(f) << "tests/interop/reference/tools-list.json not found";
  const json ref = json::parse(f)["tools"];
  ASSERT_EQ(ref.size(), ours.size());
  for (std::size_t i = 0; i < ref.size(); ++i) {
    SCOPED_TRACE(ref[i]["name"].get<std::string>());
    EXPECT_EQ(ours[i]["name"], ref[i]["name"]);
    EXPECT_EQ(ours[i]["inputSchema"], ref[i]["inputSchema"]);
    EXPECT_EQ(ours[i]["outputSchema"], ref[i]["outputSchema"]);
    EXPECT_EQ(ours[i]["annotations"], ref[i]["annotations"]);
    EXPECT_TRUE(ours[i]["description"].is_string());
    EXPECT_TRUE(Tools::known(ours[i]["name"].get<std::string>()));
  }
}

TEST_F(Dispatch, UnknownToolIsNullopt) {
  EXPECT_FALSE(tools_->call("rm_rf", json::object()).has_value());
  EXPECT_FALSE(Tools::known("rm_rf"));
}

TEST_F(Dispatch, TypedArgumentsServeOnlyTheToolOfTheirShape) {
  file("t.txt", "a\nb\nc\n");
  const TypedArgs read{TypedArgs::Shape::read_text, "t.txt", {}, 1.0, std::nullopt};
  auto r = tools_->call_typed("read_text_file", read);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->content.at(0).text, "a");
  const TypedArgs write{TypedArgs::Shape::write, "w.txt", "x", std::nullopt, std::nullopt};
  r = tools_->call_typed("write_file", write);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->is_error) << r->content.at(0).text;
  EXPECT_EQ(slurp(p("w.txt")), "x");
  EXPECT_FALSE(tools_->call_typed("read_file", read).has_value());
  EXPECT_FALSE(tools_->call_typed("write_file", read).has_value());
  EXPECT_FALSE(tools_->call_typed("read_text_file", write).has_value());
  EXPECT_FALSE(tools_->call_typed("rm_rf", read).has_value());
}

TEST_F(Dispatch, ValidationErrorsNameTheToolAndField) {
  EXPECT_EQ(err("read_text_file", {{"path", 42}}),
            "Invalid arguments for read_text_file: path: expected string, received number");
  EXPECT_EQ(err("read_text_file", json::object()),
            "Invalid arguments for read_text_file: path: expected string, received undefined");
  EXPECT_EQ(err("read_text_file", {{"path", "x"}, {"head", "1"}}),
            "Invalid arguments for read_text_file: head: expected number, received string");
  EXPECT_EQ(err("read_multiple_files", {{"paths", json::array()}}),
            "Invalid arguments for read_multiple_files: paths: expected at least 1 item(s)");
  EXPECT_EQ(err("read_multiple_files", {{"paths", {"a", 1}}}),
            "Invalid arguments for read_multiple_files: paths[1]: expected string, received number");
  EXPECT_EQ(err("list_directory_with_sizes", {{"path", "."}, {"sortBy", "bogus"}}),
            "Invalid arguments for list_directory_with_sizes: sortBy: expected one of \"name\"|\"size\"");
  EXPECT_EQ(err("edit_file", {{"path", "x"}, {"edits", {{{"oldText", 1}, {"newText", "x"}}}}}),
            "Invalid arguments for edit_file: edits[0].oldText: expected string, received number");
  EXPECT_EQ(err("edit_file", {{"path", "x"}, {"edits", json::array()}, {"dryRun", "yes"}}),
            "Invalid arguments for edit_file: dryRun: expected boolean, received string");
  EXPECT_EQ(err("move_file", {{"source", "a"}}),
            "Invalid arguments for move_file: destination: expected string, received undefined");
  EXPECT_EQ(err("write_file", json::array()), "Invalid arguments for write_file: expected object, received array");
}

TEST_F(Dispatch, ExtraPropertiesAreIgnoredAndNumbersNeedNotBeIntegers) {
  file("y.txt", "y\n");
  EXPECT_EQ(ok("read_text_file", {{"path", "y.txt"}, {"extra", 1}}), "y\n");
  EXPECT_EQ(ok("read_text_file", {{"path", "y.txt"}, {"head", 0.5}}), "y");
  EXPECT_EQ(ok("list_allowed_directories", nullptr), "Allowed directories:\n" + root_);
}

TEST_F(Dispatch, ResultJsonMatchesTheReferenceShape) {
  EXPECT_EQ(to_json(CallResult::text("hi")),
            json::parse(R"({"content":[{"type":"text","text":"hi"}],"structuredContent":{"content":"hi"}})"));
  EXPECT_EQ(to_json(CallResult::error("bad")), json::parse(R"({"content":[{"type":"text","text":"bad"}],"isError":true})"));
}

}  // namespace
}  // namespace shmcp::executor::testing
