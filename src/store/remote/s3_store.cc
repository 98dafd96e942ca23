#include "src/store/remote/s3_store.h"

#include <algorithm>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/base/status_macros.h"
#include "src/store/remote/curl_session.h"

namespace typecache {
namespace {

constexpr int kMaxConflictRetries = 3;
constexpr int kMaxListPages = 1 << 20;

bool IsSuccess(long status) { return status >= 200 && status < 300; }

// A 404 that is about the bucket, not the key: an error even for Get.
bool NoSuchBucket(const HttpResponse& r) {
  return r.status == 404 && absl::StrContains(r.body, "<Code>NoSuchBucket</Code>");
}

absl::Status S3Error(const HttpResponse& r, absl::string_view what) {
  if (NoSuchBucket(r)) {
    return absl::FailedPreconditionError(absl::StrCat(what, ": the bucket does not exist"));
  }
  return HttpStatusError(r.status, what, r.body);
}

// The text of every <tag>...</tag> in `xml`, in order (S3's XML has no nesting of one tag in
// itself and no attributes on these tags).
std::vector<std::string> TagValues(absl::string_view xml, absl::string_view tag) {
  std::vector<std::string> values;
  const std::string open = absl::StrCat("<", tag, ">");
  const std::string close = absl::StrCat("</", tag, ">");
  size_t pos = 0;
  while ((pos = xml.find(open, pos)) != absl::string_view::npos) {
    pos += open.size();
    size_t end = xml.find(close, pos);
    if (end == absl::string_view::npos) break;
    values.push_back(XmlUnescape(xml.substr(pos, end - pos)));
    pos = end + close.size();
  }
  return values;
}

class S3Store : public CurlStore<S3Target> {
 public:
  S3Store(S3Target target, const StoreOptions& options, std::unique_ptr<CurlSession> session)
      : CurlStore(std::move(target), options, std::move(session)) {
    bucket_url_ =
        target_.endpoint.empty()
            ? absl::StrCat("https://", target_.bucket, ".s3.", target_.region, ".amazonaws.com/")
            : absl::StrCat(target_.endpoint, "/", target_.bucket, "/");
  }

  absl::StatusOr<std::optional<std::string>> Get(absl::string_view key) override {
    RETURN_IF_ERROR(ValidateKey(key));
    ASSIGN_OR_RETURN(HttpResponse r,
                     Object("GET", key, {}, std::nullopt, options_.max_object_bytes));
    if (r.status == 404 && !NoSuchBucket(r)) return std::optional<std::string>();
    if (r.status != 200) return S3Error(r, What("GET", key));
    return std::optional<std::string>(std::move(r.body));
  }

  absl::Status Put(absl::string_view key, absl::string_view bytes) override {
    RETURN_IF_ERROR(ValidateKey(key));
    RETURN_IF_ERROR(CheckSize(key, bytes));
    ASSIGN_OR_RETURN(HttpResponse r, Object("PUT", key, {}, bytes, 1 << 16));
    if (!IsSuccess(r.status)) return S3Error(r, What("PUT", key));
    return absl::OkStatus();
  }

  absl::StatusOr<bool> PutIfAbsent(absl::string_view key, absl::string_view bytes) override {
    RETURN_IF_ERROR(ValidateKey(key));
    RETURN_IF_ERROR(CheckSize(key, bytes));
    RETURN_IF_ERROR(NeedConditional("create-if-absent"));
    return ConditionalPut(key, bytes, "If-None-Match: *");
  }

  absl::StatusOr<bool> CompareAndSwap(absl::string_view key,
                                      std::optional<absl::string_view> expected,
                                      absl::string_view replacement) override {
    RETURN_IF_ERROR(ValidateKey(key));
    RETURN_IF_ERROR(CheckSize(key, replacement));
    RETURN_IF_ERROR(NeedConditional("compare-and-swap"));
    if (!expected) return ConditionalPut(key, replacement, "If-None-Match: *");
    ASSIGN_OR_RETURN(HttpResponse r,
                     Object("GET", key, {}, std::nullopt, options_.max_object_bytes));
    if (r.status == 404 && !NoSuchBucket(r)) return false;
    if (r.status != 200) return S3Error(r, What("GET", key));
    if (r.body != *expected) return false;
    if (r.etag.empty()) {
      return absl::UnimplementedError(absl::StrCat(What("GET", key), ": no ETag"));
    }
    return ConditionalPut(key, replacement, absl::StrCat("If-Match: ", r.etag));
  }

