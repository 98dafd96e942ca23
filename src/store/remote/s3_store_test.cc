// S3-specific behaviour: signing (checked by the proxy in servers.py, which recomputes SigV4
// with the secret), over TLS too, configuration from the environment, a missing bucket, and what
// s3rver itself does and does not check (the "direct" port, without the proxy).
#include <stdlib.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/store/remote/blob_store.h"
#include "src/store/remote/kill_util.h"
#include "src/store/remote/store_test_util.h"
#include "src/store/remote/test_servers.h"

namespace typecache {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

class S3StoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto s = TestServers::Start({"s3"});
    ASSERT_TRUE(s.ok()) << s.status();
    servers_ = s->release();
  }
  static void TearDownTestSuite() {
    delete servers_;
    servers_ = nullptr;
  }
  std::unique_ptr<BlobStore> Open(const std::string& url, const StoreOptions& o) {
    return MustOpen(url, o);
  }
  static TestServers* servers_;
};

TestServers* S3StoreTest::servers_ = nullptr;

TEST_F(S3StoreTest, SignedRequestsPassTheSignatureCheck) {
  auto store = Open("s3://tc-test/signed", servers_->S3Options());
  ASSERT_TRUE(store->Put("a/k", "v").ok());
  EXPECT_EQ(store->Get("a/k")->value_or("?"), "v");
  // A listing's query string (continuation tokens hold '+', '/', '=') is signed too.
  StoreOptions paged = servers_->S3Options();
  paged.list_page_size = 1;
  auto lister = Open("s3://tc-test/signed", paged);
  ASSERT_TRUE(store->Put("a/l", "v").ok());
  ASSERT_TRUE(store->Put("a/m", "v").ok());
  auto keys = lister->List("a/");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_THAT(*keys, ElementsAre("a/k", "a/l", "a/m"));
  ASSERT_TRUE(store->Delete("a/k").ok());
}

// https:// endpoints: SigV4 over TLS through the same checking proxy (its Host header kept by the
// TLS front), every operation the sync uses; the certificate is verified.
TEST_F(S3StoreTest, SignedRequestsOverTls) {
  StoreOptions o = servers_->S3TlsOptions();
  auto store = Open("s3://tc-test/tls", o);
  ASSERT_TRUE(store->Put("a/k", "over tls").ok());
  EXPECT_EQ(store->Get("a/k")->value_or("?"), "over tls");
  EXPECT_TRUE(*store->PutIfAbsent("a/once", "1"));
  EXPECT_FALSE(*store->PutIfAbsent("a/once", "2"));
  EXPECT_TRUE(*store->CompareAndSwap("a/once", absl::string_view("1"), "3"));
  EXPECT_THAT(*store->List("a/"), ElementsAre("a/k", "a/once"));
  ASSERT_TRUE(store->Delete("a/k").ok());
  EXPECT_FALSE(store->Get("a/k")->has_value());
  StoreOptions wrong = o;
  wrong.aws_secret_access_key = "not-the-secret";
  EXPECT_EQ(Open("s3://tc-test/tls", wrong)->Get("a/once").status().code(),
            absl::StatusCode::kPermissionDenied)
      << "the signature is still checked behind TLS";
  StoreOptions untrusted = o;
  untrusted.tls_ca_file = "";
  unsetenv("SSL_CERT_FILE");
  auto got = Open("s3://tc-test/tls", untrusted)->Get("a/once");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
}

TEST_F(S3StoreTest, WrongSecretIsPermissionDenied) {
  StoreOptions o = servers_->S3Options();
  o.aws_secret_access_key = "not-the-secret";
  auto store = Open("s3://tc-test/", o);
  auto got = store->Get("k");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("SignatureDoesNotMatch"));
  EXPECT_THAT(got.status().message(), Not(HasSubstr("not-the-secret")));
  EXPECT_EQ(store->Put("k", "v").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(store->description(), Not(HasSubstr("not-the-secret")));
}

