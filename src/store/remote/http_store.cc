#include "src/store/remote/http_store.h"

#include <algorithm>
#include <deque>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "src/base/status_macros.h"
#include "src/store/remote/curl_session.h"

namespace typecache {
namespace {

constexpr char kTmpMarker[] = ".tc-tmp-";
constexpr int kMaxListRequests = 100000;

constexpr char kPropfindBody[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<D:propfind xmlns:D=\"DAV:\"><D:prop><D:resourcetype/></D:prop></D:propfind>\n";

bool IsSuccess(long status) { return status >= 200 && status < 300; }

// The local name of an XML tag's text between '<' and '>': "/D:href" -> "/href".
std::string LocalName(absl::string_view tag) {
  bool closing = absl::ConsumePrefix(&tag, "/");
  size_t end = tag.find_first_of(" \t\r\n/");
  tag = tag.substr(0, end);
  size_t colon = tag.find(':');
  if (colon != absl::string_view::npos) tag = tag.substr(colon + 1);
  return absl::StrCat(closing ? "/" : "", absl::AsciiStrToLower(tag));
}

struct DavEntry {
  std::string path;  // %-decoded absolute path
  bool collection = false;
};

// The <response> entries of a PROPFIND multistatus body.
absl::StatusOr<std::vector<DavEntry>> ParseMultistatus(absl::string_view xml) {
  std::vector<DavEntry> entries;
  bool in_response = false, in_href = false;
  DavEntry current;
  std::string href;
  size_t pos = 0;
  while (pos < xml.size()) {
    size_t lt = xml.find('<', pos);
    if (lt == absl::string_view::npos) break;
    if (in_href) href.append(xml.data() + pos, lt - pos);
    size_t gt = xml.find('>', lt);
    if (gt == absl::string_view::npos) return absl::DataLossError("PROPFIND: truncated XML");
    absl::string_view tag = xml.substr(lt + 1, gt - lt - 1);
    pos = gt + 1;
    if (tag.empty() || tag[0] == '?' || tag[0] == '!') continue;
    bool self_closing = absl::EndsWith(tag, "/");
    std::string name = LocalName(tag);
    if (name == "response") {
      in_response = true;
      current = DavEntry();
    } else if (name == "/response" && in_response) {
      in_response = false;
      entries.push_back(current);
    } else if (name == "href" && in_response && !self_closing) {
      in_href = true;
      href.clear();
    } else if (name == "/href" && in_href) {
      in_href = false;
      std::string decoded = UriUnescape(XmlUnescape(absl::StripAsciiWhitespace(href)));
      // An absolute URL: keep its path.
      size_t scheme = decoded.find("://");
      if (scheme != std::string::npos) {
        size_t slash = decoded.find('/', scheme + 3);
        decoded = slash == std::string::npos ? "/" : decoded.substr(slash);
      }
      current.path = decoded;
    } else if (name == "collection" && in_response) {
      current.collection = true;
    }
  }
  return entries;
}

std::string RandomHex() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrFormat("%016x", rng());
}

class HttpStore : public CurlStore<HttpTarget> {
 public:
  HttpStore(HttpTarget target, const StoreOptions& options, std::unique_ptr<CurlSession> session)
      : CurlStore(std::move(target), options, std::move(session)) {
    // The base URL's path, for matching PROPFIND hrefs.
    size_t scheme = target_.base_url.find("://");
    size_t slash = target_.base_url.find('/', scheme + 3);
    base_path_ = UriUnescape(target_.base_url.substr(slash));
  }

  absl::StatusOr<std::optional<std::string>> Get(absl::string_view key) override {
    RETURN_IF_ERROR(ValidateKey(key));
    ASSIGN_OR_RETURN(HttpResponse r,
                     Request("GET", key, {}, std::nullopt, options_.max_object_bytes));
    if (r.status == 404 || r.status == 410) return std::optional<std::string>();
    if (r.status != 200) return HttpStatusError(r.status, What("GET", key), r.body);
    return std::optional<std::string>(std::move(r.body));
  }

  absl::Status Put(absl::string_view key, absl::string_view bytes) override {
    RETURN_IF_ERROR(ValidateKey(key));
    RETURN_IF_ERROR(CheckSize(key, bytes));
    ASSIGN_OR_RETURN(HttpResponse r, PutCreatingCollections(key, bytes, {}));
    if (!IsSuccess(r.status)) return HttpStatusError(r.status, What("PUT", key), r.body);
    return absl::OkStatus();
  }

