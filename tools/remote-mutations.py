#!/usr/bin/python3
"""Shows that each remote-store test guards something: applies one breakage at a time to
src/store/remote (a wrong status mapping, no NX, no timeout, ...), runs the test that should
catch it, prints FAILED (good) or PASSED (not caught), and restores the file with git checkout.

    tools/remote-mutations.py [NAME-SUBSTRING ...]

Run it on a clean work tree only (it restores files from git) and edit nothing meanwhile.
"""
import subprocess, sys, os
os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
R = "src/store/remote/"
M = [
 ("redis SET without NX", R+"redis_store.cc", '{"SET", name, bytes, "NX"}', '{"SET", name, bytes}', "conformance_test", "*PutIfAbsent*redis*"),
 ("webdav MOVE without Overwrite: F", R+"http_store.cc", '"Overwrite: F"}', '"Overwrite: T"}', "conformance_test", "*PutIfAbsent*webdav"),
 ("HTTP 5xx -> Unknown", R+"curl_session.cc", 'if (status == 408 || status == 429 || status >= 500) return absl::UnavailableError(message);', '', "http_store_test", "*StatusesAreClassified*"),
 ("HTTP Get 404 is an error", R+"http_store.cc", 'if (r.status == 404 || r.status == 410) return std::optional<std::string>();\n    if (r.status != 200) return HttpStatusError(r.status, What("GET", key), r.body);', 'if (r.status != 200) return HttpStatusError(r.status, What("GET", key), r.body);', "conformance_test", "*MissingKey*webdav"),
 ("Redis READONLY not mapped", R+"redis_store.cc", '|| starts("READONLY") ||', '||', "redis_store_test", "*ReadOnly*"),
 ("Redis OOM not mapped", R+"redis_store.cc", 'if (starts("OOM")) return absl::ResourceExhaustedError(message);', '', "redis_store_test", "*OutOfMemory*"),
 ("Redis CAS ignores expected", R+"redis_store.cc", "(ARGV[1] == '1' and v == ARGV[2])", "(ARGV[1] == '1')", "conformance_test", "*CompareAndSwap*redis"),
 ("S3 List ignores continuation", R+"s3_store.cc", 'if (truncated.empty() || truncated[0] != "true") break;', 'break;', "conformance_test", "*List*s3"),
 ("S3 query not in canonical order", R+"s3_store.cc", 'absl::StrAppend(&query, "list-type=2&max-keys=", std::max(1, options_.list_page_size),\n                      "&prefix=", UriEscape(full_prefix));', 'absl::StrAppend(&query, "prefix=", UriEscape(full_prefix), "&list-type=2&max-keys=", std::max(1, options_.list_page_size));', "s3_store_test", "*Signed*"),
 ("S3 no x-amz-content-sha256", R+"s3_store.cc", 'headers.push_back("x-amz-content-sha256: UNSIGNED-PAYLOAD");', '', "s3_store_test", "*Signed*"),
 ("HTTP no size limit", R+"curl_session.cc", 'if (body.size() + len > sink->limit) {', 'if (false) {', "http_store_test", "*SizeLimitWithoutContentLength*"),
 ("HTTP no connect timeout", R+"curl_session.cc", 'curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, Millis(connect_timeout_));', '', "conformance_test", "*ConnectTimeout*s3"),
 ("Redis no socket timeout", R+"redis_store.cc", 'if (redisSetTimeout(ctx_, request_tv) != REDIS_OK) return IoError("connect");', '', "conformance_test", "*Blackhole*redis"),
 ("curl errors -> Unknown", R+"curl_session.cc", '        return absl::UnavailableError(message);\n    }', '        return absl::UnknownError(message);\n    }', "http_store_test", "*Killed*"),
 ("Redis I/O errors -> Unknown", R+"redis_store.cc", '    return absl::UnavailableError(message);\n  }\n\n  absl::Status Connect()', '    return absl::UnknownError(message);\n  }\n\n  absl::Status Connect()', "redis_store_test", "*Killed*"),
 ("zstd truncation accepted", R+"codec.cc", 'if (last != 0) return absl::DataLossError("zstd: truncated frame");', '', "codec_test", "*Truncated*"),
 ("zstd declared size unchecked", R+"codec.cc", 'if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared > max_bytes) {', 'if (false) {', "codec_test", "*DeclaredSize*"),
 ("S3 NoSuchBucket is a miss", R+"s3_store.cc", 'if (r.status == 404 && !NoSuchBucket(r)) return std::optional<std::string>();', 'if (r.status == 404) return std::optional<std::string>();', "s3_store_test", "*MissingBucket*"),
 ("List shows temp objects", R+"http_store.cc", '|| absl::StrContains(rel, kTmpMarker)) continue;', ') continue;', "http_store_test", "*Leftover*"),
 ("redaction off", R+"blob_store.cc", 'out.replace(colon + 1, at - colon - 1, "***");', '', "blob_store_test", "*"),
]
only = sys.argv[1:]
for name, path, old, new, target, filt in M:
    if only and not any(o in name for o in only):
        continue
    src = open(path).read()
    assert src.count(old) == 1, (name, src.count(old))
    open(path, "w").write(src.replace(old, new))
    try:
        r = subprocess.run(["bazel", "test", "//src/store/remote:" + target,
                            "--test_arg=--gtest_filter=" + filt],
                           capture_output=True, text=True, timeout=900)
        log = open(f"bazel-testlogs/src/store/remote/{target}/test.log", errors="replace").read()
        failed = [l.split("]")[1].strip().split(",")[0] for l in log.splitlines()
                  if l.startswith("[  FAILED  ]") and "listed below" not in l and "," in l or
                  (l.startswith("[  FAILED  ]") and "test" not in l.split("]")[1][:6])]
        failed = sorted(set(f for f in failed if f and not f[0].isdigit()))
        status = "FAILED (good)" if r.returncode != 0 else "PASSED (test did not catch it!)"
        if "Build did NOT complete" in r.stderr + r.stdout:
            status = "BUILD ERROR"
        print(f"{name:36s} -> {target}:{filt}: {status}; {', '.join(failed)[:200]}", flush=True)
    finally:
        subprocess.run(["git", "checkout", "--", path])
