#include "src/store/remote/http_store.h"

#include <algorithm>
#include <cstring>
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
// The collection layout (HttpStore::Detect): key K is the collection "K.tc-k/", its bytes "v".
constexpr char kKeyDir[] = ".tc-k/";
constexpr char kValue[] = "v";
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
    origin_ = target_.base_url.substr(0, slash);
    base_path_ = UriUnescape(target_.base_url.substr(slash));
  }

  absl::StatusOr<std::optional<std::string>> Get(absl::string_view key) override {
    RETURN_IF_ERROR(ValidateKey(key));
    RETURN_IF_ERROR(Detect());
    ASSIGN_OR_RETURN(HttpResponse r,
                     Request("GET", ObjectPath(key), {}, std::nullopt, options_.max_object_bytes));
    if (r.status == 404 || r.status == 410) return std::optional<std::string>();
    if (r.status != 200) return HttpStatusError(r.status, What("GET", key), r.body);
    return std::optional<std::string>(std::move(r.body));
  }

  absl::Status Put(absl::string_view key, absl::string_view bytes) override {
    RETURN_IF_ERROR(ValidateKey(key));
    RETURN_IF_ERROR(CheckSize(key, bytes));
    RETURN_IF_ERROR(Detect());
    ASSIGN_OR_RETURN(HttpResponse r, PutCreatingCollections(ObjectPath(key), bytes, {}));
    if (!IsSuccess(r.status)) return HttpStatusError(r.status, What("PUT", key), r.body);
    return absl::OkStatus();
  }

  absl::StatusOr<bool> PutIfAbsent(absl::string_view key, absl::string_view bytes) override {
    RETURN_IF_ERROR(ValidateKey(key));
    RETURN_IF_ERROR(CheckSize(key, bytes));
    RETURN_IF_ERROR(Detect());
    if (collections_) return CreateByCollectionMove(key, bytes);
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
    RETURN_IF_ERROR(Detect());
    if (collections_) {
      return absl::UnimplementedError(absl::StrCat(
          target_.display, ": compare-and-swap is not atomic on this server (", server_, ")"));
    }
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
    RETURN_IF_ERROR(Detect());
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
          if (rel.size() <= dir.size()) continue;              // the collection itself
          if (absl::StrContains(rel, kTmpMarker)) continue;    // a create in flight or abandoned
          if (collections_ && absl::EndsWith(rel, kKeyDir)) {  // a key, by its name alone
            std::string k = rel.substr(0, rel.size() - strlen(kKeyDir));
            if (absl::StartsWith(k, prefix)) keys.insert(std::move(k));
            if (keys.size() > options_.max_list_keys) {
              return absl::OutOfRangeError(absl::StrFormat(
                  "%s: more than %d keys", What("PROPFIND", start), options_.max_list_keys));
            }
            continue;
          }
          // Descend when a match can be inside.
          if ((absl::StartsWith(rel, prefix) || absl::StartsWith(prefix, rel)) &&
              seen.insert(rel).second) {
            pending.push_back(rel);
          }
          continue;
        }
        if (collections_) continue;  // "v" and strays: keys are collections here
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
    RETURN_IF_ERROR(Detect());
    // The collection layout: the key's collection (it holds only the key's "v").
    std::string path = collections_ ? absl::StrCat(key, kKeyDir) : std::string(key);
    ASSIGN_OR_RETURN(HttpResponse r, Request("DELETE", path, {}, std::nullopt, 1 << 16));
    if (IsSuccess(r.status) || r.status == 404 || r.status == 410) return absl::OkStatus();
    return HttpStatusError(r.status, What("DELETE", key), r.body);
  }

  StoreCapabilities capabilities() const override {
    (void)Detect();  // a failure shows in the next operation
    StoreCapabilities c;
    c.put_if_absent = true;
    c.compare_and_swap = options_.http_conditional_writes && !collections_;
    c.list = true;
    c.etags = true;
    return c;
  }

  std::string description() const override {
    if (collections_) return absl::StrCat(target_.display, " (WebDAV, create by collection MOVE)");
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

  // Which layout the server gets, asked once (OPTIONS) before the first operation.
  //
  // Flat: key K is the object at K; PutIfAbsent is PUT of a temporary name + MOVE with
  // Overwrite: F (or a PUT with If-None-Match: *). That is atomic only where the server
  // checks and renames without yielding: nginx's dav module. Apache httpd's mod_dav_fs checks
  // that the destination is absent and then writes it with nothing held between the two: of 8
  // concurrent creators of one key, 2-8 won (Apache 2.4.71, `ApacheTest.CreatesAreNotAtomic`;
  // conditional PUTs and exclusive LOCKs race the same way).
  //
  // Collections (servers whose Server header says Apache): key K is the collection "K.tc-k/"
  // holding the bytes in "v". PutIfAbsent fills a temporary collection and MOVEs it onto
  // "K.tc-k/" with Overwrite: F. mod_dav_fs renames a collection with rename(2), which cannot
  // replace a directory that is not empty, so of racing MOVEs exactly one wins (the others get
  // 412, or 500 from the failed rename): 60 rounds of 8 here, one winner each. A killed
  // writer leaves only its temporary collection, which List and Get never see. List still
  // needs one PROPFIND per directory level: keys are recognised by their collection's name.
  // Every machine talking to one server picks the same layout; a proxy that hides Apache's
  // Server header would make it pick the flat one.
  absl::Status Detect() const {
    if (detected_) return absl::OkStatus();
    HttpRequest request;
    request.method = "OPTIONS";
    request.url = target_.base_url;
    request.max_response_bytes = 1 << 16;
    ASSIGN_OR_RETURN(HttpResponse r, session_->Perform(request, target_.display));
    server_ = r.server;
    collections_ = absl::StartsWith(server_, "Apache");
    detected_ = true;
    return absl::OkStatus();
  }

  std::string ObjectPath(absl::string_view key) const {
    return collections_ ? absl::StrCat(key, kKeyDir, kValue) : std::string(key);
  }

  // PutIfAbsent in the collection layout (Detect).
  absl::StatusOr<bool> CreateByCollectionMove(absl::string_view key, absl::string_view bytes) {
    std::string tmp = absl::StrCat(key, kTmpMarker, RandomHex(), "/");
    ASSIGN_OR_RETURN(HttpResponse made, Request("MKCOL", tmp, {}, std::nullopt, 1 << 16));
    if (made.status == 409) RETURN_IF_ERROR(MakeCollections(tmp));  // missing parents
    std::string value = absl::StrCat(tmp, kValue);
    absl::StatusOr<HttpResponse> put = Request("PUT", value, {}, bytes, 1 << 16);
    absl::StatusOr<HttpResponse> move = put;
    if (put.ok() && IsSuccess(put->status)) {
      move =
          Request("MOVE", tmp,
                  {absl::StrCat("Destination: ", target_.base_url, key, kKeyDir), "Overwrite: F"},
                  std::nullopt, 1 << 16);
      if (move.ok() && IsSuccess(move->status)) return true;
    }
    // Not moved: remove the temporary collection (best effort; List never shows it anyway).
    (void)Request("DELETE", tmp, {}, std::nullopt, 1 << 16);
    if (!put.ok()) return put.status();
    if (!IsSuccess(put->status)) return HttpStatusError(put->status, What("PUT", value), put->body);
    if (!move.ok()) return move.status();
    if (move->status == 412) return false;
    // A rename onto the collection another writer has just made fails in the server (500):
    // lost, if the key is there now.
    ASSIGN_OR_RETURN(HttpResponse there,
                     Request("GET", ObjectPath(key), {}, std::nullopt, options_.max_object_bytes));
    if (there.status == 200) return false;
    return HttpStatusError(move->status, What("MOVE", tmp), move->body);
  }

  // PUT; on 409 (a missing parent collection: Apache, RFC 4918) or 500 (nginx without
  // create_full_put_path answers 500 to ENOENT) MKCOL each ancestor and PUT once more.
  absl::StatusOr<HttpResponse> PutCreatingCollections(absl::string_view key,
                                                      absl::string_view bytes,
                                                      const std::vector<std::string>& headers) {
    ASSIGN_OR_RETURN(HttpResponse r, Request("PUT", key, headers, bytes, 1 << 16));
    if (r.status != 409 && r.status != 500) return r;
    if (key.find('/') == absl::string_view::npos && r.status != 409) return r;
    RETURN_IF_ERROR(MakeCollections(key));
    return Request("PUT", key, headers, bytes, 1 << 16);
  }

  // MKCOL each ancestor collection of `key` below the base URL. When the first one answers
  // 409 (or `key` has none and its PUT did) the base collection itself is missing (Apache
  // answers so, RFC 4918; nginx's create_full_put_path would have made it): the base's path is
  // made from the server's root first, then the ancestors again. Other answers are not
  // errors here (405: it exists; a 403 or 409 from a racing creator of the same collection):
  // the PUT that follows tells.
  absl::Status MakeCollections(absl::string_view key) {
    size_t first = key.find('/');
    if (first == absl::string_view::npos) return MakeBase();
    bool base_made = false;
    size_t slash = 0;
    while ((slash = key.find('/', slash)) != absl::string_view::npos) {
      ++slash;
      ASSIGN_OR_RETURN(HttpResponse m,
                       Request("MKCOL", key.substr(0, slash), {}, std::nullopt, 1 << 16));
      if (m.status == 409 && slash == first + 1 && !base_made) {
        RETURN_IF_ERROR(MakeBase());
        base_made = true;
        slash = 0;
      }
    }
    return absl::OkStatus();
  }

  // MKCOL each collection of the base URL's path below the root ("/a/", "/a/b/" for
  // http://h/a/b/), in order; those that exist answer 405.
  absl::Status MakeBase() {
    absl::string_view path = absl::string_view(target_.base_url).substr(origin_.size());
    for (size_t slash = path.find('/', 1); slash != absl::string_view::npos;
         slash = path.find('/', slash + 1)) {
      HttpRequest request;
      request.method = "MKCOL";
      request.url = absl::StrCat(origin_, path.substr(0, slash + 1));
      request.max_response_bytes = 1 << 16;
      RETURN_IF_ERROR(session_->Perform(request, RedactUrl(request.url)).status());
    }
    return absl::OkStatus();
  }

  // Learned once, by Detect (logically const: what the server is does not change).
  mutable bool detected_ = false;
  mutable bool collections_ = false;  // the collection layout
  mutable std::string server_;        // the server's Server header
  std::string origin_;                // "http://host:port" of the base URL
  std::string base_path_;             // its path, unescaped: "/dav/cache/"
};

}  // namespace

absl::StatusOr<std::unique_ptr<BlobStore>> NewHttpStore(HttpTarget target,
                                                        const StoreOptions& options) {
  CurlAuth auth;
  auth.userpwd = target.userpwd;
  return NewCurlStore<HttpStore>(std::move(target), options, std::move(auth));
}

}  // namespace typecache