  absl::StatusOr<bool> PutIfAbsent(absl::string_view key, absl::string_view bytes) override {
    RETURN_IF_ERROR(ValidateKey(key));
    RETURN_IF_ERROR(CheckSize(key, bytes));
    if (options_.http_conditional_writes) {
      ASSIGN_OR_RETURN(HttpResponse r, PutCreatingCollections(key, bytes, {"If-None-Match: *"}));
      if (r.status == 412) return false;
      if (!IsSuccess(r.status)) return HttpStatusError(r.status, What("PUT", key), r.body);
      return true;
    }
    std::string tmp = absl::StrCat(key, kTmpMarker, RandomHex());
    ASSIGN_OR_RETURN(HttpResponse put, PutCreatingCollections(tmp, bytes, {}));
    if (!IsSuccess(put.status)) return HttpStatusError(put.status, What("PUT", tmp), put.body);
    absl::StatusOr<HttpResponse> move =
        Request("MOVE", tmp, {absl::StrCat("Destination: ", target_.base_url, key), "Overwrite: F"},
                std::nullopt, 1 << 16);
    if (move.ok() && IsSuccess(move->status)) return true;
    // Not moved: remove the temporary object (best effort; List never shows it anyway).
    (void)Request("DELETE", tmp, {}, std::nullopt, 1 << 16);
    if (!move.ok()) return move.status();
    if (move->status == 412) return false;
    return HttpStatusError(move->status, What("MOVE", tmp), move->body);
  }

  absl::StatusOr<bool> CompareAndSwap(absl::string_view key,
                                      std::optional<absl::string_view> expected,
                                      absl::string_view replacement) override {
    RETURN_IF_ERROR(ValidateKey(key));
    RETURN_IF_ERROR(CheckSize(key, replacement));
    if (!options_.http_conditional_writes) {
      return absl::UnimplementedError(
          absl::StrCat(target_.display,
                       ": compare-and-swap needs a server that honours If-Match on PUT "
                       "(http_conditional_writes)"));
    }
    std::vector<std::string> condition;
    if (expected) {
      ASSIGN_OR_RETURN(HttpResponse r,
                       Request("GET", key, {}, std::nullopt, options_.max_object_bytes));
      if (r.status == 404 || r.status == 410) return false;
      if (r.status != 200) return HttpStatusError(r.status, What("GET", key), r.body);
      if (r.body != *expected) return false;
      if (r.etag.empty() || absl::StartsWith(r.etag, "W/")) {
        return absl::UnimplementedError(
            absl::StrCat(What("GET", key), ": no strong ETag, cannot compare-and-swap"));
      }
      condition.push_back(absl::StrCat("If-Match: ", r.etag));
    } else {
      condition.push_back("If-None-Match: *");
    }
    ASSIGN_OR_RETURN(HttpResponse r, PutCreatingCollections(key, replacement, condition));
    if (r.status == 412) return false;
    if (!IsSuccess(r.status)) return HttpStatusError(r.status, What("PUT", key), r.body);
    return true;
  }

