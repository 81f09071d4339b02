#include "actors/admin/auth.hpp"

#include <gtest/gtest.h>

using namespace ispflow::actors::admin;

namespace {

token_settings tok(std::string name, std::string token,
                   std::vector<std::string> scopes,
                   std::optional<std::string> tenant = std::nullopt) {
  return {std::move(name), sha256_hex(token), std::move(scopes),
          std::move(tenant)};
}

} // namespace

TEST(admin_auth, sha256_matches_known_vectors) {
  EXPECT_EQ(sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(admin_auth, authenticates_known_tokens_only) {
  authenticator auth{{tok("ops", "s3cret", {"sagas:read"}),
                      tok("t1", "other", {"sagas:write"}, "t1")}};
  auto p = auth.authenticate("s3cret");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "ops");
  EXPECT_FALSE(p->tenant);
  auto q = auth.authenticate("other");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->tenant, std::optional<std::string>{"t1"});
  EXPECT_FALSE(auth.authenticate("s3cre"));
  EXPECT_FALSE(auth.authenticate(""));
}

TEST(admin_auth, accepts_upper_case_configured_hashes) {
  auto t = tok("ops", "s3cret", {"admin"});
  for (auto& c : t.sha256)
    c = static_cast<char>(std::toupper(c));
  authenticator auth{{t}};
  EXPECT_TRUE(auth.authenticate("s3cret"));
  EXPECT_TRUE(token_matches("s3cret", t.sha256));
  EXPECT_FALSE(token_matches("nope", t.sha256));
}

TEST(admin_auth, admin_scope_includes_the_others) {
  principal admin{"a", {"admin"}, std::nullopt};
  EXPECT_TRUE(admin.has(scopes::sagas_read));
  EXPECT_TRUE(admin.has(scopes::sagas_write));
  principal reader{"r", {"sagas:read"}, std::nullopt};
  EXPECT_TRUE(reader.has(scopes::sagas_read));
  EXPECT_FALSE(reader.has(scopes::sagas_write));
  EXPECT_FALSE(reader.has(scopes::admin));
}

TEST(admin_auth, tenant_tokens_see_only_their_tenant) {
  principal bound{"b", {"sagas:read"}, "t1"};
  EXPECT_TRUE(bound.may_see("t1"));
  EXPECT_FALSE(bound.may_see("t2"));
  principal global{"g", {"sagas:read"}, std::nullopt};
  EXPECT_TRUE(global.may_see("t2"));
}

TEST(admin_auth, parses_bearer_headers) {
  EXPECT_EQ(authenticator::bearer_token("Bearer abc"),
            std::optional<std::string_view>{"abc"});
  EXPECT_EQ(authenticator::bearer_token("bearer  abc "),
            std::optional<std::string_view>{"abc"});
  EXPECT_FALSE(authenticator::bearer_token("Basic abc"));
  EXPECT_FALSE(authenticator::bearer_token("Bearer "));
  EXPECT_FALSE(authenticator::bearer_token(""));
}

TEST(admin_auth, checks_configured_tokens) {
  EXPECT_FALSE(check_token(tok("ops", "x", {"sagas:read"})));
  EXPECT_TRUE(check_token(tok("", "x", {"sagas:read"})));
  EXPECT_TRUE(check_token(tok("ops", "x", {})));
  EXPECT_TRUE(check_token(tok("ops", "x", {"sagas:delete"})));
  EXPECT_TRUE(check_token(tok("ops", "x", {"admin"}, "")));
  token_settings bad{"ops", "abc", {"admin"}, std::nullopt};
  auto why = check_token(bad);
  ASSERT_TRUE(why);
  EXPECT_EQ(why->find("abc"), std::string::npos) << "never echo the hash";
}