  absl::StatusOr<std::vector<std::string>> List(absl::string_view prefix) override {
    RETURN_IF_ERROR(ValidatePrefix(prefix));
    const std::string full_prefix = absl::StrCat(target_.prefix, prefix);
    std::set<std::string> keys;
    std::string token;
    for (int page = 0;; ++page) {
      if (page == kMaxListPages) {
        return absl::DeadlineExceededError(absl::StrCat(What("LIST", prefix), ": too many pages"));
      }
      // Parameters in SigV4's canonical order (sorted by name), values RFC 3986-escaped:
      // curl 7.88 signs the query string as it is given.
      std::string query;
      if (!token.empty()) absl::StrAppend(&query, "continuation-token=", UriEscape(token), "&");
      absl::StrAppend(&query, "list-type=2&max-keys=", std::max(1, options_.list_page_size),
                      "&prefix=", UriEscape(full_prefix));
      HttpRequest request;
      request.method = "GET";
      request.url = absl::StrCat(bucket_url_, "?", query);
      request.headers = SigningHeaders();
      request.max_response_bytes = size_t{64} << 20;
      ASSIGN_OR_RETURN(HttpResponse r, session_->Perform(request, What("LIST", prefix)));
      if (r.status != 200) return S3Error(r, What("LIST", prefix));
      for (std::string& key : TagValues(r.body, "Key")) {
        if (!absl::StartsWith(key, full_prefix)) continue;
        keys.insert(key.substr(target_.prefix.size()));
      }
      if (keys.size() > options_.max_list_keys) {
        return absl::OutOfRangeError(
            absl::StrFormat("%s: more than %d keys", What("LIST", prefix), options_.max_list_keys));
      }
      std::vector<std::string> truncated = TagValues(r.body, "IsTruncated");
      if (truncated.empty() || truncated[0] != "true") break;
      std::vector<std::string> next = TagValues(r.body, "NextContinuationToken");
      if (next.empty() || next[0].empty() || next[0] == token) {
        return absl::DataLossError(
            absl::StrCat(What("LIST", prefix), ": truncated listing without a new token"));
      }
      token = next[0];
    }
    return std::vector<std::string>(keys.begin(), keys.end());
  }

  absl::Status Delete(absl::string_view key) override {
    RETURN_IF_ERROR(ValidateKey(key));
    ASSIGN_OR_RETURN(HttpResponse r, Object("DELETE", key, {}, std::nullopt, 1 << 16));
    if (IsSuccess(r.status) || (r.status == 404 && !NoSuchBucket(r))) return absl::OkStatus();
    return S3Error(r, What("DELETE", key));
  }

  StoreCapabilities capabilities() const override {
    StoreCapabilities c;
    c.put_if_absent = options_.s3_conditional_writes;
    c.compare_and_swap = options_.s3_conditional_writes;
    c.list = true;
    c.etags = true;
    return c;
  }

  std::string description() const override {
    std::string d = absl::StrCat("s3://", target_.bucket, "/", target_.prefix, " (",
                                 target_.endpoint.empty() ? "AWS" : target_.endpoint, ", region ",
                                 target_.region);
    if (target_.access_key_id.empty()) {
      absl::StrAppend(&d, ", unsigned");
    } else {
      absl::StrAppend(&d, ", key id ", target_.access_key_id.substr(0, 4), "***");
    }
    if (!options_.s3_conditional_writes) absl::StrAppend(&d, ", no conditional writes");
    absl::StrAppend(&d, ")");
    return d;
  }

 private:
  std::string What(absl::string_view method, absl::string_view key) const {
    return absl::StrCat(method, " s3://", target_.bucket, "/", target_.prefix, key);
  }

  absl::Status CheckSize(absl::string_view key, absl::string_view bytes) const {
    return CheckObjectSize(What("PUT", key), bytes, options_.max_object_bytes);
  }

  absl::Status NeedConditional(absl::string_view what) const {
    if (options_.s3_conditional_writes) return absl::OkStatus();
    return absl::UnimplementedError(absl::StrCat(
        description(), ": ", what, " needs conditional writes (s3_conditional_writes)"));
  }

  std::vector<std::string> SigningHeaders() const {
    std::vector<std::string> headers;
    if (!target_.access_key_id.empty()) {
      headers.push_back("x-amz-content-sha256: UNSIGNED-PAYLOAD");
      if (!target_.session_token.empty()) {
        headers.push_back(absl::StrCat("x-amz-security-token: ", target_.session_token));
      }
    }
    return headers;
  }

  absl::StatusOr<HttpResponse> Object(absl::string_view method, absl::string_view key,
                                      std::vector<std::string> headers,
                                      std::optional<absl::string_view> body, size_t max_bytes) {
    HttpRequest request;
    request.method = std::string(method);
    request.url = absl::StrCat(bucket_url_, target_.prefix, key);
    request.headers = SigningHeaders();
    for (std::string& h : headers) request.headers.push_back(std::move(h));
    request.body = body;
    request.max_response_bytes = max_bytes;
    return session_->Perform(request, What(method, key).substr(method.size() + 1));
  }

  absl::StatusOr<bool> ConditionalPut(absl::string_view key, absl::string_view bytes,
                                      const std::string& condition) {
    for (int attempt = 0;; ++attempt) {
      ASSIGN_OR_RETURN(HttpResponse r, Object("PUT", key, {condition}, bytes, 1 << 16));
      if (IsSuccess(r.status)) return true;
      if (r.status == 412) return false;
      if (r.status == 409 && attempt < kMaxConflictRetries) continue;
      return S3Error(r, What("PUT", key));
    }
  }

  std::string bucket_url_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<BlobStore>> NewS3Store(S3Target target,
                                                      const StoreOptions& options) {
  CurlAuth auth;
  if (!target.access_key_id.empty()) {
    auth.userpwd = absl::StrCat(target.access_key_id, ":", target.secret_access_key);
    auth.aws_sigv4 = absl::StrCat("aws:amz:", target.region, ":s3");
  }
  return NewCurlStore<S3Store>(std::move(target), options, std::move(auth));
}

}  // namespace typecache
