#include "src/store/remote/codec.h"

#include <sys/mman.h>
#include <zstd.h>

#include <algorithm>
#include <memory>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/base/status_macros.h"

namespace typecache {
namespace {

struct DCtxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

}  // namespace

absl::StatusOr<std::string> ZstdCompress(absl::string_view data, int level) {
  if (level < 1 || level > ZSTD_maxCLevel()) {
    return absl::InvalidArgumentError(absl::StrCat("zstd level ", level, " out of range"));
  }
  std::string out(ZSTD_compressBound(data.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), level);
  if (ZSTD_isError(n)) {
    return absl::InternalError(absl::StrCat("zstd compress: ", ZSTD_getErrorName(n)));
  }
  out.resize(n);
  return out;
}

absl::StatusOr<std::string> ZstdDecompress(absl::string_view frames, size_t max_bytes) {
  if (frames.empty()) return absl::DataLossError("zstd: empty input, not a frame");
  unsigned long long declared = ZSTD_getFrameContentSize(frames.data(), frames.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR) {
    return absl::DataLossError("zstd: not a zstd frame (bad magic or header)");
  }
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared > max_bytes) {
    return absl::OutOfRangeError(absl::StrFormat(
        "zstd: frame declares %d bytes, over the limit of %d", declared, max_bytes));
  }
  // One context per thread, reused: creating one per frame (a pull decompresses one per group)
  // allocated and faulted in its buffers every time.
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxDeleter> dctx(ZSTD_createDCtx());
  if (!dctx) return absl::ResourceExhaustedError("zstd: cannot allocate a context");
  ZSTD_DCtx_reset(dctx.get(), ZSTD_reset_session_only);
  std::string out;
  // Grow in steps; never past max_bytes + one step.
  const size_t step = ZSTD_DStreamOutSize();
  // Room for the declared content plus the one step of slack the loop below resizes into, so
  // that a frame of declared size is never copied by a reallocation (a pack is megabytes).
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN) out.reserve(static_cast<size_t>(declared) + step);
  ZSTD_inBuffer in{frames.data(), frames.size(), 0};
  size_t last = 0;
  // One call of the decoder into one more step of `out`; the bytes it wrote.
  auto decode_step = [&]() -> absl::StatusOr<size_t> {
    size_t old = out.size();
    out.resize(old + step);
    ZSTD_outBuffer ob{out.data() + old, step, 0};
    last = ZSTD_decompressStream(dctx.get(), &ob, &in);
    out.resize(old + ob.pos);
    if (ZSTD_isError(last)) {
      return absl::DataLossError(absl::StrCat("zstd: corrupt data: ", ZSTD_getErrorName(last)));
    }
    if (out.size() > max_bytes) {
      return absl::OutOfRangeError(
          absl::StrFormat("zstd: content exceeds the limit of %d bytes", max_bytes));
    }
    return ob.pos;
  };
  while (in.pos < in.size) {
    ASSIGN_OR_RETURN(size_t wrote, decode_step());
    if (wrote == 0 && in.pos == in.size) break;
  }
  // Flush whatever is still buffered for the output.
  for (int guard = 0; last != 0 && guard < 1 << 20; ++guard) {
    ASSIGN_OR_RETURN(size_t wrote, decode_step());
    if (wrote == 0) break;  // no progress: the input ends inside a frame
  }
  if (last != 0) return absl::DataLossError("zstd: truncated frame");
  return out;
}

namespace {
// Frames at least this large go to their own mapping (smaller ones: malloc is cheaper).
constexpr size_t kMapAtLeast = size_t{4} << 20;
constexpr size_t kHugePage = size_t{2} << 20;
}  // namespace

ByteBuffer::ByteBuffer(std::string bytes) : string_(std::move(bytes)) {}
ByteBuffer::ByteBuffer(ByteBuffer&& other) noexcept { *this = std::move(other); }
ByteBuffer& ByteBuffer::operator=(ByteBuffer&& other) noexcept {
  if (this != &other) {
    Release();
    string_ = std::move(other.string_);
    mapped_ = other.mapped_;
    mapped_size_ = other.mapped_size_;
    size_ = other.size_;
    other.mapped_ = nullptr;
    other.mapped_size_ = other.size_ = 0;
  }
  return *this;
}
ByteBuffer::~ByteBuffer() { Release(); }
void ByteBuffer::Release() {
  if (mapped_ != nullptr) ::munmap(mapped_, mapped_size_);
  mapped_ = nullptr;
  mapped_size_ = size_ = 0;
}
absl::string_view ByteBuffer::view() const {
  return mapped_ != nullptr ? absl::string_view(mapped_, size_) : absl::string_view(string_);
}

absl::StatusOr<ByteBuffer> ZstdDecompressToBuffer(absl::string_view frames, size_t max_bytes) {
  unsigned long long declared = frames.empty()
                                    ? ZSTD_CONTENTSIZE_ERROR
                                    : ZSTD_getFrameContentSize(frames.data(), frames.size());
  if (declared != ZSTD_CONTENTSIZE_ERROR && declared != ZSTD_CONTENTSIZE_UNKNOWN &&
      declared <= max_bytes && declared >= kMapAtLeast) {
    size_t size = static_cast<size_t>(declared);
    size_t length = (size + kHugePage - 1) / kHugePage * kHugePage;
    void* p = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
      (void)::madvise(p, length, MADV_HUGEPAGE);  // a hint: without it, ordinary pages
      ByteBuffer out;
      out.mapped_ = static_cast<char*>(p);
      out.mapped_size_ = length;
      thread_local std::unique_ptr<ZSTD_DCtx, DCtxDeleter> dctx(ZSTD_createDCtx());
      size_t n =
          dctx ? ZSTD_decompressDCtx(dctx.get(), p, size, frames.data(), frames.size()) : size + 1;
      if (!ZSTD_isError(n) && n == size) {
        out.size_ = size;
        return out;
      }
      // Corrupt, truncated, or more frames than the first declares: the general path decides,
      // with its errors.
    }
  }
  ASSIGN_OR_RETURN(std::string bytes, ZstdDecompress(frames, max_bytes));
  return ByteBuffer(std::move(bytes));
}

std::string Xxh3Hex(absl::string_view data) {
  XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
  return absl::StrFormat("%016x%016x", h.high64, h.low64);
}

Xxh3Stream::Xxh3Stream() : state_(XXH3_createState()) {
  XXH3_128bits_reset(static_cast<XXH3_state_t*>(state_));
}
Xxh3Stream::~Xxh3Stream() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }
void Xxh3Stream::Update(absl::string_view bytes) {
  XXH3_128bits_update(static_cast<XXH3_state_t*>(state_), bytes.data(), bytes.size());
}
std::string Xxh3Stream::Hex() const {
  XXH128_hash_t h = XXH3_128bits_digest(static_cast<const XXH3_state_t*>(state_));
  return absl::StrFormat("%016x%016x", h.high64, h.low64);
}

absl::Status CheckXxh3(absl::string_view data, absl::string_view expected_hex,
                       absl::string_view what) {
  std::string actual = Xxh3Hex(data);
  if (absl::AsciiStrToLower(expected_hex) != actual) {
    return absl::DataLossError(absl::StrCat(what, ": XXH3-128 is ", actual, ", expected ",
                                            expected_hex, " (corrupt or wrong object)"));
  }
  return absl::OkStatus();
}

}  // namespace typecache