  absl::StatusOr<std::vector<std::string>> List(absl::string_view prefix) override {
    RETURN_IF_ERROR(ValidatePrefix(prefix));
    // The deepest collection that holds every match: up to the prefix's last '/'.
    size_t cut = prefix.rfind('/');
    std::string start =
        cut == absl::string_view::npos ? "" : std::string(prefix.substr(0, cut + 1));
    std::set<std::string> keys;
    std::deque<std::string> pending = {start};  // collections relative to the base, "" or "a/"
    std::set<std::string> seen = {start};
    for (int requests = 0; !pending.empty(); ++requests) {
      if (requests == kMaxListRequests) {
        return absl::DeadlineExceededError(
            absl::StrCat(What("PROPFIND", start), ": too many collections"));
      }
      std::string dir = pending.front();
      pending.pop_front();
      ASSIGN_OR_RETURN(
          HttpResponse r,
          Request("PROPFIND", dir, {"Depth: 1", "Content-Type: application/xml; charset=utf-8"},
                  absl::string_view(kPropfindBody), size_t{64} << 20));
      if (r.status == 404) continue;
      if (r.status != 207) return HttpStatusError(r.status, What("PROPFIND", dir), r.body);
      ASSIGN_OR_RETURN(std::vector<DavEntry> entries, ParseMultistatus(r.body));
      for (DavEntry& e : entries) {
        if (!absl::StartsWith(e.path, base_path_)) continue;
        std::string rel = e.path.substr(base_path_.size());
        if (e.collection) {
          if (!rel.empty() && rel.back() != '/') rel.push_back('/');
          if (rel.size() <= dir.size()) continue;  // the collection itself
          // Descend when a match can be inside.
          if ((absl::StartsWith(rel, prefix) || absl::StartsWith(prefix, rel)) &&
              seen.insert(rel).second) {
            pending.push_back(rel);
          }
          continue;
        }
        if (!absl::StartsWith(rel, prefix) || absl::StrContains(rel, kTmpMarker)) continue;
        keys.insert(rel);
        if (keys.size() > options_.max_list_keys) {
          return absl::OutOfRangeError(absl::StrFormat(
              "%s: more than %d keys", What("PROPFIND", start), options_.max_list_keys));
        }
      }
    }
    return std::vector<std::string>(keys.begin(), keys.end());
  }

  absl::Status Delete(absl::string_view key) override {
    RETURN_IF_ERROR(ValidateKey(key));
    ASSIGN_OR_RETURN(HttpResponse r, Request("DELETE", key, {}, std::nullopt, 1 << 16));
    if (IsSuccess(r.status) || r.status == 404 || r.status == 410) return absl::OkStatus();
    return HttpStatusError(r.status, What("DELETE", key), r.body);
  }

  StoreCapabilities capabilities() const override {
    StoreCapabilities c;
    c.put_if_absent = true;
    c.compare_and_swap = options_.http_conditional_writes;
    c.list = true;
    c.etags = true;
    return c;
  }

  std::string description() const override {
    return absl::StrCat(target_.display, options_.http_conditional_writes
                                             ? " (WebDAV, conditional PUT)"
                                             : " (WebDAV, create by MOVE)");
  }

 private:
  std::string What(absl::string_view method, absl::string_view key) const {
    return absl::StrCat(method, " ", target_.display, key);
  }

  absl::Status CheckSize(absl::string_view key, absl::string_view bytes) const {
    return CheckObjectSize(What("PUT", key), bytes, options_.max_object_bytes);
  }

  absl::StatusOr<HttpResponse> Request(absl::string_view method, absl::string_view path,
                                       std::vector<std::string> headers,
                                       std::optional<absl::string_view> body, size_t max_bytes) {
    HttpRequest request;
    request.method = std::string(method);
    request.url = absl::StrCat(target_.base_url, path);
    request.headers = std::move(headers);
    request.body = body;
    request.max_response_bytes = max_bytes;
    return session_->Perform(request, absl::StrCat(target_.display, path));
  }

  // PUT; on 409 (a missing parent collection: Apache, RFC 4918) or 500 (nginx without
  // create_full_put_path answers 500 to ENOENT) MKCOL each ancestor and PUT once more.
  absl::StatusOr<HttpResponse> PutCreatingCollections(absl::string_view key,
                                                      absl::string_view bytes,
                                                      const std::vector<std::string>& headers) {
    ASSIGN_OR_RETURN(HttpResponse r, Request("PUT", key, headers, bytes, 1 << 16));
    if ((r.status != 409 && r.status != 500) || key.find('/') == absl::string_view::npos) {
      return r;
    }
    size_t slash = 0;
    while ((slash = key.find('/', slash)) != absl::string_view::npos) {
      ++slash;
      ASSIGN_OR_RETURN(HttpResponse m,
                       Request("MKCOL", key.substr(0, slash), {}, std::nullopt, 1 << 16));
      // 405: exists already. Anything else: the PUT's own answer is the better message.
      if (!IsSuccess(m.status) && m.status != 405) return r;
    }
    return Request("PUT", key, headers, bytes, 1 << 16);
  }

  std::string base_path_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<BlobStore>> NewHttpStore(HttpTarget target,
                                                        const StoreOptions& options) {
  CurlAuth auth;
  auth.userpwd = target.userpwd;
  return NewCurlStore<HttpStore>(std::move(target), options, std::move(auth));
}

}  // namespace typecache
