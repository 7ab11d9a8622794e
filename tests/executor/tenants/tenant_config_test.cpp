// Tenant declarations (the --tenants file and admin API bodies), tenant roots, and the merged
// Prometheus exposition: pure functions, no processes.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "executor/tenants/tenant.hpp"
#include "executor/tenants/tenant_config.hpp"
#include "executor/tenants/tenant_manager.hpp"
#include "tests/support/files.hpp"

namespace shmcp::executor {
namespace {

using nlohmann::json;

TEST(TenantConfig, NamesAreShortLowercaseAndSafeForSegmentsAndLabels) {
  EXPECT_TRUE(validate_tenant_name("alice"));
  EXPECT_TRUE(validate_tenant_name("team-7_b"));
  EXPECT_TRUE(validate_tenant_name(std::string(63, 'a')));
  EXPECT_FALSE(validate_tenant_name(""));
  EXPECT_FALSE(validate_tenant_name(std::string(64, 'a')));
  EXPECT_FALSE(validate_tenant_name("Alice"));
  EXPECT_FALSE(validate_tenant_name("a.b"));
  EXPECT_FALSE(validate_tenant_name("a/b"));
  EXPECT_FALSE(validate_tenant_name("-a"));
  EXPECT_FALSE(validate_tenant_name("a\"b"));
  EXPECT_FALSE(validate_tenant_name(std::string("a\0b", 3)));
}

// A group database of one group, so that no test reads the system's.
std::optional<gid_t> agents_group(const std::string& name) {
  if (name == "agents") return 4321;
  return std::nullopt;
}

TEST(TenantConfig, ATenantObjectParsesEveryField) {
  auto t = parse_tenant(json::parse(R"({"name": "alice", "root": "users/alice", "tokens": ["0123456789abcdef0"],
                                        "group": 1234, "workers": 3, "quota": {"bytes": 100, "files": 7, "calls_in_flight": 3}})"),
                        "");
  ASSERT_TRUE(t) << t.error().describe();
  EXPECT_EQ(t->name, "alice");
  EXPECT_EQ(t->root, "users/alice");
  ASSERT_EQ(t->tokens.size(), 1u);
  EXPECT_EQ(*t->group, 1234u);
  EXPECT_EQ(t->workers, 3u);
  auto named = parse_tenant(json::parse(R"({"name": "bob", "group": "agents"})"), "", agents_group);
  ASSERT_TRUE(named) << named.error().describe();
  EXPECT_EQ(*named->group, 4321u);
  EXPECT_EQ(named->workers, 0u);  // the executor's --workers
  EXPECT_EQ(t->quota.bytes, 100u);
  EXPECT_EQ(t->quota.files, 7u);
  EXPECT_EQ(t->quota.calls_in_flight, 3u);
}

TEST(TenantConfig, BadTenantObjectsAreRefusedWithTheReason) {
  auto bad = [](const char* text) {
    auto t = parse_tenant(json::parse(text), "", agents_group);
    return t ? std::string("accepted") : t.error().message;
  };
  EXPECT_NE(bad(R"({"root": "x"})").find("name"), std::string::npos);
  EXPECT_NE(bad(R"({"name": "a", "rooot": "x"})").find("unknown tenant field"), std::string::npos);
  EXPECT_NE(bad(R"({"name": "a", "tokens": "x"})").find("array"), std::string::npos);
  EXPECT_NE(bad(R"({"name": "a", "tokens": ["short"]})").find("16"), std::string::npos);
  EXPECT_NE(bad(R"({"name": "a", "tokens": ["0123456789abcdef with space"]})").find("printable"), std::string::npos);
  EXPECT_NE(bad(R"({"name": "a", "quota": {"bytes": -5}})").find("non-negative"), std::string::npos);
  EXPECT_NE(bad(R"({"name": "a", "quota": {"bytez": 5}})").find("unknown quota field"), std::string::npos);
  EXPECT_NE(bad(R"({"name": "a", "quota": {"calls_in_flight": 100000}})").find("at most"), std::string::npos);
  EXPECT_NE(bad(R"({"name": "a", "group": "no-such-group-xyz"})").find("unknown group"), std::string::npos);
  EXPECT_NE(bad(R"({"name": "a", "group": -1})").find("name or a gid"), std::string::npos);
  EXPECT_NE(bad(R"({"name": "a", "workers": 0})").find("from 1 to 64"), std::string::npos);
  EXPECT_NE(bad(R"({"name": "a", "workers": 65})").find("from 1 to 64"), std::string::npos);
  EXPECT_NE(bad(R"({"name": "a", "workers": "2"})").find("from 1 to 64"), std::string::npos);
  EXPECT_NE(bad(R"({"name": "a", "token_file": "/nonexistent/token"})").find("cannot read"), std::string::npos);
  EXPECT_NE(bad(R"(["a"])").find("object"), std::string::npos);
}

TEST(TenantConfig, TheTenantsFileReadsTokenFilesBesideItAndRefusesDuplicates) {
  testing::TempDir dir;
  ASSERT_TRUE(testing::write_file(dir / "a.token", "token-a-0123456789\nrotated-a-0123456789\n"));
  ASSERT_TRUE(testing::write_file(dir / "t.json", R"({"tenants": [{"name": "a", "token_file": "a.token"}, {"name": "b"}]})"));
  auto ts = load_tenants_file(dir / "t.json");
  ASSERT_TRUE(ts) << ts.error().describe();
  ASSERT_EQ(ts->size(), 2u);
  EXPECT_EQ((*ts)[0].tokens, (std::vector<std::string>{"token-a-0123456789", "rotated-a-0123456789"}));
  EXPECT_TRUE((*ts)[1].tokens.empty());

  ASSERT_TRUE(testing::write_file(dir / "dup.json", R"({"tenants": [{"name": "a"}, {"name": "a"}]})"));
  auto dup = load_tenants_file(dir / "dup.json");
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message.find("twice"), std::string::npos);
  ASSERT_TRUE(testing::write_file(dir / "tok.json", R"({"tenants": [{"name": "a", "tokens": ["same-token-0123456789"]},
                                                                   {"name": "b", "tokens": ["same-token-0123456789"]}]})"));
  EXPECT_FALSE(load_tenants_file(dir / "tok.json"));
  ASSERT_TRUE(testing::write_file(dir / "deep.json", std::string(10000, '[')));
  EXPECT_FALSE(load_tenants_file(dir / "deep.json"));
  EXPECT_FALSE(load_tenants_file(dir / "missing.json"));
  ASSERT_TRUE(testing::write_file(dir / "shape.json", R"({"tenant": []})"));
  EXPECT_FALSE(load_tenants_file(dir / "shape.json"));
}