TEST_F(S3StoreTest, SessionTokenIsSentAndSigned) {
  // s3rver ignores tokens; the proxy requires every x-amz-* header to be signed.
  StoreOptions o = servers_->S3Options();
  o.aws_session_token = "FwoGZXIvYXdzEXAMPLETOKEN+/=";
  auto store = Open("s3://tc-test/token", o);
  absl::Status put = store->Put("k", "v");
  EXPECT_TRUE(put.ok()) << put;
}

TEST_F(S3StoreTest, UnknownAccessKeyIsPermissionDeniedEvenByS3rver) {
  StoreOptions o = servers_->S3Options(/*direct=*/true);
  o.aws_access_key_id = "AKIAUNKNOWN";
  auto store = Open("s3://tc-test/", o);
  auto got = store->Get("k");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied) << got.status();
}

// What s3rver 3.7.1 alone does not check (why the tests go through the proxy).
TEST_F(S3StoreTest, S3rverAloneAcceptsAWrongSecretAndIgnoresConditions) {
  StoreOptions o = servers_->S3Options(/*direct=*/true);
  o.aws_secret_access_key = "not-the-secret";
  auto store = Open("s3://tc-test/direct", o);
  EXPECT_TRUE(store->Put("k", "first").ok()) << "s3rver checks no SigV4 signature";
  auto second = store->PutIfAbsent("k", "second");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(*second) << "s3rver now honours If-None-Match: *";
  EXPECT_EQ(store->Get("k")->value_or("?"), "second") << "overwritten";
}

TEST_F(S3StoreTest, ConditionalWritesOffMeansUnimplemented) {
  StoreOptions o = servers_->S3Options();
  o.s3_conditional_writes = false;
  auto store = Open("s3://tc-test/", o);
  EXPECT_FALSE(store->capabilities().put_if_absent);
  EXPECT_EQ(store->PutIfAbsent("k", "v").status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(store->CompareAndSwap("k", std::nullopt, "v").status().code(),
            absl::StatusCode::kUnimplemented);
}

TEST_F(S3StoreTest, ConfigurationFromTheEnvironment) {
  const StoreOptions s = servers_->S3Options();
  setenv("AWS_ENDPOINT_URL", (s.s3_endpoint + "/").c_str(), 1);
  setenv("AWS_REGION", "eu-west-3", 1);
  setenv("AWS_ACCESS_KEY_ID", s.aws_access_key_id.c_str(), 1);
  setenv("AWS_SECRET_ACCESS_KEY", s.aws_secret_access_key.c_str(), 1);
  auto store = Open("s3://tc-test/env", StoreOptions());
  EXPECT_THAT(store->description(), HasSubstr(s.s3_endpoint));
  EXPECT_THAT(store->description(), HasSubstr("eu-west-3"));
  EXPECT_THAT(store->description(), Not(HasSubstr(s.aws_secret_access_key)));
  absl::Status put = store->Put("k", "v");
  EXPECT_TRUE(put.ok()) << put;
  setenv("AWS_SECRET_ACCESS_KEY", "wrong", 1);
  EXPECT_EQ(Open("s3://tc-test/env", StoreOptions())->Get("k").status().code(),
            absl::StatusCode::kPermissionDenied);
  unsetenv("AWS_ENDPOINT_URL");
  unsetenv("AWS_REGION");
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
}

TEST_F(S3StoreTest, MissingBucketIsAnErrorNotAMiss) {
  auto store = Open("s3://no-such-bucket/", servers_->S3Options());
  auto got = store->Get("k");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition) << got.status();
  EXPECT_EQ(store->Put("k", "v").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->List("").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(S3StoreTest, ServerKilledMidOperationIsUnavailable) {
  auto own = TestServers::Start({"s3"});
  ASSERT_TRUE(own.ok()) << own.status();
  StoreOptions o = (*own)->S3Options(/*direct=*/true);
  o.request_timeout = absl::Seconds(5);
  auto store = Open("s3://tc-test/", o);
  ASSERT_TRUE(store->Put("k", std::string(1 << 20, 'k')).ok());
  auto [status, took] =
      CallWhileKilled((*own)->Pid("s3"), [&] { return store->Get("k").status(); });
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_LT(took, absl::Seconds(2)) << "the kill, not the 5 s timeout, ended the call";
}

}  // namespace
}  // namespace typecache
