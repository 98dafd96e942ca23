// URL parsing, key rules and redaction (no servers: OpenBlobStore does no network traffic).
#include "src/store/remote/blob_store.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace typecache {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Describe(const std::string& url, StoreOptions o = {}) {
  auto store = OpenBlobStore(url, o);
  if (!store.ok()) return "<error " + store.status().ToString() + ">";
  return (*store)->description();
}

TEST(OpenBlobStore, GoodUrls) {
  EXPECT_EQ(Describe("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
  EXPECT_EQ(Describe("redis://cache.example"), "redis://cache.example");
  EXPECT_EQ(Describe("redis://u:pw@h:7000/2?prefix=tc/"),
            "redis://u:***@h:7000/2?prefix=tc/ (key prefix \"tc/\")");
  EXPECT_EQ(Describe("redis://pw@h:7000"), "redis://***@h:7000");
  EXPECT_EQ(Describe("redis://[::1]:7000/1"), "redis://[::1]:7000/1");
  EXPECT_EQ(Describe("redis+unix:///run/redis.sock?db=3&password=pw"),
            "redis+unix:///run/redis.sock?db=3&password=***");
  EXPECT_EQ(Describe("http://h:8080/cache"), "http://h:8080/cache/ (WebDAV, create by MOVE)");
  EXPECT_EQ(Describe("https://u:pw@h/"), "https://u:***@h/ (WebDAV, create by MOVE)");
  StoreOptions s3;
  s3.s3_endpoint = "http://127.0.0.1:9000/";
  s3.s3_region = "eu-west-1";
  s3.aws_access_key_id = "AKIAEXAMPLE";
  s3.aws_secret_access_key = "wJalrXUtnFEMI";
  EXPECT_EQ(Describe("s3://my-bucket/team/cache", s3),
            "s3://my-bucket/team/cache/ (http://127.0.0.1:9000, region eu-west-1, key id "
            "AKIA***)");
}

TEST(OpenBlobStore, BadUrlsAreInvalidArgumentNamingTheRedactedUrl) {
  for (const char* url : {"",
                          "cache",
                          "ftp://h/x",
                          "redis://",
                          "redis://:pw@",
                          "redis://h:port",
                          "redis://h:0",
                          "redis://h:70000",
                          "redis://h:1/db",
                          "redis://h:1?foo=1",
                          "redis://h:1?prefix=../x",
                          "redis+unix://host/sock",
                          "redis+unix://",
                          "redis+unix:///s?db=x",
                          "http://",
                          "http://h/p?x=1",
                          "http://h//p",
                          "http://h:99999/",
                          "s3://",
                          "s3://UPPER",
                          "s3://ab",
                          "s3://u:pw@bucket",
                          "s3://bucket?x=1",
                          "s3://bucket/a/../b",
                          "redis://h:1/ 2"}) {
    auto store = OpenBlobStore(url);
    ASSERT_FALSE(store.ok()) << url;
    EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument) << url;
    std::string message(store.status().message());
    EXPECT_THAT(message, HasSubstr("bad store URL")) << url;
    EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
    EXPECT_THAT(message, Not(HasSubstr("pw@"))) << message;
  }
  auto store = OpenBlobStore("redis://admin:hunter2@h:notaport");
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("redis://admin:***@h:notaport"));
  EXPECT_THAT(std::string(store.status().message()), Not(HasSubstr("hunter2")));
}

TEST(OpenBlobStore, S3NeedsASecretWithAKeyAndAGoodEndpoint) {
  StoreOptions o;
  o.aws_access_key_id = "AKIA";
  EXPECT_EQ(OpenBlobStore("s3://bucket/", o).status().code(), absl::StatusCode::kInvalidArgument);
  o.aws_secret_access_key = "s";
  o.s3_endpoint = "127.0.0.1:9000";
  EXPECT_EQ(OpenBlobStore("s3://bucket/", o).status().code(), absl::StatusCode::kInvalidArgument);
  o.s3_endpoint = "";
  o.s3_region = "us east";
  EXPECT_EQ(OpenBlobStore("s3://bucket/", o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidateKey, Rules) {
  for (const char* good : {"a", "cas/ab/abcdef0123", "x.y-z_1", "a/b/c/d", "..a", "a.."}) {
    EXPECT_TRUE(ValidateKey(good).ok()) << good;
  }
  for (const char* bad : {"", "/a", "a/", "a//b", "./a", "a/./b", "a/../b", "..", "a b", "a\nb",
                          "a?b", "a%2f", "k.tc-tmp-00", "ü"}) {
    EXPECT_EQ(ValidateKey(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(ValidateKey(std::string(1025, 'a')).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidateKey(std::string(1024, 'a')).ok());
  EXPECT_TRUE(ValidatePrefix("").ok());
  EXPECT_TRUE(ValidatePrefix("cas/").ok());
  EXPECT_TRUE(ValidatePrefix("cas/ab").ok());
  EXPECT_FALSE(ValidatePrefix("/").ok());
  EXPECT_FALSE(ValidatePrefix("a//").ok());
}

TEST(RedactUrl, Cases) {
  EXPECT_EQ(RedactUrl("redis://u:p@h:1/2"), "redis://u:***@h:1/2");
  EXPECT_EQ(RedactUrl("redis://:p@h"), "redis://:***@h");
  EXPECT_EQ(RedactUrl("redis://token@h"), "redis://***@h");
  EXPECT_EQ(RedactUrl("https://h/p@x"), "https://h/p@x") << "an @ in the path is not user-info";
  EXPECT_EQ(RedactUrl("redis+unix:///s?password=p&db=1"), "redis+unix:///s?password=***&db=1");
  EXPECT_EQ(RedactUrl("http://h/x?mypassword=1"), "http://h/x?mypassword=1");
  EXPECT_EQ(RedactUrl("http://h/"), "http://h/");
}

}  // namespace
}  // namespace typecache