TEST(TenantConfig, RootsStayBeneathTheWorkspaceLexically) {
  auto rel = [](const std::string& name, const std::string& root) {
    TenantSpec s;
    s.name = name;
    s.root = root;
    auto r = tenant_relative_root("/ws", s);
    return r ? *r : "ERR";
  };
  EXPECT_EQ(rel("alice", ""), "alice");
  EXPECT_EQ(rel("alice", "users/alice"), "users/alice");
  EXPECT_EQ(rel("alice", "/ws/users/alice/"), "users/alice");
  EXPECT_EQ(rel("alice", "../x"), "ERR");
  EXPECT_EQ(rel("alice", "a/../../x"), "ERR");
  EXPECT_EQ(rel("alice", "./a"), "ERR");
  EXPECT_EQ(rel("alice", "a//b"), "ERR");
  EXPECT_EQ(rel("alice", "/ws"), "ERR");
  EXPECT_EQ(rel("alice", "/wsx/a"), "ERR");
  EXPECT_EQ(rel("alice", "/etc"), "ERR");
}

TEST(TenantConfig, MergedMetricsLabelEverySampleAndGroupEachFamilyOnce) {
  const std::string a = "# HELP m_total Help.\n# TYPE m_total counter\nm_total{tool=\"x\"} 1\nm_total{tool=\"y\"} 2\n"
                        "# HELP g Gauge.\n# TYPE g gauge\ng 5\n";
  const std::string b = "# HELP m_total Help.\n# TYPE m_total counter\nm_total{tool=\"x\"} 3\n# HELP g Gauge.\n# TYPE g gauge\ng 6\n";
  const std::string out = merge_labelled_metrics({{"alice", a}, {"b\"ob", b}}, "tenant");
  EXPECT_EQ(out,
            "# HELP m_total Help.\n# TYPE m_total counter\n"
            "m_total{tenant=\"alice\",tool=\"x\"} 1\nm_total{tenant=\"alice\",tool=\"y\"} 2\nm_total{tenant=\"b\\\"ob\",tool=\"x\"} 3\n"
            "# HELP g Gauge.\n# TYPE g gauge\ng{tenant=\"alice\"} 5\ng{tenant=\"b\\\"ob\"} 6\n");
}

}  // namespace
}  // namespace shmcp::executor
